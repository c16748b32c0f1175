/* report_html.h - the report as one self-contained HTML page.
 *
 * Everything is inline and written here: SVG charts drawn at write time (the
 * page reads without JavaScript), a little CSS, and a little JavaScript that
 * only adds interaction (hovering a segment highlights it in every chart and
 * the table) and marks the page ready. No fonts, images, scripts or styles
 * are fetched: the page makes no network request at all.
 *
 * Every string from data (labels, texts, ids of topics and files) goes
 * through segstream_html_escape(); numbers are printed by us. Data never
 * appears inside <script> or <style>, so no JavaScript or CSS escaping is
 * needed. Threads: any; no shared state. */
#ifndef SEGSTREAM_CONSUMER_REPORT_HTML_H
#define SEGSTREAM_CONSUMER_REPORT_HTML_H

#include "common/err.h"
#include "consumer/report.h"

#include <stdio.h>

typedef struct segstream_report_html_options {
    const char *title;  /* page title; NULL = "segstream segment report" */
    const char *source; /* where the data came from, shown under the title; NULL = nothing */
} segstream_report_html_options;

/* Writes the page of a finished report to out. Returns 0, or -1 with err on
 * a write error. */
int segstream_report_write_html(const segstream_report *r, const segstream_report_html_options *opts, FILE *out,
                                segstream_err *err);

/* Writes s as HTML text, safe inside elements and quoted attributes: & < >
 * " ' become entities, invalid UTF-8 becomes U+FFFD, control characters
 * other than tab and newline are dropped. NULL writes nothing. */
void segstream_html_escape(FILE *out, const char *s);

#endif

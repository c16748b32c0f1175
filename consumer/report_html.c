/* report_html.c - the report page: header, map, size history, change rates,
 * segment table; see report_html.h. Charts are SVG with fixed view boxes
 * that scale with the page width; colours come from the segment id (golden
 * angle hues), so a segment has the same colour in every chart. */
#include "consumer/report_html.h"
#include "consumer/codec_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void segstream_html_escape(FILE *out, const char *s)
{
    if (!s)
        return;
    char *ok = segstream_utf8_repair(s, strlen(s), NULL);
    const char *p = ok ? ok : "";
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        switch (c) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default:
            if (c >= 0x20 || c == '\t' || c == '\n')
                fputc(c, out);
            else if (c == '\r')
                fputc(' ', out);
        }
    }
    free(ok);
}

static const char *const cause_names[4] = {"INTEREST_CHANGED", "MODEL_UPDATED", "EXPIRED", "DELETED"};
static const char *const cause_colours[4] = {"#2b6cb0", "#dd8a1e", "#8a8f98", "#c53030"};

static void seg_colour(char buf[32], int64_t id)
{
    double hue = fmod((double)(id < 0 ? -id : id) * 137.508, 360.0);
    snprintf(buf, 32, "hsl(%.0f,62%%,%d%%)", hue, id % 2 ? 42 : 50);
}

static void date_str(char buf[32], int64_t ms, int with_time)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, 32, "%lld ms", (long long)ms);
        return;
    }
    strftime(buf, 32, with_time ? "%Y-%m-%d %H:%M" : "%Y-%m-%d", &tm);
}

static void duration_str(char buf[32], int64_t ms)
{
    static const struct { int64_t ms; const char *unit; } units[] = {
        {31536000000LL, "365 days"}, {86400000LL, "day"}, {3600000LL, "hour"}, {60000LL, "minute"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms >= units[i].ms && ms % units[i].ms == 0) {
            int64_t n = ms / units[i].ms;
            if (n == 1)
                snprintf(buf, 32, "%s", units[i].unit);
            else
                snprintf(buf, 32, "%lld %ss", (long long)n, units[i].unit);
            return;
        }
    snprintf(buf, 32, "%lld ms", (long long)ms);
}

/* The first `n` label terms joined with ", ". */
static void write_label(FILE *out, const segstream_report_segment *s, size_t n)
{
    if (!s->label_count) {
        fputs("(no label yet)", out);
        return;
    }
    for (size_t i = 0; i < s->label_count && i < n; i++) {
        if (i)
            fputs(", ", out);
        segstream_html_escape(out, s->label[i]);
    }
}

static const char page_css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;color:#1a202c;"
    "background:#f7f8fa}"
    "header,section{max-width:1100px;margin:0 auto;padding:12px 24px}"
    "h1{font-size:22px;margin:12px 0 4px}h2{font-size:17px;margin:18px 0 6px}"
    ".meta,.note{color:#4a5568;margin:2px 0}"
    "svg{background:#fff;border:1px solid #e2e8f0;border-radius:6px;width:100%;height:auto}"
    "svg text{font-size:11px;fill:#2d3748}"
    ".axis line,.axis path{stroke:#a0aec0}.grid line{stroke:#edf2f7}"
    ".map-seg circle{fill-opacity:.55;stroke-width:1.5}"
    ".map-seg text{font-size:12px}"
    ".size-line{fill:none;stroke-width:1.2;stroke-opacity:.8}.size-line.now{stroke-width:2.4;stroke-opacity:1}"
    ".past{opacity:.3}"
    ".hl circle{fill-opacity:.9;stroke:#000 !important}.size-line.hl{stroke-width:4;stroke-opacity:1}"
    "tr.hl td{background:#fefcbf}"
    ".legend span{display:inline-block;margin-right:16px}"
    ".swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:4px;vertical-align:-1px}"
    "table{border-collapse:collapse;width:100%;background:#fff}"
    "th,td{border-bottom:1px solid #e2e8f0;padding:5px 8px;text-align:left;vertical-align:top}"
    "th{background:#edf2f7}td.num{text-align:right;white-space:nowrap}"
    "td ul{margin:0;padding-left:16px}.kw{font-weight:600}";

/* Interaction only: the charts are complete without it. */
static const char page_js[] =
    "(function(){"
    "function mark(id,on){document.querySelectorAll('[data-segment=\"'+id+'\"]').forEach(function(e){"
    "e.classList.toggle('hl',on);});}"
    "document.querySelectorAll('[data-segment]').forEach(function(e){var id=e.getAttribute('data-segment');"
    "e.addEventListener('mouseenter',function(){mark(id,true);});"
    "e.addEventListener('mouseleave',function(){mark(id,false);});"
    "e.addEventListener('click',function(){var row=document.getElementById('seg-'+id);"
    "if(row&&e!==row)row.scrollIntoView({block:'center'});});});"
    "var n=document.querySelectorAll('#map .map-seg').length;"
    "var s=document.getElementById('status');if(s)s.textContent=n+' active segments on the map; hover one to find it "
    "in every chart.';"
    "document.documentElement.setAttribute('data-ready','1');"
    "})();";

typedef struct box {
    double x0, y0, x1, y1;
    int anchor_end; /* text drawn leftwards from x1 */
} box;

/* Rough width of "id: a, b, c" at 12 px (no font metrics without a browser). */
static double label_width(const segstream_report_segment *s, size_t terms)
{
    size_t chars = 8;
    for (size_t i = 0; i < s->label_count && i < terms; i++)
        for (const unsigned char *p = (const unsigned char *)s->label[i]; *p; p++)
            chars += (*p & 0xC0) != 0x80; /* code points, not bytes */
    chars += terms * 2;
    return 6.6 * (double)chars;
}

static int overlaps(const box *a, const box *b)
{
    return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1;
}

/* Right of the circle, else left, nudged up and down until it overlaps no
 * label already placed (greedy, largest segments first). */
static box place_label(const box *placed, size_t nplaced, double cx, double cy, double rad, double width)
{
    static const double nudges[] = {0, 14, -14, 28, -28, 42, -42, 56, -56};
    box first = {0};
    for (int side = 0; side < 2; side++)
        for (size_t k = 0; k < sizeof nudges / sizeof nudges[0]; k++) {
            box b = {.y0 = cy - 9 + nudges[k], .y1 = cy + 7 + nudges[k], .anchor_end = side};
            b.x0 = side ? cx - rad - 4 - width : cx + rad + 4;
            b.x1 = b.x0 + width;
            if (side == 0 && k == 0)
                first = b;
            size_t i = 0;
            while (i < nplaced && !overlaps(&b, &placed[i]))
                i++;
            if (i == nplaced)
                return b;
        }
    return first;
}

enum { MAP_W = 1000, MAP_H = 560, MAP_PAD = 50, MAP_LABEL_ROOM = 170, MAP_RMAX = 42 };

static void write_map(FILE *out, const segstream_report *r)
{
    size_t n;
    const segstream_report_segment *segs = segstream_report_segments(r, &n);
    const segstream_report_totals *t = segstream_report_get_totals(r);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY, smax = 0;
    size_t shown = 0;
    for (size_t i = 0; i < n; i++)
        if (segs[i].on_map) {
            const segstream_report_segment *s = &segs[i];
            xlo = fmin(xlo, s->map_x), xhi = fmax(xhi, s->map_x);
            ylo = fmin(ylo, s->map_y), yhi = fmax(yhi, s->map_y);
            smax = fmax(smax, s->size);
            shown++;
        }
    fputs("<section id=\"map\"><h2>Active segments</h2>\n", out);
    if (!shown) {
        fputs("<p class=\"note\">No active segment with a centroid in the catalog.</p></section>\n", out);
        return;
    }
    double share1 = t->total_variance > 0 ? 100 * t->map_variance[0] / t->total_variance : 0;
    double share2 = t->total_variance > 0 ? 100 * t->map_variance[1] / t->total_variance : 0;
    fprintf(out,
            "<p class=\"note\">Centroids projected on their first two principal components (%.0f%% and %.0f%% of "
            "their variance), equal scales; circle area proportional to decayed size; text: the label's first "
            "three keywords.</p>\n",
            share1, share2);
    /* One scale for both axes: distances on the page are distances in the plane. */
    double w = MAP_W - 2 * MAP_PAD - MAP_LABEL_ROOM, h = MAP_H - 2 * MAP_PAD;
    double dx = xhi - xlo, dy = yhi - ylo;
    double scale = fmin(dx > 0 ? w / dx : INFINITY, dy > 0 ? h / dy : INFINITY);
    if (!isfinite(scale))
        scale = 1;
    double ox = MAP_PAD + (w - dx * scale) / 2, oy = MAP_PAD + (h - dy * scale) / 2;
    fprintf(out, "<svg id=\"map-svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"segment map\">\n", MAP_W, MAP_H);
    fprintf(out,
            "<g class=\"axis\"><text x=\"%d\" y=\"%d\">PC 1 &#8594;</text>"
            "<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\">PC 2 &#8594;</text></g>\n",
            MAP_W / 2 - 30, MAP_H - 10, MAP_H / 2 + 30, MAP_H / 2 + 30);
    /* Largest first, so small circles stay on top and reachable. */
    size_t *order = malloc(shown * sizeof *order), k = 0;
    for (size_t i = 0; order && i < n; i++)
        if (segs[i].on_map)
            order[k++] = i;
    for (size_t a = 1; order && a < k; a++)
        for (size_t b = a; b > 0 && segs[order[b - 1]].size < segs[order[b]].size; b--) {
            size_t tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    box *placed = calloc(k ? k : 1, sizeof *placed);
    for (size_t j = 0; order && placed && j < k; j++) {
        const segstream_report_segment *s = &segs[order[j]];
        double cx = ox + (s->map_x - xlo) * scale, cy = oy + (yhi - s->map_y) * scale;
        double rad = smax > 0 ? MAP_RMAX * sqrt(fmax(s->size, 0) / smax) : 4;
        if (rad < 3)
            rad = 3;
        char col[32];
        seg_colour(col, s->id);
        fprintf(out, "<g class=\"map-seg\" data-segment=\"%lld\"><title>segment %lld, size %.1f: ", (long long)s->id,
                (long long)s->id, s->size);
        write_label(out, s, 16);
        fprintf(out, "</title><circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\"/>", cx, cy, rad, col,
                col);
        placed[j] = place_label(placed, j, cx, cy, rad, label_width(s, 3));
        fprintf(out, "<text class=\"map-label\" x=\"%.1f\" y=\"%.1f\"%s>%lld: ", placed[j].anchor_end ? placed[j].x1 : placed[j].x0,
                placed[j].y1 - 3, placed[j].anchor_end ? " text-anchor=\"end\"" : "", (long long)s->id);
        write_label(out, s, 3);
        fputs("</text></g>\n", out);
    }
    free(placed);
    free(order);
    fputs("</svg>\n<p class=\"note\" id=\"status\"></p></section>\n", out);
}

enum { CH_W = 1000, CH_H = 340, CH_L = 60, CH_R = 20, CH_T = 16, CH_B = 36 };

typedef struct chart {
    int64_t t0, t1;
    double ymax;
} chart;

static double chart_x(const chart *c, int64_t t)
{
    double span = (double)(c->t1 - c->t0);
    return CH_L + (span > 0 ? (double)(t - c->t0) / span : 0.5) * (CH_W - CH_L - CH_R);
}

static double chart_y(const chart *c, double v)
{
    return CH_H - CH_B - (c->ymax > 0 ? v / c->ymax : 0) * (CH_H - CH_T - CH_B);
}

/* Axes with five date ticks and three value ticks. */
static void write_axes(FILE *out, const chart *c, const char *ylabel)
{
    fputs("<g class=\"grid\">", out);
    for (int i = 0; i <= 4; i++) {
        double y = chart_y(c, c->ymax * i / 4);
        fprintf(out, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>", CH_L, CH_W - CH_R, y, y);
    }
    fputs("</g><g class=\"axis\">", out);
    fprintf(out, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>", CH_L, CH_W - CH_R, CH_H - CH_B, CH_H - CH_B);
    fprintf(out, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>", CH_L, CH_L, CH_T, CH_H - CH_B);
    int with_time = c->t1 - c->t0 < 3 * 86400000LL;
    for (int i = 0; i <= 4; i++) {
        int64_t t = c->t0 + (int64_t)((double)(c->t1 - c->t0) * i / 4);
        char d[32];
        date_str(d, t, with_time);
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>", chart_x(c, t), CH_H - CH_B + 16,
                i == 0 ? "start" : i == 4 ? "end" : "middle", d);
    }
    for (int i = 0; i <= 4; i += 2)
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>", CH_L - 6, chart_y(c, c->ymax * i / 4) + 4,
                c->ymax * i / 4);
    fprintf(out, "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">", CH_H / 2, CH_H / 2);
    segstream_html_escape(out, ylabel);
    fputs("</text></g>\n", out);
}

/* A life-cycle marker at (x, y): shapes differ so colour is not needed. */
static void write_marker(FILE *out, const char *kind, double x, double y, const char *col, int64_t id,
                         const char *what)
{
    fprintf(out, "<g class=\"event event-%s\" data-segment=\"%lld\"><title>segment %lld: ", kind, (long long)id,
            (long long)id);
    segstream_html_escape(out, what);
    fputs("</title>", out);
    if (!strcmp(kind, "birth"))
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>", x, y, col);
    else if (!strcmp(kind, "split-birth"))
        fprintf(out, "<path d=\"M%.1f %.1fl4 7h-8z\" fill=\"%s\"/>", x, y - 4.5, col);
    else if (!strcmp(kind, "split"))
        fprintf(out, "<path d=\"M%.1f %.1fl5 5l-5 5l-5 -5z\" fill=\"#fff\" stroke=\"%s\" stroke-width=\"1.6\"/>", x, y - 5,
                col);
    else if (!strcmp(kind, "merge"))
        fprintf(out, "<path d=\"M%.1f %.1fl8 8m0 -8l-8 8\" stroke=\"%s\" stroke-width=\"2\"/>", x - 4, y - 4, col);
    else
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" fill=\"#fff\" stroke=\"%s\" stroke-width=\"1.6\"/>",
                x - 3.5, y - 3.5, col);
    fputs("</g>", out);
}

static void write_end(FILE *out, const chart *c, const segstream_report_segment *s, const char *col);

/* One segment's size line with its birth and end markers. */
static void write_history(FILE *out, const chart *c, const segstream_report_segment *s)
{
    /* Only the points inside the chart's time range (a zoomed chart). */
    size_t from = 0;
    while (from < s->npoints && s->points[from].time < c->t0)
        from++;
    if (from == s->npoints || s->points[from].time > c->t1)
        return;
    char col[32], what[160];
    seg_colour(col, s->id);
    fprintf(out, "<polyline class=\"size-line%s\" data-segment=\"%lld\" stroke=\"%s\" points=\"",
            s->active ? " now" : "", (long long)s->id, col);
    for (size_t p = from; p < s->npoints && s->points[p].time <= c->t1; p++)
        fprintf(out, "%s%.1f,%.1f", p > from ? " " : "", chart_x(c, s->points[p].time), chart_y(c, s->points[p].size));
    fprintf(out, "\"><title>segment %lld</title></polyline>", (long long)s->id);
    if (from > 0) { /* born before the range: no birth marker */
        fputc('\n', out);
        write_end(out, c, s, col);
        return;
    }
    if (s->has_parent)
        snprintf(what, sizeof what, "born of a split of %lld", (long long)s->parent);
    else
        snprintf(what, sizeof what, "born at bootstrap");
    write_marker(out, s->has_parent ? "split-birth" : "birth", chart_x(c, s->points[0].time),
                 chart_y(c, s->points[0].size), col, s->id, what);
    write_end(out, c, s, col);
}

/* The marker of how a segment ended, at its last point. */
static void write_end(FILE *out, const chart *c, const segstream_report_segment *s, const char *col)
{
    char what[160];
    const segstream_report_point *last = &s->points[s->npoints - 1];
    if (s->end == SEGSTREAM_REPORT_END_SPLIT) {
        write_marker(out, "split", chart_x(c, last->time), chart_y(c, last->size), col, s->id, "split");
    } else if (s->end == SEGSTREAM_REPORT_END_MERGED) {
        if (s->merged_into >= 0)
            snprintf(what, sizeof what, "merged into %lld", (long long)s->merged_into);
        else
            snprintf(what, sizeof what, "merged");
        write_marker(out, "merge", chart_x(c, last->time), chart_y(c, last->size), col, s->id, what);
    } else if (s->end == SEGSTREAM_REPORT_END_RETIRED) {
        write_marker(out, "retire", chart_x(c, last->time), chart_y(c, last->size), col, s->id,
                     "retired (too small)");
    }
    fputc('\n', out);
}

static void write_size_chart(FILE *out, const segstream_report_segment *segs, size_t n, const chart *c,
                             const char *id)
{
    fprintf(out, "<svg id=\"%s\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"segment sizes\">\n", id, CH_W, CH_H);
    write_axes(out, c, "decayed size");
    /* Segments gone before the end first, faded; the active ones on top. */
    fputs("<g class=\"past\">\n", out);
    for (size_t i = 0; i < n; i++)
        if (!segs[i].active)
            write_history(out, c, &segs[i]);
    fputs("</g>\n", out);
    for (size_t i = 0; i < n; i++)
        if (segs[i].active)
            write_history(out, c, &segs[i]);
    fputs("</svg>\n", out);
}

static void write_sizes(FILE *out, const segstream_report *r)
{
    size_t n;
    const segstream_report_segment *segs = segstream_report_segments(r, &n);
    const segstream_report_totals *t = segstream_report_get_totals(r);
    chart c = {.t0 = INT64_MAX, .t1 = INT64_MIN};
    for (size_t i = 0; i < n; i++)
        if (segs[i].npoints) {
            c.t0 = segs[i].points[0].time < c.t0 ? segs[i].points[0].time : c.t0;
            c.t1 = segs[i].points[segs[i].npoints - 1].time > c.t1 ? segs[i].points[segs[i].npoints - 1].time : c.t1;
        }
    if (c.t0 > c.t1)
        c.t0 = c.t1 = t->first_time;
    size_t births = 0, split_births = 0, splits = 0, merges = 0, retirements = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t p = 0; p < segs[i].npoints; p++)
            c.ymax = fmax(c.ymax, segs[i].points[p].size);
        segs[i].has_parent ? split_births++ : births++;
        splits += segs[i].end == SEGSTREAM_REPORT_END_SPLIT;
        merges += segs[i].end == SEGSTREAM_REPORT_END_MERGED;
        retirements += segs[i].end == SEGSTREAM_REPORT_END_RETIRED;
    }
    if (c.ymax <= 0)
        c.ymax = 1;
    fputs("<section id=\"sizes\"><h2>Segment sizes over time</h2>\n", out);
    fprintf(out,
            "<p class=\"note\">Decayed size of every segment id at each catalog record (%zu ids: %zu born at "
            "bootstrap, %zu of splits; %zu splits, %zu merges, %zu retirements). Merges and retirements are told "
            "apart by the size at retirement against the retirement threshold (the catalog does not record why).</p>\n",
            n, births, split_births, splits, merges, retirements);
    fprintf(out,
            "<p class=\"legend\"><span>&#9679; born (bootstrap)</span><span>&#9650; born of a split</span>"
            "<span>&#9671; split</span><span>&#10005; merged</span><span>&#9633; retired</span>"
            "<span>bold: the segments active at the end; faded: those gone before</span></p>\n");
    write_size_chart(out, segs, n, &c, "sizes-svg");
    /* Churn over a long stream squeezes today's segments into the right
     * edge: zoom on the time since the oldest active one was born. */
    chart z = c;
    z.t0 = INT64_MAX, z.ymax = 0;
    for (size_t i = 0; i < n; i++)
        if (segs[i].active && segs[i].npoints && segs[i].points[0].time < z.t0)
            z.t0 = segs[i].points[0].time;
    if (z.t0 < z.t1 && (double)(z.t1 - z.t0) < 0.5 * (double)(c.t1 - c.t0)) {
        for (size_t i = 0; i < n; i++)
            for (size_t p = 0; p < segs[i].npoints; p++)
                if (segs[i].points[p].time >= z.t0)
                    z.ymax = fmax(z.ymax, segs[i].points[p].size);
        char d[32];
        date_str(d, z.t0, 1);
        fprintf(out, "<h2>Sizes since the oldest active segment was born (%s)</h2>\n", d);
        write_size_chart(out, segs, n, &z, "sizes-recent-svg");
    }
    fputs("</section>\n", out);
}

static void write_rates(FILE *out, const segstream_report *r)
{
    size_t nb;
    int64_t width;
    const segstream_report_bin *bins = segstream_report_bins(r, &nb, &width);
    const segstream_report_totals *t = segstream_report_get_totals(r);
    fputs("<section id=\"rates\"><h2>Segment changes per cause</h2>\n", out);
    if (!nb) {
        fputs("<p class=\"note\">No segment changes were given (--changes or --changes-topic).</p></section>\n", out);
        return;
    }
    char per[32], ylabel[64];
    duration_str(per, width);
    snprintf(ylabel, sizeof ylabel, "changes per %s", per);
    fprintf(out, "<p class=\"note\">Changes by event time, stacked by cause, one bar per %s (%zu changes).</p>\n", per,
            t->changes);
    fputs("<p class=\"legend\">", out);
    for (int k = 0; k < 4; k++)
        fprintf(out, "<span><i class=\"swatch\" style=\"background:%s\"></i>%s: %lld</span>", cause_colours[k],
                cause_names[k], (long long)t->changes_by_cause[k]);
    fputs("</p>\n", out);
    chart c = {.t0 = bins[0].start, .t1 = bins[nb - 1].start + width};
    for (size_t b = 0; b < nb; b++) {
        double sum = 0;
        for (int k = 0; k < 4; k++)
            sum += (double)bins[b].count[k];
        c.ymax = fmax(c.ymax, sum);
    }
    fprintf(out, "<svg id=\"rates-svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"change rates\">\n", CH_W, CH_H);
    write_axes(out, &c, ylabel);
    for (size_t b = 0; b < nb; b++) {
        double x0 = chart_x(&c, bins[b].start), x1 = chart_x(&c, bins[b].start + width), base = 0;
        double bw = fmax(x1 - x0 - 1, 0.5);
        for (int k = 0; k < 4; k++) {
            if (!bins[b].count[k])
                continue;
            double top = base + (double)bins[b].count[k];
            char d[32];
            date_str(d, bins[b].start, width < 86400000LL);
            fprintf(out,
                    "<rect class=\"rate-bar\" data-cause=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                    "fill=\"%s\"><title>%s from %s: %lld</title></rect>",
                    cause_names[k], x0, chart_y(&c, top), bw, chart_y(&c, base) - chart_y(&c, top), cause_colours[k],
                    cause_names[k], d, (long long)bins[b].count[k]);
            base = top;
        }
    }
    fputs("\n</svg></section>\n", out);
}

static void write_table(FILE *out, const segstream_report *r)
{
    size_t n;
    const segstream_report_segment *segs = segstream_report_segments(r, &n);
    const segstream_report_totals *t = segstream_report_get_totals(r);
    fputs("<section id=\"segments\"><h2>Active segments in detail</h2>\n", out);
    if (t->events)
        fprintf(out,
                "<p class=\"note\">Example texts, newest first: the latest input text of users now in the segment, "
                "then the texts that moved users into it (%zu of %zu events matched a change). Users: those whose "
                "latest change put them in the segment.</p>\n",
                t->events_matched, t->events);
    else
        fputs("<p class=\"note\">The catalog carries no texts: pass the input events (--events) to see examples.</p>\n",
              out);
    fputs("<table><thead><tr><th>id</th><th>size</th><th>users</th><th>born</th><th>keywords</th>"
          "<th>example texts</th></tr></thead><tbody>\n",
          out);
    for (size_t i = 0; i < n; i++) {
        const segstream_report_segment *s = &segs[i];
        if (!s->active)
            continue;
        char col[32], born[32];
        seg_colour(col, s->id);
        date_str(born, s->created_time, 1);
        fprintf(out,
                "<tr class=\"seg-row\" id=\"seg-%lld\" data-segment=\"%lld\"><td class=\"num\"><i class=\"swatch\" "
                "style=\"background:%s\"></i>%lld</td><td class=\"num\">%.1f</td><td class=\"num\">%zu</td><td>%s",
                (long long)s->id, (long long)s->id, col, (long long)s->id, s->size, s->members, born);
        if (s->has_parent)
            fprintf(out, "<br>split of %lld", (long long)s->parent);
        fputs("</td><td class=\"kw\">", out);
        write_label(out, s, 16);
        fputs("</td><td>", out);
        if (s->nexamples) {
            fputs("<ul>", out);
            for (size_t e = 0; e < s->nexamples; e++) {
                fputs("<li class=\"example\">", out);
                segstream_html_escape(out, s->examples[e]);
                fputs("</li>", out);
            }
            fputs("</ul>", out);
        }
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody></table></section>\n", out);
}

int segstream_report_write_html(const segstream_report *r, const segstream_report_html_options *opts, FILE *out,
                                segstream_err *err)
{
    const char *title = opts && opts->title ? opts->title : "segstream segment report";
    const segstream_report_totals *t = segstream_report_get_totals(r);
    size_t n, active = 0;
    const segstream_report_segment *segs = segstream_report_segments(r, &n);
    for (size_t i = 0; i < n; i++)
        active += segs[i].active;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
          "script-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>",
          out);
    segstream_html_escape(out, title);
    fprintf(out, "</title>\n<style>%s</style></head>\n<body>\n<header><h1>", page_css);
    segstream_html_escape(out, title);
    fputs("</h1>\n", out);
    if (opts && opts->source) {
        fputs("<p class=\"meta\">", out);
        segstream_html_escape(out, opts->source);
        fputs("</p>\n", out);
    }
    char a[32], b[32];
    date_str(a, t->first_time, 1);
    date_str(b, t->last_time, 1);
    fprintf(out,
            "<p class=\"meta\">%zu active segments of %zu ids; model version %lld; event time %s to %s UTC; %zu "
            "catalog records, %zu changes, %zu events.</p></header>\n",
            active, n, (long long)t->model_version, a, b, t->catalog_records, t->changes, t->events);
    write_map(out, r);
    write_sizes(out, r);
    write_rates(out, r);
    write_table(out, r);
    fprintf(out, "<script>%s</script>\n</body></html>\n", page_js);
    if (fflush(out) != 0 || ferror(out))
        return segstream_err_set(err, "report: writing the page failed");
    return 0;
}

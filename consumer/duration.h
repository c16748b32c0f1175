/* duration.h - durations written the way people write them: "500ms", "90s",
 * "30m", "1h", "7d", "2w", or sums of those ("1h30m"). Milliseconds inside.
 * A bare number is refused (except "0"): "60" could be seconds or minutes.
 * Pure functions, any thread. */
#ifndef SEGSTREAM_CONSUMER_DURATION_H
#define SEGSTREAM_CONSUMER_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parses `text` (surrounding whitespace not allowed) into milliseconds.
 * Returns 0, or -1 when the text is not a duration or exceeds INT64_MAX ms;
 * *ms is untouched on failure. */
int segstream_duration_parse(const char *text, int64_t *ms);

/* Writes `ms` in the shortest exact form ("7d", "1h30m", "1s500ms", "0") into
 * buf (32 bytes are always enough). Negative values are written with a '-'.
 * Returns buf. */
char *segstream_duration_format(int64_t ms, char *buf, size_t size);

#endif

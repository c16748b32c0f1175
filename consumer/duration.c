/* duration.c - "1h30m" <-> milliseconds. Units: ms, s, m, h, d, w; each term
 * is a non-negative integer followed by a unit, terms are summed with
 * overflow checks. */
#include "consumer/duration.h"

#include <stdio.h>
#include <string.h>

static const struct unit {
    const char *name;
    int64_t ms;
} units[] = {
    /* "ms" before "m" so the longest match wins. */
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"w", 604800000},
};

int segstream_duration_parse(const char *text, int64_t *ms)
{
    if (!text || !*text)
        return -1;
    if (!strcmp(text, "0")) {
        *ms = 0;
        return 0;
    }
    int64_t total = 0;
    const char *p = text;
    while (*p) {
        if (*p < '0' || *p > '9')
            return -1;
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > (INT64_MAX - (*p - '0')) / 10)
                return -1;
            n = n * 10 + (*p - '0');
            p++;
        }
        const struct unit *u = NULL;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t len = strlen(units[i].name);
            if (!strncmp(p, units[i].name, len)) {
                u = &units[i];
                p += len;
                break;
            }
        }
        if (!u || (n && n > INT64_MAX / u->ms) || total > INT64_MAX - n * u->ms)
            return -1;
        total += n * u->ms;
    }
    *ms = total;
    return 0;
}

char *segstream_duration_format(int64_t ms, char *buf, size_t size)
{
    if (!buf || !size)
        return buf;
    if (ms == 0) {
        snprintf(buf, size, "0");
        return buf;
    }
    size_t off = 0;
    uint64_t rest = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0)
        off += (size_t)snprintf(buf, size, "-");
    /* Weeks are left out on purpose: "14d" reads better than "2w". */
    static const int order[] = {4, 3, 2, 1, 0};
    for (size_t i = 0; i < sizeof order / sizeof order[0] && rest; i++) {
        const struct unit *u = &units[order[i]];
        uint64_t q = rest / (uint64_t)u->ms;
        if (!q)
            continue;
        if (off < size)
            off += (size_t)snprintf(buf + off, size - off, "%llu%s", (unsigned long long)q, u->name);
        rest -= q * (uint64_t)u->ms;
    }
    return buf;
}

#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int segstream_err_set(segstream_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

int segstream_err_prefix(segstream_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[SEGSTREAM_ERR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Build "prefix: old" by hand: truncation is intended, not a warning. */
    char old[SEGSTREAM_ERR_MESSAGE_MAX];
    memcpy(old, err->message, sizeof old);
    old[sizeof old - 1] = '\0';
    size_t cap = sizeof err->message - 1, n = 0;
    for (const char *parts[] = {prefix, ": ", old}, **p = parts; p < parts + 3; p++)
        for (const char *c = *p; *c && n < cap; c++)
            err->message[n++] = *c;
    err->message[n] = '\0';
    return -1;
}

void segstream_err_clear(segstream_err *err)
{
    if (err)
        err->message[0] = '\0';
}

/* redact.c - the secret-key rule and in-place scrubbing of secret values.
 * Scrubbing shrinks the text instead of growing it, so it works on fixed
 * buffers such as segstream_err.message without reallocation. */
#include "consumer/redact.h"

#include <string.h>
#include <strings.h>

static const char *const secret_markers[] = {"password", "secret", "token", "sasl.jaas", "ssl.key"};

static bool is_boundary(char c)
{
    return c == '\0' || c == '.' || c == '_' || c == '-';
}

/* needle occurs in haystack as whole name parts. */
static bool contains_part(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = haystack; *p; p++)
        if ((p == haystack || is_boundary(p[-1])) && !strncasecmp(p, needle, n) && is_boundary(p[n]))
            return true;
    return false;
}

bool segstream_key_is_secret(const char *key)
{
    if (!key)
        return false;
    for (size_t i = 0; i < sizeof secret_markers / sizeof secret_markers[0]; i++)
        if (contains_part(key, secret_markers[i]))
            return true;
    return false;
}

const char *segstream_redact(const char *key, const char *value)
{
    return segstream_key_is_secret(key) ? SEGSTREAM_REDACTED : value;
}

size_t segstream_redact_in(char *text, const char *secret)
{
    if (!text || !secret || !*secret)
        return 0;
    size_t slen = strlen(secret), count = 0;
    size_t mask = slen < 3 ? slen : 3;
    char *p = text;
    while ((p = strstr(p, secret)) != NULL) {
        memset(p, '*', mask);
        memmove(p + mask, p + slen, strlen(p + slen) + 1);
        p += mask;
        count++;
    }
    return count;
}

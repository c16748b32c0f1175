/* err.h - the error value every segstream library returns through.
 *
 * A function that can fail takes a `segstream_err *` as its last argument and
 * returns NULL or a negative value on failure, having written a sentence a
 * person can act on into err->message (which file, which key, which tensor,
 * which byte offset). Passing err == NULL is allowed: the message is dropped.
 * Libraries never exit() or abort(); the caller decides what failure means. */
#ifndef SEGSTREAM_COMMON_ERR_H
#define SEGSTREAM_COMMON_ERR_H

#include <stddef.h>

#define SEGSTREAM_ERR_MESSAGE_MAX 512

typedef struct segstream_err {
    char message[SEGSTREAM_ERR_MESSAGE_MAX]; /* "" when no error was set */
} segstream_err;

/* Formats into err->message (truncating if needed). Always returns -1 so a
 * failing function can `return segstream_err_set(err, ...)`. */
int segstream_err_set(segstream_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the message already in err, to add context on the
 * way up ("model.safetensors: tensor x: ..."). Returns -1. */
int segstream_err_prefix(segstream_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void segstream_err_clear(segstream_err *err);

#endif

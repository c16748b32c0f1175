/* http_server.h - the stage's HTTP endpoint on libmicrohttpd, bound to
 * metrics.listen (default 127.0.0.1:9464; empty disables it):
 *   GET /metrics  the registry in Prometheus text format 0.0.4
 *   GET /healthz  200 "ok" while the stage's loop runs (liveness), else 503
 *   GET /readyz   200 "ready" once the stage says so (assigned, connected,
 *                 state restored), else 503 with the reason line
 *   anything else 404; methods other than GET and HEAD 405.
 * Requests are served on libmicrohttpd's own thread
 * (MHD_USE_INTERNAL_POLLING_THREAD); the stage only flips flags.
 *
 * Thread rules: start and stop from one thread; the set_* and heartbeat
 * functions may be called from any thread at any time in between. */
#ifndef SEGSTREAM_CONSUMER_HTTP_SERVER_H
#define SEGSTREAM_CONSUMER_HTTP_SERVER_H

#include "common/err.h"
#include "consumer/metrics.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct segstream_http_server segstream_http_server;

typedef struct segstream_http_options {
    const char *listen;          /* "host:port", "[v6]:port", ":port" (any address); "" or NULL: disabled; port 0: any free port */
    segstream_metrics *metrics;  /* served on /metrics; NULL: an empty page. Not owned; must outlive the server */
    int64_t stall_timeout_ms;    /* /healthz fails when the last heartbeat is older than this; 0: heartbeats not required */
    int64_t ready_stall_ms;      /* /readyz fails when the last heartbeat is older than this (a call
                                    blocked on an unreachable broker); 0: not checked */
} segstream_http_options;

/* listen = 127.0.0.1:9464, no metrics, no stall detection. */
segstream_http_options segstream_http_default_options(void);

/* Starts serving. *out gets the server, or NULL when opts->listen is empty
 * (disabled: returns 0). Returns -1 with err naming the address and the
 * reason when it cannot bind. The server starts alive and not ready
 * ("starting"). Stop with segstream_http_stop(). */
int segstream_http_start(const segstream_http_options *opts, segstream_http_server **out, segstream_err *err);

/* The bound TCP port (the real one when the listen port was 0). */
int segstream_http_port(const segstream_http_server *srv);

/* Liveness: false makes /healthz answer 503 (e.g. while shutting down). */
void segstream_http_set_alive(segstream_http_server *srv, bool alive);

/* Records that the loop made progress now (monotonic clock). */
void segstream_http_heartbeat(segstream_http_server *srv);

/* Readiness; reason (copied, may be NULL) is the 503 body when not ready. */
void segstream_http_set_ready(segstream_http_server *srv, bool ready, const char *reason);

/* Stops the server, waiting for requests in flight, and frees it. NULL is fine. */
void segstream_http_stop(segstream_http_server *srv);

#endif

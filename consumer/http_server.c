/* http_server.c - /metrics, /healthz and /readyz on libmicrohttpd's internal
 * polling thread. State shared with the stage is an atomic flag or two and a
 * mutex-guarded reason string; libmicrohttpd's own messages go to the JSON
 * log, and those printed while binding also into the start error. */
#include "consumer/http_server.h"
#include "consumer/log.h"

#include <microhttpd.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#define REASON_MAX 256

struct segstream_http_server {
    struct MHD_Daemon *daemon;
    segstream_metrics *metrics;
    int64_t stall_timeout_ms, ready_stall_ms;
    int port;
    atomic_bool alive;
    atomic_llong heartbeat_ms;
    pthread_mutex_t lock; /* guards ready and reason */
    bool ready;
    char reason[REASON_MAX];
    atomic_bool starting;     /* while MHD_start_daemon runs: keep its messages */
    char start_error[256];
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

segstream_http_options segstream_http_default_options(void)
{
    return (segstream_http_options){.listen = "127.0.0.1:9464", .metrics = NULL, .stall_timeout_ms = 0};
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    segstream_http_server *srv = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (atomic_load(&srv->starting) && !srv->start_error[0])
        snprintf(srv->start_error, sizeof srv->start_error, "%s", msg);
    segstream_log_kv(SEGSTREAM_LOG_WARN, SEGSTREAM_LOG_FIELDS(SLF_STR("component", "http")), "%s", msg);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *content_type, char *body,
                               size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *line)
{
    char body[REASON_MAX + 2];
    int n = snprintf(body, sizeof body, "%s\n", line);
    return respond(conn, status, "text/plain; charset=utf-8", body, (size_t)n, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **req_cls)
{
    (void)version;
    (void)upload_data;
    (void)req_cls;
    segstream_http_server *srv = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
        *upload_data_size = 0; /* bodies are not read */
        return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD");
    }
    if (!strcmp(url, "/metrics")) {
        size_t len = 0;
        char *body = srv->metrics ? segstream_metrics_render(srv->metrics, &len) : strdup("");
        if (!body)
            return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len,
                       MHD_RESPMEM_MUST_FREE);
    }
    if (!strcmp(url, "/healthz")) {
        if (!atomic_load(&srv->alive))
            return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "stopping");
        if (srv->stall_timeout_ms > 0) {
            long long age = monotonic_ms() - atomic_load(&srv->heartbeat_ms);
            if (age > srv->stall_timeout_ms) {
                char line[96];
                snprintf(line, sizeof line, "stalled: no progress for %lld ms", age);
                return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, line);
            }
        }
        return text(conn, MHD_HTTP_OK, "ok");
    }
    if (!strcmp(url, "/readyz")) {
        char reason[REASON_MAX];
        pthread_mutex_lock(&srv->lock);
        bool ready = srv->ready;
        snprintf(reason, sizeof reason, "%s", srv->reason);
        pthread_mutex_unlock(&srv->lock);
        long long age = monotonic_ms() - atomic_load(&srv->heartbeat_ms);
        if (ready && srv->ready_stall_ms > 0 && age > srv->ready_stall_ms) {
            ready = false;
            snprintf(reason, sizeof reason, "no progress for %lld ms (waiting for the brokers?)", age);
        }
        return ready ? text(conn, MHD_HTTP_OK, "ready")
                     : text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, reason[0] ? reason : "not ready");
    }
    return text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz");
}

/* "host:port", "[v6]:port", ":port" -> host (NULL: any) and port strings. */
static int split_listen(const char *listen, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || !colon[1])
        return -1;
    const char *h = listen, *hend = colon;
    if (*h == '[') {
        if (hend - h < 2 || hend[-1] != ']')
            return -1;
        h++, hend--;
    }
    if ((size_t)(hend - h) >= hsize || strlen(colon + 1) >= psize)
        return -1;
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

/* A listening socket on the first address of ai, or -1 with an error that
 * names the setting, the cause and the fix. */
static int listen_socket(const struct addrinfo *ai, const char *listen_at, segstream_err *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return segstream_err_set(err, "metrics.listen = %s: cannot open a socket: %s", listen_at, strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* a restart need not wait out TIME_WAIT */
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
        return fd;
    int e = errno;
    close(fd);
    if (e == EADDRINUSE)
        segstream_err_set(err,
                          "metrics.listen = %s: the address is in use (another segstream instance or program "
                          "serves there); set metrics.listen to a free port, e.g. 127.0.0.1:0 for any free one, "
                          "or to nothing to turn the endpoint off",
                          listen_at);
    else if (e == EADDRNOTAVAIL)
        segstream_err_set(err, "metrics.listen = %s: no interface of this host has that address; use one of its "
                               "addresses, or 0.0.0.0 for all", listen_at);
    else if (e == EACCES)
        segstream_err_set(err, "metrics.listen = %s: not allowed to listen there (ports below 1024 need "
                               "privileges); use a port of 1024 or above", listen_at);
    else
        segstream_err_set(err, "metrics.listen = %s: cannot listen: %s", listen_at, strerror(e));
    return -1;
}

int segstream_http_start(const segstream_http_options *opts, segstream_http_server **out, segstream_err *err)
{
    *out = NULL;
    if (!opts->listen || !*opts->listen)
        return 0;
    char host[256], port[16];
    if (split_listen(opts->listen, host, sizeof host, port, sizeof port) < 0)
        return segstream_err_set(err, "metrics.listen = %s: expected host:port, [ipv6]:port or :port",
                                 opts->listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (gai)
        return segstream_err_set(err, "metrics.listen = %s: %s", opts->listen, gai_strerror(gai));
    segstream_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        freeaddrinfo(ai);
        return segstream_err_set(err, "out of memory");
    }
    srv->metrics = opts->metrics;
    srv->stall_timeout_ms = opts->stall_timeout_ms;
    srv->ready_stall_ms = opts->ready_stall_ms;
    atomic_init(&srv->alive, true);
    atomic_init(&srv->heartbeat_ms, monotonic_ms());
    pthread_mutex_init(&srv->lock, NULL);
    snprintf(srv->reason, sizeof srv->reason, "starting");
    atomic_init(&srv->starting, true);
    /* The socket is ours, so a bind failure comes with its errno (a port in
     * use is the common one: a second instance on the same host). */
    int fd = listen_socket(ai, opts->listen, err);
    freeaddrinfo(ai);
    if (fd < 0) {
        pthread_mutex_destroy(&srv->lock);
        free(srv);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    /* MHD_OPTION_EXTERNAL_LOGGER must come first: options before it log to stderr */
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, srv,
                                   MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
                                   MHD_OPTION_LISTEN_SOCKET, fd,
                                   MHD_OPTION_CONNECTION_LIMIT, 64u,
                                   MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                                   MHD_OPTION_END);
    atomic_store(&srv->starting, false);
    if (!srv->daemon) { /* fd stays open: whether MHD closed it is not said; we are stopping */
        segstream_err_set(err, "metrics.listen = %s: cannot serve: %s", opts->listen,
                          srv->start_error[0] ? srv->start_error : "libmicrohttpd refused to start");
        pthread_mutex_destroy(&srv->lock);
        free(srv);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    *out = srv;
    return 0;
}

int segstream_http_port(const segstream_http_server *srv)
{
    return srv ? srv->port : 0;
}

void segstream_http_set_alive(segstream_http_server *srv, bool alive)
{
    if (srv)
        atomic_store(&srv->alive, alive);
}

void segstream_http_heartbeat(segstream_http_server *srv)
{
    if (srv)
        atomic_store(&srv->heartbeat_ms, monotonic_ms());
}

void segstream_http_set_ready(segstream_http_server *srv, bool ready, const char *reason)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->lock);
    srv->ready = ready;
    snprintf(srv->reason, sizeof srv->reason, "%s", reason ? reason : "");
    /* One line only: the reason is the body of a text/plain answer. */
    srv->reason[strcspn(srv->reason, "\r\n")] = '\0';
    pthread_mutex_unlock(&srv->lock);
}

void segstream_http_stop(segstream_http_server *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->daemon); /* closes the listening socket too */
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

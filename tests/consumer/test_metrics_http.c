/* test_metrics_http.c - the metrics registry and the HTTP endpoint: a server
 * on an ephemeral port answers /metrics, /healthz and /readyz to libcurl;
 * the exposition is parsed line by line (HELP/TYPE before samples, names,
 * label escaping, cumulative histogram buckets ending in +Inf equal to
 * _count, _sum); readiness and liveness flip; updates from another thread
 * during scrapes all arrive. */
#include "consumer/http_server.h"
#include "consumer/log.h"
#include "consumer/metrics.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

typedef struct reply {
    long status;
    char *body;
    size_t len;
    char content_type[128];
} reply;

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
    reply *r = ctx;
    char *grown = realloc(r->body, r->len + size * n + 1);
    assert_non_null(grown);
    memcpy(grown + r->len, data, size * n);
    r->body = grown;
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static reply fetch(int port, const char *path, const char *method)
{
    reply r = {0};
    r.body = calloc(1, 1);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("GET %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r.content_type, sizeof r.content_type, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    return r;
}

/* --- A small exposition-format checker. --- */

typedef struct family {
    char name[128], type[16];
    bool help;
} family;

typedef struct parsed {
    family fam[64];
    int n_fam;
    int samples;
} parsed;

static family *find_family(parsed *p, const char *name)
{
    for (int i = 0; i < p->n_fam; i++)
        if (!strcmp(p->fam[i].name, name))
            return &p->fam[i];
    return NULL;
}

/* The family a sample belongs to: histograms add _bucket, _sum, _count. */
static family *family_of_sample(parsed *p, const char *sample)
{
    family *f = find_family(p, sample);
    if (f)
        return f;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(sample), s = strlen(suffixes[i]);
        if (n > s && !strcmp(sample + n - s, suffixes[i])) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(n - s), sample);
            f = find_family(p, base);
            if (f && !strcmp(f->type, "histogram"))
                return f;
        }
    }
    return NULL;
}

/* Checks the whole text; histogram series are checked for cumulative
 * buckets ending in +Inf == _count with a _sum. */
static parsed check_exposition(const char *text)
{
    parsed p = {0};
    char *copy = strdup(text), *save = NULL;
    double last_bucket = -1;
    bool saw_inf = false;
    double inf_value = -1;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], kind[16];
        if (!strncmp(line, "# HELP ", 7)) {
            assert_int_equal(sscanf(line + 7, "%127s", name), 1);
            assert_null(find_family(&p, name));
            assert_true(p.n_fam < 64);
            snprintf(p.fam[p.n_fam].name, sizeof p.fam[0].name, "%s", name);
            p.fam[p.n_fam++].help = true;
            continue;
        }
        if (!strncmp(line, "# TYPE ", 7)) {
            assert_int_equal(sscanf(line + 7, "%127s %15s", name, kind), 2);
            family *f = find_family(&p, name);
            if (!f || f->type[0])
                fail_msg("TYPE without a HELP first, or twice: %s", line);
            assert_true(!strcmp(kind, "counter") || !strcmp(kind, "gauge") || !strcmp(kind, "histogram"));
            snprintf(f->type, sizeof f->type, "%s", kind);
            continue;
        }
        assert_true(line[0] != '#');
        /* name{labels} value */
        size_t n = strcspn(line, "{ ");
        snprintf(name, sizeof name, "%.*s", (int)n, line);
        assert_int_equal(strncmp(name, "segstream_", 10), 0);
        family *f = family_of_sample(&p, name);
        if (!f || !f->type[0])
            fail_msg("sample before its HELP/TYPE: %s", line);
        const char *value = strrchr(line, ' ');
        assert_non_null(value);
        char *end;
        double v = strtod(value + 1, &end);
        if (*end && strcmp(value + 1, "+Inf") && strcmp(value + 1, "NaN"))
            fail_msg("bad value: %s", line);
        if (line[n] == '{')
            assert_non_null(strstr(line, "} "));
        p.samples++;
        if (!strcmp(f->type, "histogram")) {
            size_t fl = strlen(f->name);
            const char *suffix = name + fl;
            if (!strcmp(suffix, "_bucket")) {
                assert_non_null(strstr(line, "le=\""));
                assert_false(saw_inf);
                assert_true(v >= last_bucket); /* cumulative */
                last_bucket = v;
                if (strstr(line, "le=\"+Inf\"")) {
                    saw_inf = true;
                    inf_value = v;
                }
            } else if (!strcmp(suffix, "_sum")) {
                assert_true(saw_inf);
            } else if (!strcmp(suffix, "_count")) {
                assert_true(saw_inf);
                assert_true(v == inf_value);
                saw_inf = false;
                last_bucket = -1;
            }
        }
    }
    free(copy);
    for (int i = 0; i < p.n_fam; i++)
        assert_true(p.fam[i].help && p.fam[i].type[0]);
    return p;
}

static void registry_rules(void **state)
{
    (void)state;
    segstream_metrics *m = segstream_metrics_new();
    segstream_err err = {{0}};
    assert_null(segstream_metrics_add(m, SEGSTREAM_METRIC_COUNTER, "9bad", "h", NULL, NULL, 0, &err));
    assert_non_null(strstr(err.message, "metric name \"9bad\""));
    assert_non_null(segstream_metrics_add(m, SEGSTREAM_METRIC_COUNTER, "segstream_x_total", "h", NULL, NULL, 0, &err));
    assert_null(segstream_metrics_add(m, SEGSTREAM_METRIC_GAUGE, "segstream_x_total", "h", NULL, NULL, 0, &err));
    assert_non_null(strstr(err.message, "registered twice"));
    const double bad[] = {1, 1};
    assert_null(segstream_metrics_add(m, SEGSTREAM_METRIC_HISTOGRAM, "segstream_h", "h", NULL, bad, 2, &err));
    const char *const le[] = {"le", NULL};
    const double ok[] = {1, 2};
    assert_null(segstream_metrics_add(m, SEGSTREAM_METRIC_HISTOGRAM, "segstream_h", "h", le, ok, 2, &err));
    segstream_metric *h = segstream_metrics_add(m, SEGSTREAM_METRIC_HISTOGRAM, "segstream_h", "h\\elp\nline", NULL,
                                                ok, 2, &err);
    segstream_series *hs = segstream_metric_series(h, NULL);
    segstream_histogram_observe(hs, 0.5);
    segstream_histogram_observe(hs, 2);
    segstream_histogram_observe(hs, 3);
    segstream_histogram_observe(hs, NAN);
    const char *const one[] = {"reason", NULL};
    segstream_metric *c = segstream_metrics_add(m, SEGSTREAM_METRIC_COUNTER, "segstream_c_total", "c", one, NULL, 0,
                                                &err);
    assert_null(segstream_metric_series(c, NULL)); /* one value needed */
    segstream_series *weird = segstream_metric_with(c, "a\"b\\c\nd");
    assert_ptr_equal(weird, segstream_metric_with(c, "a\"b\\c\nd"));
    segstream_counter_add(weird, 2);
    segstream_counter_add(NULL, 1); /* ignored */
    segstream_metric *g = segstream_metrics_add(m, SEGSTREAM_METRIC_GAUGE, "segstream_g", "g", NULL, NULL, 0, &err);
    segstream_series *gs = segstream_metric_series(g, NULL);
    segstream_gauge_set(gs, 0.1);
    segstream_gauge_add(gs, 0.2);
    char *text = segstream_metrics_render(m, NULL);
    check_exposition(text);
    assert_non_null(strstr(text, "# HELP segstream_h h\\\\elp\\nline\n# TYPE segstream_h histogram\n"
                                 "segstream_h_bucket{le=\"1\"} 1\nsegstream_h_bucket{le=\"2\"} 2\n"
                                 "segstream_h_bucket{le=\"+Inf\"} 4\nsegstream_h_sum NaN\nsegstream_h_count 4\n"));
    assert_non_null(strstr(text, "segstream_c_total{reason=\"a\\\"b\\\\c\\nd\"} 2\n"));
    assert_non_null(strstr(text, "segstream_g 0.30000000000000004\n"));
    assert_non_null(strstr(text, "segstream_x_total 0\n"));
    free(text);
    segstream_metrics_free(m);
}

static void *hammer(void *arg)
{
    segstream_stage_metrics *sm = arg;
    for (int i = 0; i < 20000; i++) {
        segstream_counter_add(sm->events_in, 1);
        segstream_histogram_observe(sm->batch_size, (double)(i % 300));
        segstream_gauge_add(sm->users_tracked, 1);
    }
    return NULL;
}

static void server_endpoints(void **state)
{
    (void)state;
    segstream_log_set_level(SEGSTREAM_LOG_ERROR);
    segstream_metrics *m = segstream_metrics_new();
    segstream_stage_metrics sm;
    segstream_err err = {{0}};
    assert_int_equal(segstream_stage_metrics_register(m, "0.1.0", &sm, &err), 0);
    segstream_counter_add(sm.events_out, 5);
    segstream_counter_add(segstream_metric_with(sm.dead_letters, "DECODE"), 2);
    const char *const lag[] = {"interest-changes", "3", NULL};
    segstream_gauge_set(segstream_metric_series(sm.consumer_lag, lag), 1234);
    segstream_histogram_observe(sm.encode_seconds, 0.004);
    segstream_histogram_observe(sm.encode_seconds, 0.2);

    segstream_http_options opts = segstream_http_default_options();
    opts.listen = "127.0.0.1:0";
    opts.metrics = m;
    segstream_http_server *srv = NULL;
    if (segstream_http_start(&opts, &srv, &err) < 0)
        fail_msg("%s", err.message);
    int port = segstream_http_port(srv);
    assert_true(port > 0 && port < 65536);

    pthread_t t;
    pthread_create(&t, NULL, hammer, &sm);
    for (int i = 0; i < 5; i++) { /* scrapes while the counters move */
        reply r = fetch(port, "/metrics", NULL);
        assert_int_equal(r.status, 200);
        check_exposition(r.body);
        free(r.body);
    }
    pthread_join(t, NULL);

    reply r = fetch(port, "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    parsed p = check_exposition(r.body);
    assert_true(p.n_fam >= 15);
    static const char *const expected[] = {
        "segstream_build_info{version=\"0.1.0\"} 1\n",
        "segstream_events_in_total 20000\n",
        "segstream_events_out_total 5\n",
        "segstream_dead_letters_total{reason=\"DECODE\"} 2\n",
        "segstream_consumer_lag{topic=\"interest-changes\",partition=\"3\"} 1234\n",
        "segstream_batch_events_count 20000\n",
        "segstream_batch_events_bucket{le=\"+Inf\"} 20000\n",
        "segstream_batch_events_bucket{le=\"1\"} 134\n", /* i % 300 in {0, 1}: 67 each */
        "segstream_users_tracked 20000\n",
        "segstream_encode_seconds_bucket{le=\"0.005\"} 1\n",
        "segstream_encode_seconds_bucket{le=\"0.25\"} 2\n",
        "segstream_encode_seconds_count 2\n",
        "# TYPE segstream_encoder_cache_hits_total counter\nsegstream_encoder_cache_hits_total 0\n",
        "# TYPE segstream_model_version gauge\n",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (!strstr(r.body, expected[i]))
            fail_msg("/metrics lacks: %s", expected[i]);
    free(r.body);

    r = fetch(port, "/healthz", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    free(r.body);
    r = fetch(port, "/readyz", NULL);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "starting\n");
    free(r.body);
    segstream_http_set_ready(srv, true, NULL);
    r = fetch(port, "/readyz", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ready\n");
    free(r.body);
    segstream_http_set_ready(srv, false, "rebalancing: partitions revoked\nsecond line dropped");
    r = fetch(port, "/readyz", NULL);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "rebalancing: partitions revoked\n");
    free(r.body);
    segstream_http_set_alive(srv, false);
    r = fetch(port, "/healthz", NULL);
    assert_int_equal(r.status, 503);
    free(r.body);
    r = fetch(port, "/nothing", NULL);
    assert_int_equal(r.status, 404);
    free(r.body);
    r = fetch(port, "/metrics", "POST");
    assert_int_equal(r.status, 405);
    free(r.body);

    /* The same port again: refused with the setting, the cause and the fix, in one line. */
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    opts.listen = listen;
    segstream_http_server *second = NULL;
    assert_int_equal(segstream_http_start(&opts, &second, &err), -1);
    assert_null(second);
    if (!strstr(err.message, listen) || !strstr(err.message, "metrics.listen = ") ||
        !strstr(err.message, "address is in use") || !strstr(err.message, "set metrics.listen to a free port") ||
        strchr(err.message, '\n'))
        fail_msg("%s", err.message);

    segstream_http_stop(srv);
    segstream_metrics_free(m);
    segstream_log_set_level(SEGSTREAM_LOG_INFO);
}

static void stalled_loop_fails_healthz(void **state)
{
    (void)state;
    segstream_http_options opts = segstream_http_default_options();
    opts.listen = "127.0.0.1:0";
    opts.stall_timeout_ms = 50;
    segstream_http_server *srv = NULL;
    segstream_err err = {{0}};
    assert_int_equal(segstream_http_start(&opts, &srv, &err), 0);
    int port = segstream_http_port(srv);
    nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
    reply r = fetch(port, "/healthz", NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "stalled: no progress for"));
    free(r.body);
    segstream_http_heartbeat(srv);
    r = fetch(port, "/healthz", NULL);
    assert_int_equal(r.status, 200);
    free(r.body);
    r = fetch(port, "/metrics", NULL); /* no registry: an empty page */
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    free(r.body);
    segstream_http_stop(srv);
}

static void disabled_and_bad_listen(void **state)
{
    (void)state;
    segstream_http_options opts = segstream_http_default_options();
    segstream_http_server *srv = (segstream_http_server *)&opts;
    segstream_err err = {{0}};
    opts.listen = "";
    assert_int_equal(segstream_http_start(&opts, &srv, &err), 0);
    assert_null(srv);
    segstream_http_stop(NULL);
    opts.listen = "nohostport";
    assert_int_equal(segstream_http_start(&opts, &srv, &err), -1);
    assert_non_null(strstr(err.message, "metrics.listen = nohostport"));
    opts.listen = "[::1]:0"; /* IPv6 loopback, when the machine has it */
    if (segstream_http_start(&opts, &srv, &err) == 0) {
        assert_true(segstream_http_port(srv) > 0);
        segstream_http_stop(srv);
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry_rules),
        cmocka_unit_test(server_endpoints),
        cmocka_unit_test(stalled_loop_fails_healthz),
        cmocka_unit_test(disabled_and_bad_listen),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

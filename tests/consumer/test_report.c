/* test_report.c - the report's parts without a browser: PCA against a plane
 * of known geometry, life-cycle inference (split, merge, retirement) from a
 * hand-made catalog, example texts and change bins, and the HTML writer's
 * escaping of every string that comes from data. */
#include "consumer/report.h"
#include "consumer/report_html.h"
#include "consumer/report_pca.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

enum { D = 384 };

/* A unit vector along a fixed pseudo-random direction number `k`. */
static void direction(float *v, int k)
{
    uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(k + 1);
    double n = 0;
    for (int i = 0; i < D; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        v[i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
        n += (double)v[i] * v[i];
    }
    for (int i = 0; i < D; i++)
        v[i] = (float)(v[i] / sqrt(n));
}

static void pca_recovers_a_known_plane(void **state)
{
    (void)state;
    /* Points m + u p + w q with p, q orthonormal: PCA must give back (u, w)
     * centred, up to sign, and their variances. */
    float p[D], q[D], m[D];
    direction(p, 1), direction(q, 2), direction(m, 3);
    double pq = 0;
    for (int i = 0; i < D; i++)
        pq += (double)p[i] * q[i];
    for (int i = 0; i < D; i++)
        q[i] = (float)(q[i] - pq * p[i]);
    double qn = 0;
    for (int i = 0; i < D; i++)
        qn += (double)q[i] * q[i];
    for (int i = 0; i < D; i++)
        q[i] = (float)(q[i] / sqrt(qn));
    static const double u[] = {-3, -1, 0.5, 2, 1.5, 0}, w[] = {0.4, -0.8, 0.9, -0.2, 0.1, -0.4};
    enum { N = 6 };
    float x[N * D];
    double mu = 0, mw = 0;
    for (int r = 0; r < N; r++) {
        mu += u[r] / N, mw += w[r] / N;
        for (int i = 0; i < D; i++)
            x[r * D + i] = (float)(m[i] + u[r] * p[i] + w[r] * q[i]);
    }
    double xy[2 * N], var[2];
    segstream_err err = {{0}};
    assert_int_equal(segstream_pca2(x, N, D, xy, var, &err), 0);
    /* The data has rank 2: the projection must keep every distance, and the
     * variances must be the eigenvalues of the 2 x 2 covariance of (u, w). */
    double cuu = 0, cww = 0, cuw = 0;
    for (int r = 0; r < N; r++)
        cuu += (u[r] - mu) * (u[r] - mu) / N, cww += (w[r] - mw) * (w[r] - mw) / N,
            cuw += (u[r] - mu) * (w[r] - mw) / N;
    double half = (cuu + cww) / 2, disc = sqrt((cuu - cww) * (cuu - cww) / 4 + cuw * cuw);
    assert_true(fabs(var[0] - (half + disc)) < 1e-4 && fabs(var[1] - (half - disc)) < 1e-4);
    for (int a = 0; a < N; a++)
        for (int b = a + 1; b < N; b++) {
            double want = hypot(u[a] - u[b], w[a] - w[b]);
            double got = hypot(xy[2 * a] - xy[2 * b], xy[2 * a + 1] - xy[2 * b + 1]);
            assert_true(fabs(want - got) < 1e-4);
        }
    /* Axis 1 is the direction of largest spread: here mostly u. */
    double along = 0;
    for (int r = 0; r < N; r++)
        along += xy[2 * r] * (u[r] - mu);
    assert_true(fabs(along) > 0.9 * cuu * N);
    /* The sign rule: the farthest point along each axis is positive. */
    for (int k = 0; k < 2; k++) {
        int far = 0;
        for (int r = 1; r < N; r++)
            if (fabs(xy[2 * r + k]) > fabs(xy[2 * far + k]) + 1e-9)
                far = r;
        assert_true(xy[2 * far + k] > 0);
    }
    /* Degenerate inputs: one point, identical points. */
    assert_int_equal(segstream_pca2(x, 1, D, xy, var, &err), 0);
    assert_true(xy[0] == 0 && xy[1] == 0);
    memcpy(x + D, x, D * sizeof *x);
    assert_int_equal(segstream_pca2(x, 2, D, xy, var, &err), 0);
    assert_true(xy[0] == 0 && xy[2] == 0 && var[0] == 0);
}

/* A catalog record; centroid direction k (or none when k < 0). */
static void add_seg(segstream_report *r, int64_t id, int active, double size, int64_t parent, int64_t t,
                    int64_t version, int k, const char *label0)
{
    segstream_segment s = {.segment_id = id, .status = active ? SEGSTREAM_SEGMENT_ACTIVE : SEGSTREAM_SEGMENT_RETIRED,
                           .size = size, .has_parent = parent >= 0, .parent = parent, .created_time = t,
                           .updated_time = t, .model_version = version};
    float c[D];
    char *label[2] = {(char *)label0, (char *)"movies"};
    if (label0)
        s.label = label, s.label_count = 2;
    if (k >= 0) {
        direction(c, k);
        s.has_centroid = true, s.centroid = c, s.centroid_len = D;
    }
    segstream_err err = {{0}};
    if (segstream_report_add_segment(r, &s, &err))
        fail_msg("%s", err.message);
}

static void add_change(segstream_report *r, const char *user, int64_t t, int64_t prev, int64_t seg,
                       segstream_cause cause, int64_t offset)
{
    segstream_segment_change c = {.event_id = (char *)"e", .user_id = (char *)user, .event_time = t,
                                  .has_previous_segment = prev >= 0, .previous_segment = prev,
                                  .has_segment = seg >= 0, .segment = seg, .cause = cause,
                                  .source_topic = (char *)"in", .source_offset = offset};
    segstream_err err = {{0}};
    if (segstream_report_add_change(r, &c, &err))
        fail_msg("%s", err.message);
}

static void add_event(segstream_report *r, const char *user, int64_t t, const char *text, int64_t position)
{
    segstream_interest_change e = {.event_id = (char *)"x", .user_id = (char *)user, .event_time = t,
                                   .op = SEGSTREAM_OP_ADD, .text = (char *)text};
    segstream_err err = {{0}};
    if (segstream_report_add_event(r, &e, position, &err))
        fail_msg("%s", err.message);
}

static const int64_t DAY = 86400000;

/* Bootstrap 1..4 at day 1; at day 2: 4 retires small, 3 merges into 1 (its
 * centroid is 1's), 2 splits into 5 and 6; the final catalog repeats. */
static segstream_report *sample_report(void)
{
    segstream_report *r = segstream_report_new(NULL);
    assert_non_null(r);
    add_seg(r, 1, 1, 40, -1, DAY, 1, 10, "<b>drama</b>");
    add_seg(r, 2, 1, 30, -1, DAY, 1, 11, "comedy");
    add_seg(r, 3, 1, 20, -1, DAY, 1, 10, "drama");
    add_seg(r, 4, 1, 10, -1, DAY, 1, 12, "horror");
    add_seg(r, 4, 0, 0.5, -1, 2 * DAY, 2, -1, "horror");   /* under 0.05 * 90 / 4 */
    add_seg(r, 3, 0, 20, -1, 2 * DAY, 3, -1, "drama");     /* big: a merge */
    add_seg(r, 2, 0, 30, -1, 2 * DAY, 4, -1, "comedy");
    add_seg(r, 5, 1, 12, 2, 2 * DAY, 4, 13, "romance");
    add_seg(r, 6, 1, 18, 2, 2 * DAY, 4, 14, "satire");
    add_seg(r, 1, 1, 60, -1, 2 * DAY, 4, 10, "<b>drama</b>");
    for (int id = 1; id <= 6; id++) /* the final catalog: repeats of the last records */
        if (id != 2 && id != 3 && id != 4)
            add_seg(r, id, 1, id == 1 ? 60 : id == 5 ? 12 : 18, id == 1 ? -1 : 2, 2 * DAY, 4, id == 1 ? 10 : 12 + id - 4,
                    id == 1 ? "<b>drama</b>" : id == 5 ? "romance" : "satire");
    add_change(r, "u1", DAY + 5, -1, 1, SEGSTREAM_CAUSE_INTEREST_CHANGED, 7);
    add_change(r, "u2", DAY + 6, -1, 5, SEGSTREAM_CAUSE_INTEREST_CHANGED, 8);
    add_change(r, "u2", 2 * DAY, 5, 6, SEGSTREAM_CAUSE_MODEL_UPDATED, 8);
    add_change(r, "u3", 3 * DAY, -1, 5, SEGSTREAM_CAUSE_INTEREST_CHANGED, 9);
    add_change(r, "u4", 3 * DAY + 1, -1, -1, SEGSTREAM_CAUSE_EXPIRED, 9);
    add_event(r, "u1", DAY + 5, "wrong one: same user and time, other line", 6);
    add_event(r, "u1", DAY + 5, "liked: <script>alert(1)</script> & \"quotes\"", 7);
    add_event(r, "u2", DAY + 6, "liked: Notting Hill", 8);
    add_event(r, "u3", 3 * DAY, "liked: Amelie", 9);
    add_event(r, "nobody", 3 * DAY, "no change points here", 10);
    segstream_err err = {{0}};
    if (segstream_report_finish(r, &err))
        fail_msg("%s", err.message);
    return r;
}

static void life_cycle_is_inferred(void **state)
{
    (void)state;
    segstream_report *r = sample_report();
    size_t n;
    const segstream_report_segment *s = segstream_report_segments(r, &n);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s[i].id, (int64_t)i + 1);
    assert_int_equal(s[0].end, SEGSTREAM_REPORT_END_NONE);
    assert_int_equal(s[1].end, SEGSTREAM_REPORT_END_SPLIT);
    assert_int_equal(s[2].end, SEGSTREAM_REPORT_END_MERGED);
    assert_int_equal(s[2].merged_into, 1);
    assert_int_equal(s[3].end, SEGSTREAM_REPORT_END_RETIRED);
    assert_true(s[4].active && s[4].has_parent && s[4].parent == 2);
    /* One point per distinct record: the final catalog adds none. */
    assert_int_equal(s[0].npoints, 2);
    assert_int_equal(s[4].npoints, 1);
    assert_true(s[0].on_map && s[4].on_map && s[5].on_map && !s[1].on_map);
    const segstream_report_totals *t = segstream_report_get_totals(r);
    assert_int_equal(t->max_active, 4);
    assert_int_equal(t->model_version, 4);
    assert_int_equal(t->changes, 5);
    assert_int_equal(t->changes_by_cause[SEGSTREAM_CAUSE_INTEREST_CHANGED], 3);
    /* Members: u1 in 1, u2 in 6 (moved by the model), u3 in 5; u4 expired. */
    assert_int_equal(s[0].members, 1);
    assert_int_equal(s[4].members, 1);
    assert_int_equal(s[5].members, 1);
    /* Examples: the event at the change's source offset, not its twin. */
    assert_int_equal(s[0].nexamples, 1);
    assert_string_equal(s[0].examples[0], "liked: <script>alert(1)</script> & \"quotes\"");
    /* 5: u3's latest text (a member), then u2's move in (since gone to 6). */
    assert_int_equal(s[4].nexamples, 2);
    assert_string_equal(s[4].examples[0], "liked: Amelie");
    assert_string_equal(s[4].examples[1], "liked: Notting Hill");
    assert_int_equal(s[5].nexamples, 1); /* u2 is a member of 6 */
    size_t nb;
    int64_t width;
    const segstream_report_bin *b = segstream_report_bins(r, &nb, &width);
    int64_t total = 0;
    for (size_t i = 0; i < nb; i++)
        for (int k = 0; k < 4; k++)
            total += b[i].count[k];
    assert_int_equal(total, 5);
    assert_true(nb <= 80 && width > 0 && b[0].start <= DAY + 5);
    segstream_report_free(r);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void html_escapes_everything_from_data(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    segstream_html_escape(f, "a<b>&\"c'\x01\xff\tz");
    fclose(f);
    assert_string_equal(buf, "a&lt;b&gt;&amp;&quot;c&#39;\xef\xbf\xbd\tz");
    free(buf);

    segstream_report *r = sample_report();
    f = open_memstream(&buf, &len);
    segstream_report_html_options o = {.title = "t <i>", .source = "file \"x\" <y>"};
    segstream_err err = {{0}};
    assert_int_equal(segstream_report_write_html(r, &o, f, &err), 0);
    fclose(f);
    assert_int_equal(count(buf, "<script"), 1);            /* ours only */
    assert_int_equal(count(buf, "<b>"), 0);
    assert_true(count(buf, "&lt;b&gt;drama&lt;/b&gt;") >= 2); /* map label and table */
    assert_int_equal(count(buf, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"), 1);
    assert_int_equal(count(buf, "<g class=\"map-seg\""), 3);
    assert_int_equal(count(buf, "class=\"seg-row\""), 3);
    assert_int_equal(count(buf, "class=\"event event-merge\""), 1);
    assert_int_equal(count(buf, "class=\"event event-split\""), 1);
    assert_int_equal(count(buf, "class=\"event event-retire\""), 1);
    assert_int_equal(count(buf, "class=\"event event-split-birth\""), 2);
    assert_int_equal(count(buf, "t &lt;i&gt;"), 2);
    assert_int_equal(count(buf, "file &quot;x&quot; &lt;y&gt;"), 1);
    /* Self-contained: nothing is fetched. */
    assert_int_equal(count(buf, "http:"), 0);
    assert_int_equal(count(buf, "https:"), 0);
    assert_int_equal(count(buf, " src="), 0);
    assert_int_equal(count(buf, " href="), 0);
    free(buf);
    segstream_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pca_recovers_a_known_plane),
        cmocka_unit_test(life_cycle_is_inferred),
        cmocka_unit_test(html_escapes_everything_from_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

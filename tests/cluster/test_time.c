/* test_time.c - panes and decay against a hand computation, the watermark,
 * late and too-late events, future skew, bad input reasons, option checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#define D 4

static segstream_cluster_options small_options(void)
{
    segstream_cluster_options o = segstream_cluster_default_options();
    o.dim = D;
    o.k = 2;
    o.pane_ms = 1000;
    o.window_ms = 4000;
    o.half_life_ms = 1000;
    o.allowed_lateness_ms = 0;
    o.max_future_skew_ms = 10000;
    o.init_sample = 2;
    o.kmeans_restarts = 1;
    o.retire_share = 0; /* keep both segments whatever their size */
    o.merge_cosine = 1;
    return o;
}

static int send(segstream_cluster *c, recorder *r, const char *user, int axis, int64_t t,
                segstream_cluster_reject *rj)
{
    float v[D];
    t_axis(D, axis, v);
    segstream_cluster_event ev = {user, SEGSTREAM_CLUSTER_OP_SET, v, NULL, 0, t, 0};
    segstream_cluster_sink sink = rec_sink(r);
    segstream_err err = {{0}};
    int rc = segstream_cluster_update(c, &ev, &sink, rj, &err);
    assert_int_not_equal(rc, -1);
    return rc;
}

static void decay_matches_hand_computation(void **state)
{
    (void)state;
    segstream_cluster_options o = small_options();
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    assert_non_null(c);
    recorder r = {0};
    segstream_cluster_reject rj;
    assert_int_equal(send(c, &r, "a", 0, 0, &rj), 0);   /* pane 0 */
    assert_int_equal(send(c, &r, "b", 1, 100, &rj), 0); /* pane 0: bootstrap (2 events) */
    int64_t s0 = segstream_cluster_user_segment(c, "a", NULL), s1 = segstream_cluster_user_segment(c, "b", NULL);
    assert_true(s0 >= 1 && s1 >= 1 && s0 != s1);
    assert_int_equal(send(c, &r, "c", 0, 500, &rj), 0);  /* pane 0: seg(e0) count 2 */
    assert_int_equal(send(c, &r, "d", 0, 1000, &rj), 0); /* pane 1: update at t=1000 first */
    /* at t=1000 pane 0 (ends 1000) weighs 1: seg(e0) = 2, the event of pane 1 comes after */
    assert_near(r.size[s0], 2.0, 1e-9);
    assert_near(r.size[s1], 1.0, 1e-9);
    assert_int_equal(send(c, &r, "e", 1, 2500, &rj), 0); /* pane 2: update at t=2500 */
    /* pane 0: 0.5^1.5 * 2, pane 1 (ends 2000): 0.5^0.5 * 1 */
    assert_near(r.size[s0], 2 * pow(0.5, 1.5) + pow(0.5, 0.5), 1e-6);
    assert_near(r.size[s1], pow(0.5, 1.5), 1e-6);
    /* a late event inside the window counts in its pane (pane 1) */
    assert_int_equal(send(c, &r, "f", 0, 1500, &rj), 0);
    assert_int_equal(send(c, &r, "g", 1, 4500, &rj), 0); /* window now panes 1..4: pane 0 dropped whole */
    assert_near(r.size[s0], 2 * pow(0.5, 2.5), 1e-6);
    assert_near(r.size[s1], pow(0.5, 1.5), 1e-6); /* "e" in pane 2, ends 3000 */
    /* pane 0 left the window: too late */
    assert_int_equal(send(c, &r, "h", 0, 999, &rj), 1);
    assert_int_equal(rj.reason, SEGSTREAM_REJECT_TOO_LATE);
    assert_string_equal(segstream_cluster_reject_name(rj.reason), "TOO_LATE");
    assert_int_equal(send(c, &r, "h", 0, 1000, &rj), 0); /* pane 1 still in */
    /* beyond max event time + skew */
    assert_int_equal(send(c, &r, "i", 0, 4500 + 10001, &rj), 1);
    assert_int_equal(rj.reason, SEGSTREAM_REJECT_TOO_FAR_FUTURE);
    assert_int_equal(send(c, &r, "i", 0, 4500 + 10000, &rj), 0);
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c, &st);
    assert_int_equal(st.max_event_time, 14500);
    assert_int_equal(st.watermark, 14500);
    rec_free(&r);
    segstream_cluster_free(c);
}

static void watermark_lags_by_lateness(void **state)
{
    (void)state;
    segstream_cluster_options o = small_options();
    o.allowed_lateness_ms = 1500;
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    assert_non_null(c);
    recorder r = {0};
    segstream_cluster_reject rj;
    send(c, &r, "a", 0, 10000, &rj);
    send(c, &r, "b", 1, 10100, &rj);
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c, &st);
    assert_int_equal(st.watermark, 8600);
    /* window = panes of the watermark (8) back 4: 5..8; pane 4 is too late, 5 is not */
    assert_int_equal(send(c, &r, "c", 0, 4999, &rj), 1);
    assert_int_equal(rj.reason, SEGSTREAM_REJECT_TOO_LATE);
    assert_int_equal(send(c, &r, "c", 0, 5000, &rj), 0);
    /* an older event never moves time back */
    segstream_cluster_get_stats(c, &st);
    assert_int_equal(st.max_event_time, 10100);
    rec_free(&r);
    segstream_cluster_free(c);
}

static void bad_input_is_refused_with_a_reason(void **state)
{
    (void)state;
    segstream_cluster_options o = small_options();
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    recorder r = {0};
    segstream_cluster_sink sink = rec_sink(&r);
    segstream_cluster_reject rj;
    float v[D] = {1, 0, 0, 0};
    struct {
        segstream_cluster_event ev;
        segstream_cluster_reject_reason want;
        float bad;
    } cases[] = {
        {{"u", SEGSTREAM_CLUSTER_OP_SET, v, NULL, 0, 0, 0}, SEGSTREAM_REJECT_BAD_VECTOR, NAN},
        {{"u", SEGSTREAM_CLUSTER_OP_SET, v, NULL, 0, 0, 0}, SEGSTREAM_REJECT_BAD_VECTOR, INFINITY},
        {{"u", SEGSTREAM_CLUSTER_OP_ADD, v, NULL, 0, 0, 0}, SEGSTREAM_REJECT_ZERO_VECTOR, 0},
        {{"u", 7, v, NULL, 0, 0, 0}, SEGSTREAM_REJECT_BAD_OP, 1},
        {{"", SEGSTREAM_CLUSTER_OP_SET, v, NULL, 0, 0, 0}, SEGSTREAM_REJECT_BAD_USER, 1},
        {{NULL, SEGSTREAM_CLUSTER_OP_SET, v, NULL, 0, 0, 0}, SEGSTREAM_REJECT_BAD_USER, 1},
        {{"u", SEGSTREAM_CLUSTER_OP_SET, NULL, NULL, 0, 0, 0}, SEGSTREAM_REJECT_BAD_VECTOR, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        v[0] = cases[i].bad;
        assert_int_equal(segstream_cluster_update(c, &cases[i].ev, &sink, &rj, &err), 1);
        assert_int_equal(rj.reason, cases[i].want);
        assert_true(strlen(rj.message) > 5);
    }
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c, &st);
    assert_int_equal(st.bootstrap_buffered, 0); /* nothing refused was kept */
    assert_int_equal(st.max_event_time, INT64_MIN);
    rec_free(&r);
    segstream_cluster_free(c);
}

static void options_are_validated_by_name(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    segstream_cluster_options o = segstream_cluster_default_options();
    assert_int_equal(segstream_cluster_options_validate(&o, &err), 0);
    o.k = 0;
    assert_int_equal(segstream_cluster_options_validate(&o, &err), -1);
    assert_non_null(strstr(err.message, "k = 0"));
    assert_non_null(strstr(err.message, "range"));
    o = segstream_cluster_default_options();
    o.window_ms = o.pane_ms * 3 + 1;
    assert_int_equal(segstream_cluster_options_validate(&o, &err), -1);
    assert_non_null(strstr(err.message, "window_ms"));
    o = segstream_cluster_default_options();
    o.hysteresis = -0.1;
    assert_int_equal(segstream_cluster_options_validate(&o, &err), -1);
    assert_non_null(strstr(err.message, "hysteresis"));
    o = segstream_cluster_default_options();
    o.init_sample = o.k - 1;
    assert_int_equal(segstream_cluster_options_validate(&o, &err), -1);
    assert_non_null(strstr(err.message, "init_sample"));
    assert_null(segstream_cluster_create(&o, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decay_matches_hand_computation),
        cmocka_unit_test(watermark_lags_by_lateness),
        cmocka_unit_test(bad_input_is_refused_with_a_reason),
        cmocka_unit_test(options_are_validated_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_labels.c - segment labels by c-TF-IDF on a small handmade corpus:
 * distinctive words win, shared words and stop words (English, Chinese) lose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cluster/internal.h"
#include "helpers.h"

#define D 8

static int has(const recorder *r, int64_t id, const char *word)
{
    for (int i = 0; i < r->n_label[id]; i++)
        if (!strcmp(r->label[id][i], word))
            return 1;
    return 0;
}

static void labels_from_a_handmade_corpus(void **state)
{
    (void)state;
    segstream_cluster_options o = segstream_cluster_default_options();
    o.dim = D;
    o.k = 2;
    o.pane_ms = 1000;
    o.window_ms = 10000;
    o.half_life_ms = 10000;
    o.allowed_lateness_ms = 0;
    o.init_sample = 4;
    o.kmeans_restarts = 1;
    o.merge_cosine = 1;
    o.label_terms = 3;
    o.label_table_size = 16;
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    recorder r = {0};
    segstream_cluster_sink sink = rec_sink(&r);
    const char *docs[2][4][6] = {
        {{"The", "Python", "pandas", "dataframe", "的", "data"},
         {"python", "numpy", "array", "and", "the", "data"},
         {"pandas", "groupby", "in", "python", "data", "是"},
         {"Python", "pandas", "merge", "of", "a", "data"}},
        {{"the", "football", "match", "goal", "data", "的"},
         {"football", "league", "goal", "and", "data", "x"},
         {"a", "goal", "in", "the", "football", "final"},
         {"football", "match", "referee", "2024", "data", "是"}},
    };
    float v[D];
    uint64_t s = 1;
    for (int round = 0; round < 10; round++)
        for (int topic = 0; topic < 2; topic++)
            for (int dnum = 0; dnum < 4; dnum++) {
                t_vector(&s, D, topic, 0.05, v);
                char user[32];
                snprintf(user, sizeof user, "u%d", round * 8 + topic * 4 + dnum);
                segstream_cluster_event ev = {user, SEGSTREAM_CLUSTER_OP_SET, v, docs[topic][dnum], 6,
                                              (int64_t)round * 500 + topic * 10 + dnum, 0};
                segstream_cluster_reject rj;
                assert_int_equal(segstream_cluster_update(c, &ev, &sink, &rj, &err), 0);
            }
    /* one more event closes the pane: labels are computed at model updates */
    t_vector(&s, D, 0, 0.05, v);
    segstream_cluster_event ev = {"late", SEGSTREAM_CLUSTER_OP_SET, v, NULL, 0, 6000, 0};
    segstream_cluster_reject rj;
    assert_int_equal(segstream_cluster_update(c, &ev, &sink, &rj, &err), 0);
    int64_t py = segstream_cluster_user_segment(c, "u0", NULL), fb = segstream_cluster_user_segment(c, "u4", NULL);
    assert_true(py > 0 && fb > 0 && py != fb);
    assert_int_equal(r.n_label[py], 3);
    assert_int_equal(r.n_label[fb], 3);
    assert_true(has(&r, py, "python") && has(&r, py, "pandas"));
    assert_true(has(&r, fb, "football") && has(&r, fb, "goal"));
    /* "data" is frequent in both classes: the class-based IDF ranks it below
     * the distinctive words (python side: as frequent as "python", yet after
     * "python" and "pandas"; football side: below the rarer "match") */
    assert_string_equal(r.label[py][0], "python");
    assert_string_equal(r.label[py][1], "pandas");
    assert_false(has(&r, fb, "data"));
    assert_true(has(&r, fb, "match"));
    for (int64_t id = 1; id <= 2; id++)
        for (int i = 0; i < r.n_label[id]; i++) {
            assert_false(cl_is_stopword(r.label[id][i]));
            assert_true(strcmp(r.label[id][i], "2024") && strcmp(r.label[id][i], "x"));
        }
    rec_free(&r);
    segstream_cluster_free(c);
}

static void stop_words(void **state)
{
    (void)state;
    assert_true(cl_stopwords_sorted());
    assert_true(cl_is_stopword("the"));
    assert_true(cl_is_stopword("的"));
    assert_true(cl_is_stopword("没有"));
    assert_false(cl_is_stopword("python"));
    assert_false(cl_is_stopword("数据"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(labels_from_a_handmade_corpus),
        cmocka_unit_test(stop_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

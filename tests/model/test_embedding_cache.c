/* test_embedding_cache.c - the LRU text -> embedding cache: hits, misses, recency, eviction. */
#include "model/embedding_cache.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#define DIM 3

static void put(segstream_embedding_cache *c, const char *text, float x)
{
    const float v[DIM] = {x, x + 1, x + 2};
    assert_int_equal(segstream_embedding_cache_put(c, text, strlen(text), v), 0);
}

/* The cached first component of text, or -1 when absent. */
static float get(segstream_embedding_cache *c, const char *text)
{
    float v[DIM];
    if (!segstream_embedding_cache_get(c, text, strlen(text), v))
        return -1;
    assert_true(v[1] == v[0] + 1 && v[2] == v[0] + 2);
    return v[0];
}

static void hits_and_misses_are_counted(void **state)
{
    (void)state;
    segstream_embedding_cache *c = segstream_embedding_cache_create(4, DIM);
    assert_true(get(c, "a") == -1);
    put(c, "a", 1);
    assert_true(get(c, "a") == 1);
    assert_true(get(c, "b") == -1);
    assert_int_equal(segstream_embedding_cache_hits(c), 1);
    assert_int_equal(segstream_embedding_cache_misses(c), 2);
    segstream_embedding_cache_destroy(c);
}

static void least_recently_used_is_evicted(void **state)
{
    (void)state;
    segstream_embedding_cache *c = segstream_embedding_cache_create(3, DIM);
    put(c, "a", 1);
    put(c, "b", 2);
    put(c, "c", 3);
    assert_true(get(c, "a") == 1); /* a is now the most recent: b is the oldest */
    put(c, "d", 4);
    assert_int_equal(segstream_embedding_cache_size(c), 3);
    assert_true(get(c, "b") == -1);
    assert_true(get(c, "c") == 3); /* order now (old -> new): a d c */
    put(c, "e", 5);                /* evicts a */
    assert_true(get(c, "a") == -1);
    assert_true(get(c, "d") == 4);
    assert_true(get(c, "c") == 3);
    assert_true(get(c, "e") == 5);
    segstream_embedding_cache_destroy(c);
}

static void put_of_a_cached_text_replaces_and_refreshes(void **state)
{
    (void)state;
    segstream_embedding_cache *c = segstream_embedding_cache_create(2, DIM);
    put(c, "a", 1);
    put(c, "b", 2);
    put(c, "a", 10); /* a replaced and most recent: b is the oldest */
    put(c, "c", 3);
    assert_int_equal(segstream_embedding_cache_size(c), 2);
    assert_true(get(c, "a") == 10);
    assert_true(get(c, "b") == -1);
    segstream_embedding_cache_destroy(c);
}

static void texts_are_compared_by_all_their_bytes(void **state)
{
    (void)state;
    segstream_embedding_cache *c = segstream_embedding_cache_create(8, DIM);
    const char with_nul[] = {'a', '\0', 'b'};
    float v[DIM] = {7, 8, 9}, out[DIM];
    assert_int_equal(segstream_embedding_cache_put(c, with_nul, 3, v), 0);
    assert_int_equal(segstream_embedding_cache_get(c, with_nul, 1, out), 0); /* "a" is another text */
    assert_int_equal(segstream_embedding_cache_get(c, with_nul, 3, out), 1);
    put(c, "", 20); /* the empty text is a text */
    assert_true(get(c, "") == 20);
    segstream_embedding_cache_destroy(c);
}

/* Many entries through a capacity-1 and a larger cache: chains and list stay consistent. */
static void churn_keeps_the_structure_consistent(void **state)
{
    (void)state;
    for (size_t cap = 1; cap <= 64; cap *= 8) {
        segstream_embedding_cache *c = segstream_embedding_cache_create(cap, DIM);
        char text[32];
        for (int i = 0; i < 5000; i++) {
            snprintf(text, sizeof text, "text %d", i % 300);
            if (get(c, text) == -1)
                put(c, text, (float)(i % 300));
        }
        assert_int_equal(segstream_embedding_cache_size(c), cap);
        for (int i = 4999; i > 4999 - (int)cap; i--) { /* the last cap distinct texts are present */
            snprintf(text, sizeof text, "text %d", i % 300);
            assert_true(get(c, text) == (float)(i % 300));
        }
        segstream_embedding_cache_destroy(c);
    }
    assert_null(segstream_embedding_cache_create(0, DIM));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hits_and_misses_are_counted),
        cmocka_unit_test(least_recently_used_is_evicted),
        cmocka_unit_test(put_of_a_cached_text_replaces_and_refreshes),
        cmocka_unit_test(texts_are_compared_by_all_their_bytes),
        cmocka_unit_test(churn_keeps_the_structure_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_partition_merge.c - the cross-partition order of the stage: the same
 * partition contents give the same released sequence however their items
 * arrive interleaved (random arrival orders, pops at random moments), offset
 * order inside each partition always holds, an empty partition that is not
 * caught up holds the others back, a caught-up one only for idle_ms, a
 * finished one never; undecodable items inherit their predecessor's time. */
#include "consumer/partition_merge.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

enum { PARTS = 4, PER = 300 };

typedef struct item {
    int partition;
    int offset;
    int64_t time;
} item;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_random(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* Partition contents: mostly increasing times, some late events, ties. */
static void make_items(item items[PARTS][PER])
{
    for (int p = 0; p < PARTS; p++) {
        int64_t t = 1000;
        for (int o = 0; o < PER; o++) {
            t += (int64_t)(next_random() % 5); /* ties happen */
            int64_t time = next_random() % 10 == 0 ? t - (int64_t)(next_random() % 50) : t;
            items[p][o] = (item){p, o, time};
        }
    }
}

/* Feeds every item in a random arrival order (offset order kept per
 * partition), popping at random moments; partitions are reported caught up
 * once all their items arrived. Writes the released sequence to out. */
static void run_once(item items[PARTS][PER], const item **out, int64_t idle_ms)
{
    segstream_merge *m = segstream_merge_new();
    assert_non_null(m);
    int next[PARTS] = {0};
    int released = 0, fed = 0;
    int64_t now = 0;
    for (int p = 0; p < PARTS; p++)
        assert_int_equal(segstream_merge_add_partition(m, "in", p), 0);
    while (released < PARTS * PER) {
        now++;
        if (fed < PARTS * PER && next_random() % 3) {
            int p = (int)(next_random() % PARTS);
            while (next[p] == PER)
                p = (p + 1) % PARTS;
            item *it = &items[p][next[p]++];
            assert_int_equal(segstream_merge_push(m, "in", p, it->time, it), 0);
            fed++;
            if (next[p] == PER)
                segstream_merge_caught_up(m, "in", p, now);
        } else {
            int burst = (int)(next_random() % 20);
            for (int i = 0; i < burst; i++) {
                const item *it = segstream_merge_pop(m, now + idle_ms, idle_ms);
                if (!it)
                    break;
                out[released++] = it;
            }
        }
    }
    assert_null(segstream_merge_pop(m, now + idle_ms, idle_ms));
    assert_int_equal(segstream_merge_buffered(m), 0);
    segstream_merge_free(m, NULL);
}

static void test_order_independent_of_arrival(void **state)
{
    (void)state;
    static item items[PARTS][PER];
    make_items(items);
    static const item *first[PARTS * PER], *again[PARTS * PER];
    run_once(items, first, 0);
    /* offset order inside each partition */
    int last[PARTS];
    for (int p = 0; p < PARTS; p++)
        last[p] = -1;
    for (int i = 0; i < PARTS * PER; i++) {
        assert_int_equal(first[i]->offset, last[first[i]->partition] + 1);
        last[first[i]->partition] = first[i]->offset;
    }
    for (int round = 0; round < 20; round++) {
        run_once(items, again, 0);
        assert_memory_equal(first, again, sizeof first);
    }
}

/* With in-order partitions the merge is a sort by (time, partition). */
static void test_in_order_partitions_sort_by_time(void **state)
{
    (void)state;
    static item items[PARTS][PER];
    for (int p = 0; p < PARTS; p++)
        for (int o = 0; o < PER; o++)
            items[p][o] = (item){p, o, (int64_t)o * 7 + (int64_t)((p * 3) % 5)};
    static const item *out[PARTS * PER];
    run_once(items, out, 0);
    for (int i = 1; i < PARTS * PER; i++) {
        assert_true(out[i - 1]->time <= out[i]->time);
        if (out[i - 1]->time == out[i]->time)
            assert_true(out[i - 1]->partition < out[i]->partition);
    }
}

static void test_empty_partition_holds_back(void **state)
{
    (void)state;
    segstream_merge *m = segstream_merge_new();
    item a = {0, 0, 10}, b = {1, 0, 5};
    segstream_merge_add_partition(m, "in", 0);
    segstream_merge_add_partition(m, "in", 1);
    segstream_merge_push(m, "in", 0, a.time, &a);
    assert_null(segstream_merge_pop(m, 100, 0)); /* partition 1 not fetched yet */
    segstream_merge_caught_up(m, "in", 1, 100);
    assert_null(segstream_merge_pop(m, 150, 1000)); /* caught up, but waited for */
    segstream_merge_push(m, "in", 1, b.time, &b); /* arrives in time: comes first */
    assert_ptr_equal(segstream_merge_pop(m, 160, 1000), &b);
    assert_null(segstream_merge_pop(m, 160, 1000)); /* partition 1 empty again, not caught up */
    segstream_merge_caught_up(m, "in", 1, 170);
    assert_null(segstream_merge_pop(m, 1169, 1000));
    assert_ptr_equal(segstream_merge_pop(m, 1170, 1000), &a);
    assert_int_equal(segstream_merge_buffered(m), 0);
    segstream_merge_free(m, NULL);
}

static void test_finished_partition_never_blocks(void **state)
{
    (void)state;
    segstream_merge *m = segstream_merge_new();
    item a = {0, 0, 10};
    segstream_merge_add_partition(m, "in", 1);
    segstream_merge_push(m, "in", 0, a.time, &a);
    assert_false(segstream_merge_all_finished(m));
    assert_null(segstream_merge_pop(m, 0, 1000000));
    segstream_merge_finished(m, "in", 1);
    assert_ptr_equal(segstream_merge_pop(m, 0, 1000000), &a);
    segstream_merge_finished(m, "in", 0);
    assert_true(segstream_merge_all_finished(m));
    segstream_merge_free(m, NULL);
}

static void test_inherit_time(void **state)
{
    (void)state;
    segstream_merge *m = segstream_merge_new();
    item a = {0, 0, 50}, bad = {0, 1, 0}, c = {1, 0, 40}, d = {1, 1, 60};
    segstream_merge_push(m, "in", 0, a.time, &a);
    segstream_merge_push(m, "in", 0, SEGSTREAM_MERGE_INHERIT_TIME, &bad); /* time 50 */
    segstream_merge_push(m, "in", 1, c.time, &c);
    segstream_merge_push(m, "in", 1, d.time, &d);
    segstream_merge_caught_up(m, "in", 0, 0);
    segstream_merge_caught_up(m, "in", 1, 0);
    const item *want[] = {&c, &a, &bad, &d};
    for (int i = 0; i < 4; i++)
        assert_ptr_equal(segstream_merge_pop(m, 0, 0), want[i]);
    segstream_merge_free(m, NULL);
}

static int frees;
static void count_free(void *item)
{
    (void)item;
    frees++;
}

static void test_clear_frees_buffered(void **state)
{
    (void)state;
    segstream_merge *m = segstream_merge_new();
    item a = {0, 0, 1};
    for (int i = 0; i < 200; i++) /* grows the ring past its first size */
        segstream_merge_push(m, "in", i % 3, i, &a);
    assert_int_equal(segstream_merge_partition_buffered(m, "in", 1), 67);
    frees = 0;
    segstream_merge_clear(m, count_free);
    assert_int_equal(frees, 200);
    assert_int_equal(segstream_merge_buffered(m), 0);
    segstream_merge_push(m, "in", 0, 1, &a);
    segstream_merge_free(m, count_free);
    assert_int_equal(frees, 201);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_independent_of_arrival),
        cmocka_unit_test(test_in_order_partitions_sort_by_time),
        cmocka_unit_test(test_empty_partition_holds_back),
        cmocka_unit_test(test_finished_partition_never_blocks),
        cmocka_unit_test(test_inherit_time),
        cmocka_unit_test(test_clear_frees_buffered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

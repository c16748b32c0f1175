#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void set_formats_and_returns_minus_one(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    assert_int_equal(segstream_err_set(&err, "key %s: %d out of range", "cluster.k", 0), -1);
    assert_string_equal(err.message, "key cluster.k: 0 out of range");
}

static void prefix_adds_context(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    segstream_err_set(&err, "bad shape");
    segstream_err_prefix(&err, "tensor %s", "embeddings.word_embeddings.weight");
    assert_string_equal(err.message, "tensor embeddings.word_embeddings.weight: bad shape");
}

static void long_messages_are_truncated_not_overflowed(void **state)
{
    (void)state;
    segstream_err err;
    char big[2 * SEGSTREAM_ERR_MESSAGE_MAX];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    segstream_err_set(&err, "%s", big);
    assert_int_equal(strlen(err.message), SEGSTREAM_ERR_MESSAGE_MAX - 1);
    segstream_err_prefix(&err, "ctx");
    assert_int_equal(strlen(err.message), SEGSTREAM_ERR_MESSAGE_MAX - 1);
    assert_int_equal(segstream_err_set(NULL, "ignored"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_formats_and_returns_minus_one),
        cmocka_unit_test(prefix_adds_context),
        cmocka_unit_test(long_messages_are_truncated_not_overflowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

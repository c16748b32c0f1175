/* XXH64 against values printed by the reference implementation (Python
 * xxhash 3.5.0, xxh64_intdigest): the hash is stored in snapshot headers and
 * state-topic manifests, so a change would make every stored state unreadable. */
#include "common/hash64.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

typedef struct {
    const char *what;
    uint64_t seed, want;
} vector;

static void fill(uint8_t *b, const char *what, size_t *len)
{
    if (!strcmp(what, "bytes0-255x3")) { /* every length class: stripes, 8, 4, 1 */
        for (size_t i = 0; i < 768; i++)
            b[i] = (uint8_t)i;
        *len = 768;
    } else if (!strcmp(what, "x*31")) {
        memset(b, 'x', 31), *len = 31;
    } else if (!strcmp(what, "y*32")) {
        memset(b, 'y', 32), *len = 32;
    } else if (!strcmp(what, "z*37")) {
        memset(b, 'z', 37), *len = 37;
    } else if (!strcmp(what, "digits*100")) {
        for (size_t i = 0; i < 1000; i++)
            b[i] = (uint8_t)('0' + i % 10);
        *len = 1000;
    } else {
        *len = strlen(what);
        memcpy(b, what, *len);
    }
}

static void matches_the_reference(void **state)
{
    (void)state;
    static const vector v[] = {
        {"", 0, 0xef46db3751d8e999ULL},           {"", 12345, 0x95584af7701f808dULL},
        {"a", 0, 0xd24ec4f1a98c6e5bULL},          {"a", 12345, 0x747b860523d69ab6ULL},
        {"abc", 0, 0x44bc2cf5ad770999ULL},        {"abc", 12345, 0x01700e64f6f23509ULL},
        {"bytes0-255x3", 0, 0x8e03c838c596036fULL}, {"bytes0-255x3", 12345, 0x6ecac135863f12b2ULL},
        {"x*31", 0, 0x60dd0d01083b99f0ULL},       {"x*31", 12345, 0xc3e8c4eac532c4bfULL},
        {"y*32", 0, 0x64da1f1d3495ce66ULL},       {"y*32", 12345, 0xc1b47b7b18d508ceULL},
        {"z*37", 0, 0x8fef2fa6ee2d279cULL},       {"z*37", 12345, 0x0d16b81e9b8ac40bULL},
        {"digits*100", 0, 0x8a3a907285a08a17ULL}, {"digits*100", 12345, 0x40d812bdf8e7c658ULL},
    };
    uint8_t b[1000];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        size_t len;
        fill(b, v[i].what, &len);
        if (segstream_xxh64(b, len, v[i].seed) != v[i].want)
            fail_msg("xxh64(%s, seed %llu) = %016llx, want %016llx", v[i].what, (unsigned long long)v[i].seed,
                     (unsigned long long)segstream_xxh64(b, len, v[i].seed), (unsigned long long)v[i].want);
    }
}

static void reads_unaligned_input(void **state)
{
    (void)state;
    uint8_t b[1100];
    size_t len;
    fill(b + 1, "digits*100", &len); /* one byte off the alignment of the test above */
    assert_true(segstream_xxh64(b + 1, len, 0) == 0x8a3a907285a08a17ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_the_reference),
        cmocka_unit_test(reads_unaligned_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* fuzz_model_log.c - libFuzzer target for the model topic's records
 * (consumer/model_log.h), which every instance of a scale-out group reads
 * and applies. The checksum is fixed up after mutation (else nearly every
 * mutation stops there); the raw bytes are tried too. Checks: a record that
 * is refused changes nothing; one that is taken gives deltas of the
 * partitions it named, within the input; a complete barrier's pane is one
 * a record wanted. Seeds: tests/fuzz/corpus/model_log (make_seeds). */
#include "common/hash64.h"
#include "consumer/model_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTITIONS 3

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_model_log: %s\n", what);
    abort();
}

static void try_record(const uint8_t *data, size_t size)
{
    segstream_model_log *log = segstream_model_log_new("fuzz", PARTITIONS);
    if (!log)
        abort();
    segstream_err err = {{0}};
    int rc = segstream_model_log_add(log, data, size, 41, &err);
    if (rc < 0 && (segstream_model_log_started(log) || !err.message[0]))
        fail("a refused record left deltas behind, or no message");
    size_t n = 0, given = 0;
    const segstream_stage_delta *d = segstream_model_log_deltas(log, &n);
    if (n != PARTITIONS)
        fail("deltas of another partition count");
    for (size_t i = 0; i < n; i++) {
        if (d[i].partition != (int32_t)i)
            fail("a delta in the wrong place");
        if (d[i].bytes) {
            given++;
            if (d[i].len > size)
                fail("a delta longer than the record");
        }
    }
    if ((rc == 1) != (given == PARTITIONS) || (rc == 1 && segstream_model_log_end(log) != 42))
        fail("completion does not match the deltas given");
    segstream_model_log_expect(log, 1); /* drops what was kept */
    if (segstream_model_log_started(log))
        fail("expect kept deltas");
    segstream_model_log_free(log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_record(data, size);
    if (size < 12)
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    uint64_t sum = segstream_xxh64(copy, size - 8, 0);
    for (int i = 0; i < 8; i++)
        copy[size - 8 + i] = (uint8_t)(sum >> (8 * i));
    if (memcmp(copy, data, size))
        try_record(copy, size);
    free(copy);
    return 0;
}

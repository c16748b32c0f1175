/* fuzz_safetensors.c - libFuzzer target for the safetensors reader: the
 * bytes as a .safetensors file (8-byte header length, JSON header, data).
 * segstream_safetensors_open only takes a path and maps the file, so the
 * input goes through a memory file (fuzz_input_file.h) and is mapped for
 * real. Whatever opens must describe tensors that lie inside the file:
 * every tensor is looked up by name and read whole (converted to float32
 * when it is a float type), so ASan sees any byte past the mapping.
 * Seeds: tests/fuzz/corpus/safetensors (make_seeds). */
#include "model/safetensors.h"

#include "fuzz_input_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile unsigned bytes_read; /* keeps the reads below from being optimised away */

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_safetensors: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_file file;
    fuzz_input_file_open(&file, data, size);
    segstream_err err = {{0}};
    segstream_safetensors *st = segstream_safetensors_open(file.path, &err);
    if (st) {
        size_t n = segstream_safetensors_count(st);
        for (size_t i = 0; i < n; i++) {
            const segstream_st_tensor *t = segstream_safetensors_at(st, i);
            if (segstream_safetensors_find(st, t->name) != t)
                fail("a tensor is not found by its own name");
            if (t->nbytes != (size_t)t->count * segstream_st_dtype_size(t->dtype))
                fail("byte size does not match the shape");
            for (size_t b = 0; b < t->nbytes; b++) /* every byte inside the mapping */
                bytes_read += ((const unsigned char *)t->data)[b];

            if (t->count <= (1 << 20)) {
                float *f = malloc((size_t)(t->count ? t->count : 1) * sizeof *f);
                if (f && segstream_st_to_f32(t, f, &err) < 0 && t->dtype <= SEGSTREAM_ST_BF16)
                    fail("a float tensor did not convert");
                free(f);
            }
            segstream_safetensors_advise_random(st, t);
            segstream_safetensors_release(st, t);
        }
        segstream_safetensors_close(st);
    }
    fuzz_input_file_close(&file);
    return 0;
}

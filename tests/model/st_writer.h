/* st_writer.h - writes .safetensors files for tests (valid ones, and ones broken on purpose). */
#ifndef SEGSTREAM_TESTS_ST_WRITER_H
#define SEGSTREAM_TESTS_ST_WRITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_tensor {
    const char *name;
    const char *dtype; /* as written in the header: "F32", "F16", ... */
    int ndim;
    int64_t shape[4];
    const void *data; /* nbytes of it */
    size_t nbytes;
} st_tensor;

/* Writes header + data, tensors back to back in the given order. Returns 0 or -1. */
int st_write(const char *path, const st_tensor *t, size_t n);

/* Writes raw bytes (a file of any content). Returns 0 or -1. */
int st_write_raw(const char *path, const void *bytes, size_t len);

/* float32 -> IEEE half / bfloat16 (round to nearest even; no NaN handling needed here). */
uint16_t st_f32_to_f16(float f);
uint16_t st_f32_to_bf16(float f);

#endif

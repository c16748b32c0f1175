/* safetensors.h - read-only access to a .safetensors file (Hugging Face weights).
 *
 * The file is mapped read-only with mmap, never read into memory: a tensor's
 * bytes are used in place when their type and alignment allow, so only the
 * pages a caller touches become resident. The format is an 8-byte
 * little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets: [begin, end]}, "__metadata__": {...}}, then the data bytes.
 * Opening validates everything the header claims before anything is
 * dereferenced: dtype known, shape sane, byte size = product(shape) * dtype
 * size, offsets inside the data and not overlapping another tensor. A corrupt
 * or truncated file gives an error naming the file and the tensor, never a
 * read outside the mapping. */
#ifndef SEGSTREAM_MODEL_SAFETENSORS_H
#define SEGSTREAM_MODEL_SAFETENSORS_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

#define SEGSTREAM_ST_MAX_DIMS 8

typedef enum segstream_st_dtype {
    SEGSTREAM_ST_F64 = 0,
    SEGSTREAM_ST_F32 = 1,
    SEGSTREAM_ST_F16 = 2,
    SEGSTREAM_ST_BF16 = 3,
    SEGSTREAM_ST_I64 = 4,
    SEGSTREAM_ST_I32 = 5,
    SEGSTREAM_ST_I16 = 6,
    SEGSTREAM_ST_I8 = 7,
    SEGSTREAM_ST_U8 = 8,
    SEGSTREAM_ST_BOOL = 9,
} segstream_st_dtype;

typedef struct segstream_st_tensor {
    const char *name;                     /* owned by the file object */
    segstream_st_dtype dtype;
    int ndim;                             /* 0 (a scalar) .. SEGSTREAM_ST_MAX_DIMS */
    int64_t shape[SEGSTREAM_ST_MAX_DIMS]; /* shape[0..ndim-1] */
    int64_t count;                        /* product of shape: number of elements */
    const void *data;                     /* into the mapping; nbytes long */
    size_t nbytes;
} segstream_st_tensor;

typedef struct segstream_safetensors segstream_safetensors;

/* Maps and validates the file at path. Returns NULL with err set (naming the
 * file, and the tensor where one is at fault) if it cannot be opened or is not
 * a valid safetensors file. The caller owns the result: segstream_safetensors_close. */
segstream_safetensors *segstream_safetensors_open(const char *path, segstream_err *err);

/* Unmaps the file; every tensor pointer obtained from it becomes invalid. NULL is a no-op. */
void segstream_safetensors_close(segstream_safetensors *st);

/* The path given to open (owned by st). */
const char *segstream_safetensors_path(const segstream_safetensors *st);

/* Number of tensors, and the i-th in data-offset order (i < count). */
size_t segstream_safetensors_count(const segstream_safetensors *st);
const segstream_st_tensor *segstream_safetensors_at(const segstream_safetensors *st, size_t i);

/* The tensor with this exact name, or NULL. */
const segstream_st_tensor *segstream_safetensors_find(const segstream_safetensors *st,
                                                      const char *name);

/* Bytes per element of a dtype, and its name as the header spells it ("F32"). */
size_t segstream_st_dtype_size(segstream_st_dtype dtype);
const char *segstream_st_dtype_name(segstream_st_dtype dtype);

/* Converts a floating-point tensor (F32, F16, BF16, F64) to float32 into
 * out[0..t->count-1]. Returns 0, or -1 with err set for non-float dtypes. */
int segstream_st_to_f32(const segstream_st_tensor *t, float *out, segstream_err *err);

/* Tells the kernel the tensor's pages will not be needed again (after a copy
 * was made), so they stop counting in the process's resident memory. They
 * stay readable: a later access reads them back from the page cache. */
void segstream_safetensors_release(const segstream_safetensors *st, const segstream_st_tensor *t);

/* Tells the kernel the tensor will be read at random (rows looked up by
 * token id): no read-ahead, so only rows actually used become resident. */
void segstream_safetensors_advise_random(const segstream_safetensors *st, const segstream_st_tensor *t);

#endif

/* safetensors.c - maps a .safetensors file and validates its header before use.
 *
 * Every number in the JSON header is checked against the file size and the
 * other tensors before a tensor is exposed, so later code can trust
 * t->data[0..nbytes) to lie inside the mapping. Tensors are kept sorted by
 * their data offset, which makes the overlap check a single pass. */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Real headers are a few hundred KiB at most; this only bounds the JSON parse. */
#define HEADER_MAX ((uint64_t)100 << 20)

struct segstream_safetensors {
    char *path;
    void *map; /* NULL when the file is empty of data (size 0 cannot be mapped) */
    size_t size;
    const unsigned char *data; /* first byte after the header */
    size_t data_size;
    segstream_st_tensor *tensors; /* sorted by data offset */
    size_t count;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [SEGSTREAM_ST_F64] = {"F64", 8}, [SEGSTREAM_ST_F32] = {"F32", 4},
    [SEGSTREAM_ST_F16] = {"F16", 2}, [SEGSTREAM_ST_BF16] = {"BF16", 2},
    [SEGSTREAM_ST_I64] = {"I64", 8}, [SEGSTREAM_ST_I32] = {"I32", 4},
    [SEGSTREAM_ST_I16] = {"I16", 2}, [SEGSTREAM_ST_I8] = {"I8", 1},
    [SEGSTREAM_ST_U8] = {"U8", 1},   [SEGSTREAM_ST_BOOL] = {"BOOL", 1},
};

size_t segstream_st_dtype_size(segstream_st_dtype dtype)
{
    return (unsigned)dtype < sizeof dtypes / sizeof dtypes[0] ? dtypes[dtype].size : 0;
}

const char *segstream_st_dtype_name(segstream_st_dtype dtype)
{
    return (unsigned)dtype < sizeof dtypes / sizeof dtypes[0] ? dtypes[dtype].name : "?";
}

static int dtype_parse(const char *s, segstream_st_dtype *out)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(s, dtypes[i].name)) {
            *out = (segstream_st_dtype)i;
            return 0;
        }
    return -1;
}

/* Reads one tensor entry; on success t holds everything but `data`, and
 * begin/end are its offsets, already checked against the data size. */
static int parse_tensor(const char *name, json_t *entry, size_t data_size, segstream_st_tensor *t,
                        uint64_t *begin, uint64_t *end, segstream_err *err)
{
    if (!json_is_object(entry))
        return segstream_err_set(err, "tensor '%s': header entry is not an object", name);
    json_t *dtype = json_object_get(entry, "dtype");
    json_t *shape = json_object_get(entry, "shape");
    json_t *offsets = json_object_get(entry, "data_offsets");
    if (!json_is_string(dtype))
        return segstream_err_set(err, "tensor '%s': missing or non-string \"dtype\"", name);
    if (dtype_parse(json_string_value(dtype), &t->dtype))
        return segstream_err_set(err, "tensor '%s': unknown dtype '%s'", name,
                                 json_string_value(dtype));
    if (!json_is_array(shape) || json_array_size(shape) > SEGSTREAM_ST_MAX_DIMS)
        return segstream_err_set(err, "tensor '%s': \"shape\" must be an array of at most %d sizes",
                                 name, SEGSTREAM_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    t->count = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *v = json_array_get(shape, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return segstream_err_set(err, "tensor '%s': shape[%d] is not a size", name, d);
        t->shape[d] = json_integer_value(v);
        if (t->shape[d] && t->count > INT64_MAX / t->shape[d])
            return segstream_err_set(err, "tensor '%s': shape overflows", name);
        t->count *= t->shape[d];
    }
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        !json_is_integer(json_array_get(offsets, 0)) || !json_is_integer(json_array_get(offsets, 1)))
        return segstream_err_set(err, "tensor '%s': \"data_offsets\" must be [begin, end]", name);
    json_int_t b = json_integer_value(json_array_get(offsets, 0));
    json_int_t e = json_integer_value(json_array_get(offsets, 1));
    if (b < 0 || e < b)
        return segstream_err_set(err, "tensor '%s': data_offsets [%lld, %lld] are not a range",
                                 name, (long long)b, (long long)e);
    if ((uint64_t)e > data_size)
        return segstream_err_set(err,
                                 "tensor '%s': data_offsets [%lld, %lld] end beyond the %zu data "
                                 "bytes of the file (truncated?)",
                                 name, (long long)b, (long long)e, data_size);
    size_t esize = segstream_st_dtype_size(t->dtype);
    if ((uint64_t)t->count > UINT64_MAX / esize || (uint64_t)t->count * esize != (uint64_t)(e - b))
        return segstream_err_set(err,
                                 "tensor '%s': %lld %s elements need %llu bytes but data_offsets "
                                 "[%lld, %lld] hold %lld",
                                 name, (long long)t->count, segstream_st_dtype_name(t->dtype),
                                 (unsigned long long)((uint64_t)t->count * esize), (long long)b,
                                 (long long)e, (long long)(e - b));
    t->nbytes = (size_t)(e - b);
    *begin = (uint64_t)b;
    *end = (uint64_t)e;
    return 0;
}

struct span {
    uint64_t begin, end;
    size_t index;
};

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int parse_header(segstream_safetensors *st, const char *json, size_t len, segstream_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return segstream_err_set(err, "header is not valid JSON (line %d, column %d: %s)",
                                 jerr.line, jerr.column, jerr.text);
    int rc = -1;
    struct span *spans = NULL;
    segstream_st_tensor *unsorted = NULL;
    if (!json_is_object(root)) {
        segstream_err_set(err, "header is not a JSON object");
        goto out;
    }
    size_t n = json_object_size(root) - (json_object_get(root, "__metadata__") != NULL);
    unsorted = calloc(n ? n : 1, sizeof *unsorted);
    spans = calloc(n ? n : 1, sizeof *spans);
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    if (!unsorted || !spans || !st->tensors) {
        segstream_err_set(err, "out of memory for %zu tensors", n);
        goto out;
    }
    const char *key;
    json_t *value;
    size_t i = 0;
    json_object_foreach(root, key, value) {
        if (!strcmp(key, "__metadata__"))
            continue;
        if (parse_tensor(key, value, st->data_size, &unsorted[i], &spans[i].begin, &spans[i].end,
                         err))
            goto out;
        unsorted[i].name = strdup(key);
        if (!unsorted[i].name) {
            segstream_err_set(err, "out of memory");
            goto out;
        }
        spans[i].index = i;
        i++;
    }
    qsort(spans, n, sizeof *spans, span_cmp);
    for (size_t k = 0; k < n; k++) {
        segstream_st_tensor *t = &unsorted[spans[k].index];
        /* Empty tensors occupy no bytes and may sit anywhere. */
        for (size_t p = k; p-- > 0 && spans[k].begin < spans[k].end;) {
            if (spans[p].begin == spans[p].end)
                continue;
            if (spans[p].end > spans[k].begin) {
                segstream_err_set(err, "tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s'",
                                  t->name, (unsigned long long)spans[k].begin,
                                  (unsigned long long)spans[k].end,
                                  st->tensors[p].name); /* already moved there */
                goto out;
            }
            break;
        }
        t->data = st->data + spans[k].begin;
        st->tensors[k] = *t;
        st->count = k + 1; /* close() frees what was moved, even if a later one fails */
        t->name = NULL;
    }
    rc = 0;
out:
    if (unsorted)
        for (size_t k = 0; k < n; k++)
            free((char *)unsorted[k].name);
    free(unsorted);
    free(spans);
    json_decref(root);
    return rc;
}

segstream_safetensors *segstream_safetensors_open(const char *path, segstream_err *err)
{
    segstream_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        segstream_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        segstream_err_set(err, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        segstream_err_set(err, "%s: not a regular file", path);
        close(fd);
        goto fail;
    }
    st->size = (size_t)sb.st_size;
    if (st->size < 8) {
        segstream_err_set(err, "%s: %zu bytes is too short for a safetensors file", path, st->size);
        close(fd);
        goto fail;
    }
    st->map = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (st->map == MAP_FAILED) {
        st->map = NULL;
        segstream_err_set(err, "%s: mmap: %s", path, strerror(errno));
        goto fail;
    }
    const unsigned char *bytes = st->map;
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = header_len << 8 | bytes[i];
    if (header_len > st->size - 8 || header_len > HEADER_MAX) {
        segstream_err_set(err, "%s: header length %llu goes beyond the file's %zu bytes", path,
                          (unsigned long long)header_len, st->size);
        goto fail;
    }
    st->data = bytes + 8 + header_len;
    st->data_size = st->size - 8 - (size_t)header_len;
    if (parse_header(st, (const char *)bytes + 8, (size_t)header_len, err)) {
        segstream_err_prefix(err, "%s", path);
        goto fail;
    }
    return st;
fail:
    segstream_safetensors_close(st);
    return NULL;
}

void segstream_safetensors_close(segstream_safetensors *st)
{
    if (!st)
        return;
    if (st->map)
        munmap(st->map, st->size);
    if (st->tensors)
        for (size_t i = 0; i < st->count; i++)
            free((char *)st->tensors[i].name);
    free(st->tensors);
    free(st->path);
    free(st);
}

const char *segstream_safetensors_path(const segstream_safetensors *st)
{
    return st->path;
}

size_t segstream_safetensors_count(const segstream_safetensors *st)
{
    return st->count;
}

const segstream_st_tensor *segstream_safetensors_at(const segstream_safetensors *st, size_t i)
{
    return i < st->count ? &st->tensors[i] : NULL;
}

const segstream_st_tensor *segstream_safetensors_find(const segstream_safetensors *st,
                                                      const char *name)
{
    for (size_t i = 0; i < st->count; i++)
        if (!strcmp(st->tensors[i].name, name))
            return &st->tensors[i];
    return NULL;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | mant << 13; /* inf, nan */
    } else if (exp) {
        bits = sign | (exp + 112) << 23 | mant << 13;
    } else if (mant) { /* subnormal: normalise */
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (mant & 0x3ff) << 13;
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int segstream_st_to_f32(const segstream_st_tensor *t, float *out, segstream_err *err)
{
    const unsigned char *p = t->data;
    size_t n = (size_t)t->count;
    switch (t->dtype) {
    case SEGSTREAM_ST_F32:
        memcpy(out, p, n * sizeof *out);
        return 0;
    case SEGSTREAM_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, sizeof d);
            out[i] = (float)d;
        }
        return 0;
    case SEGSTREAM_ST_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, sizeof h);
            out[i] = half_to_float(h);
        }
        return 0;
    case SEGSTREAM_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, sizeof h);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&out[i], &bits, sizeof bits);
        }
        return 0;
    default:
        return segstream_err_set(err, "tensor '%s': dtype %s is not a floating-point type", t->name,
                                 segstream_st_dtype_name(t->dtype));
    }
}

/* Applies advice to the whole pages inside the tensor (a neighbour tensor may
 * share the first and last page). */
static void advise(const segstream_safetensors *st, const segstream_st_tensor *t, int advice)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t begin = (uintptr_t)t->data, end = begin + t->nbytes;
    begin = (begin + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    end &= ~((uintptr_t)page - 1);
    if (st->map && end > begin)
        madvise((void *)begin, end - begin, advice);
}

void segstream_safetensors_release(const segstream_safetensors *st, const segstream_st_tensor *t)
{
    advise(st, t, MADV_DONTNEED);
}

void segstream_safetensors_advise_random(const segstream_safetensors *st, const segstream_st_tensor *t)
{
    advise(st, t, MADV_RANDOM);
}

/* bench_int8_gemm.c - the packed int8 gemm (model/int8_gemm.h) next to oneDNN's u8 x s8 -> s32 matmul.
 *
 * A benchmark, not a test: it asserts only that both give the same sums.
 * For all-MiniLM-L6-v2's four linear shapes (K x N = 384 x 1152, 384 x 384,
 * 384 x 1536, 1536 x 384) and M rows of random codes, it times each kernel
 * alternately (best of ROUNDS rounds of enough calls to fill about 2 ms - short, so that some
 * rounds fall between the time slices of other processes on a shared box -
 * weights in cache as in the encoder's steady state), at 1 and 2 threads,
 * and prints a Markdown table: microseconds a call and GOPS (2 M K N / t)
 * for the packed kernel and oneDNN (runtime-M primitive, as int8_matmul.c
 * makes it), then the sum of the four shapes x 6 layers, i.e. the integer
 * matmul time of one forward pass.
 * The packed kernel is this CPU's (VNNI where it has it; SEGSTREAM_INT8_GEMM=avx2
 * times the AVX2 one), named above the table.
 * Usage: bench_int8_gemm [M=16] [ROUNDS=30] */
#include "model/dnnl_matmul.h"
#include "model/int8_gemm.h"

#include <dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct shape_run {
    int m, k, n;
    uint8_t *a;
    int8_t *w;
    int32_t *c_packed, *c_dnnl;
    segstream_int8_packed packed;
    dnnl_primitive_t prim;
    dnnl_memory_t a_mem, w_mem, c_mem;
} shape_run;

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static int setup(shape_run *s, int m, int k, int n)
{
    segstream_err err = {{0}};
    memset(s, 0, sizeof *s);
    s->m = m, s->k = k, s->n = n;
    s->a = malloc((size_t)m * k);
    s->w = malloc((size_t)k * n);
    s->c_packed = malloc((size_t)m * n * sizeof(int32_t));
    s->c_dnnl = malloc((size_t)m * n * sizeof(int32_t));
    if (!s->a || !s->w || !s->c_packed || !s->c_dnnl)
        return -1;
    uint32_t r = 7;
    for (size_t i = 0; i < (size_t)m * k; i++)
        s->a[i] = (uint8_t)((r = r * 1664525u + 1013904223u) >> 24);
    for (size_t i = 0; i < (size_t)k * n; i++)
        s->w[i] = (int8_t)((int)((r = r * 1664525u + 1013904223u) >> 25) - 63);
    if (segstream_int8_gemm_pack(&s->packed, s->w, k, n, &err))
        return fprintf(stderr, "%s\n", err.message), -1;
    dnnl_dims_t src_rt = {DNNL_RUNTIME_DIM_VAL, k}, w_dims = {k, n}, dst_rt = {DNNL_RUNTIME_DIM_VAL, n};
    dnnl_dims_t src_dims = {m, k}, dst_dims = {m, n};
    dnnl_memory_desc_t src_md, w_md, dst_md, a_md, c_md;
    dnnl_memory_desc_init_by_tag(&src_md, 2, src_rt, dnnl_u8, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&w_md, 2, w_dims, dnnl_s8, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_rt, dnnl_s32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&a_md, 2, src_dims, dnnl_u8, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&c_md, 2, dst_dims, dnnl_s32, dnnl_ab);
    if (segstream_dnnl_matmul_create(&s->prim, engine, &src_md, &w_md, NULL, &dst_md, NULL, &err) ||
        dnnl_memory_create(&s->a_mem, &a_md, engine, s->a) != dnnl_success ||
        dnnl_memory_create(&s->w_mem, &w_md, engine, s->w) != dnnl_success ||
        dnnl_memory_create(&s->c_mem, &c_md, engine, s->c_dnnl) != dnnl_success)
        return fprintf(stderr, "oneDNN setup failed %s\n", err.message), -1;
    return 0;
}

static void run_packed(shape_run *s, int threads)
{
    segstream_int8_gemm_run(&s->packed, s->a, s->m, s->c_packed, threads);
}

static void run_dnnl(shape_run *s, int threads)
{
    (void)threads; /* omp_set_num_threads before the round */
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, s->a_mem}, {DNNL_ARG_WEIGHTS, s->w_mem}, {DNNL_ARG_DST, s->c_mem}};
    dnnl_primitive_execute(s->prim, stream, 3, args);
    dnnl_stream_wait(stream);
}

/* Best seconds a call over `rounds` rounds of `calls` calls. */
static double best_call(void (*fn)(shape_run *, int), shape_run *s, int threads, int calls, int rounds)
{
    double best = 1e30;
    for (int r = 0; r < rounds; r++) {
        const double t0 = now_s();
        for (int i = 0; i < calls; i++)
            fn(s, threads);
        const double t = (now_s() - t0) / calls;
        best = t < best ? t : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    const int m = argc > 1 ? atoi(argv[1]) : 16, rounds = argc > 2 ? atoi(argv[2]) : 30;
    if (m < 1 || rounds < 1)
        return fprintf(stderr, "usage: bench_int8_gemm [M=16] [ROUNDS=30]\n"), 2;
    if (!segstream_int8_gemm_supported())
        return fprintf(stderr, "this CPU has no AVX2: the packed kernel does not run here\n"), 1;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success)
        return fprintf(stderr, "oneDNN engine failed\n"), 1;
    static const int shapes[4][2] = {{384, 1152}, {384, 384}, {384, 1536}, {1536, 384}};
    shape_run runs[4];
    for (int i = 0; i < 4; i++)
        if (setup(&runs[i], m, shapes[i][0], shapes[i][1]))
            return 1;
    printf("packed kernel: %s\n\n", segstream_int8_gemm_kernel());
    printf("| M x K x N | threads | packed us | packed GOPS | oneDNN us | oneDNN GOPS | oneDNN / packed |\n"
           "|---|---|---|---|---|---|---|\n");
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        double sum_p = 0, sum_d = 0, ops_sum = 0;
        for (int i = 0; i < 4; i++) {
            shape_run *s = &runs[i];
            const double ops = 2.0 * m * s->k * s->n;
            const int calls = (int)(0.002 * 100e9 / ops) + 1; /* ~2 ms: short rounds dodge time slices */
            run_packed(s, threads);
            run_dnnl(s, threads);
            if (memcmp(s->c_packed, s->c_dnnl, (size_t)m * s->n * sizeof(int32_t)))
                return fprintf(stderr, "%dx%dx%d: packed and oneDNN sums differ\n", m, s->k, s->n), 1;
            double tp = 1e30, td = 1e30;
            for (int r = 0; r < rounds; r++) { /* alternate, so that load hits both alike */
                const double p = best_call(run_packed, s, threads, calls, 1);
                const double d = best_call(run_dnnl, s, threads, calls, 1);
                tp = p < tp ? p : tp;
                td = d < td ? d : td;
            }
            printf("| %d x %d x %d | %d | %.1f | %.1f | %.1f | %.1f | %.2fx |\n", m, s->k, s->n, threads, tp * 1e6,
                   ops / tp * 1e-9, td * 1e6, ops / td * 1e-9, td / tp);
            sum_p += 6 * tp;
            sum_d += 6 * td;
            ops_sum += 6 * ops;
        }
        printf("| one forward pass (6 layers x 4) | %d | %.0f | %.1f | %.0f | %.1f | %.2fx |\n", threads, sum_p * 1e6,
               ops_sum / sum_p * 1e-9, sum_d * 1e6, ops_sum / sum_d * 1e-9, sum_d / sum_p);
    }
    for (int i = 0; i < 4; i++) {
        segstream_int8_gemm_free(&runs[i].packed);
        dnnl_memory_destroy(runs[i].a_mem);
        dnnl_memory_destroy(runs[i].w_mem);
        dnnl_memory_destroy(runs[i].c_mem);
        dnnl_primitive_destroy(runs[i].prim);
        free(runs[i].a);
        free(runs[i].w);
        free(runs[i].c_packed);
        free(runs[i].c_dnnl);
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}

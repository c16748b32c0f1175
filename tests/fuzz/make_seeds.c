/* make_seeds.c - writes the fuzz targets' seed corpora from the real code
 * paths: records encoded by the codec in both framings and as bare bodies,
 * their NDJSON lines, Avro container files from the real writer (null and
 * deflate), cluster and pipeline snapshots of a small real model at each
 * stage of its life (empty, bootstrapping, running, after expiry), a
 * pipeline of partition models and the model-topic records of its barriers
 * (scale-out), small
 * safetensors files of every dtype, and tokenizer texts cut from
 * tests/data's hard cases. Small on purpose (dim 8, a few records), so the
 * fuzzer mutates structure rather than bulk.
 *
 * Usage: make_seeds OUT_DIR TESTDATA_DIR   (tests/fuzz/make-seeds.sh runs it
 * into tests/fuzz/corpus). The output is deterministic. */
#include "cluster/cluster.h"
#include "consumer/avro_file.h"
#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/model_log.h"
#include "consumer/pipeline_internal.h"
#include "consumer/stage_cluster.h"
#include "tests/consumer/test_records.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *out_dir;

static void die(const char *what, const segstream_err *err)
{
    fprintf(stderr, "make_seeds: %s%s%s\n", what, err ? ": " : "", err ? err->message : "");
    exit(1);
}

static void path_of(char *buf, size_t cap, const char *target, const char *name)
{
    snprintf(buf, cap, "%s/%s", out_dir, target);
    if (mkdir(buf, 0777) < 0 && errno != EEXIST)
        die(buf, NULL);
    snprintf(buf, cap, "%s/%s/%s", out_dir, target, name);
}

static void write_seed(const char *target, const char *name, const void *data, size_t len)
{
    char path[512];
    path_of(path, sizeof path, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f))
        die(path, NULL);
}

static const char *type_name[] = {"interest_change", "segment_change", "segment"};

static void codec_seeds(void)
{
    segstream_err err = {{0}};
    segstream_codec *codec = segstream_codec_new(NULL, &err);
    if (!codec)
        die("codec", &err);
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        for (int all = 0; all < 2; all++) {
            segstream_record rec;
            sample_record(&rec, (segstream_record_type)t, all);
            if (t == SEGSTREAM_RECORD_SEGMENT && all)
                rec.segment.centroid_len = 8; /* small: the fuzzer should mutate structure, not floats */
            char name[96];
            segstream_buf buf = {0};
            for (int framing = 0; framing < 2; framing++) {
                if (segstream_codec_encode(codec, &rec, (segstream_framing)framing, 1u + (uint32_t)t, &buf, &err))
                    die("encode", &err);
                snprintf(name, sizeof name, "%s_%s_%s.bin", type_name[t], all ? "full" : "nulls",
                         framing ? "confluent" : "single_object");
                write_seed("codec", name, buf.data, buf.len);
            }
            segstream_buf_reset(&buf);
            if (segstream_codec_encode_body(&rec, &buf, &err))
                die("encode body", &err);
            snprintf(name, sizeof name, "%s_%s_body.bin", type_name[t], all ? "full" : "nulls");
            write_seed("codec", name, buf.data, buf.len);
            segstream_buf_free(&buf);

            char *line = segstream_record_to_json(&rec, &err);
            if (!line)
                die("to_json", &err);
            snprintf(name, sizeof name, "%s_%s.json", type_name[t], all ? "full" : "nulls");
            write_seed("json", name, line, strlen(line));
            free(line);

            for (int deflate = 0; deflate < 2; deflate++) {
                char path[512];
                snprintf(name, sizeof name, "%s_%s_%s.avro", type_name[t], all ? "full" : "nulls",
                         deflate ? "deflate" : "null");
                path_of(path, sizeof path, "avro_file", name);
                segstream_avro_file_writer *w =
                    segstream_avro_file_writer_open(path, (segstream_record_type)t, deflate ? "deflate" : "null", &err);
                if (!w)
                    die("avro writer", &err);
                for (int i = 0; i < 3; i++)
                    if (segstream_avro_file_writer_append(w, &rec, &err))
                        die("avro append", &err);
                if (segstream_avro_file_writer_close(w, &err))
                    die("avro close", &err);
            }
            if (t == SEGSTREAM_RECORD_INTEREST_CHANGE && !all) {
                /* 500 equal records: a deflate block that inflates to 50x its
                 * size, so the reader's output buffer has to grow */
                char path[512];
                path_of(path, sizeof path, "avro_file", "interest_change_repeated_deflate.avro");
                segstream_avro_file_writer *w =
                    segstream_avro_file_writer_open(path, SEGSTREAM_RECORD_INTEREST_CHANGE, "deflate", &err);
                if (!w)
                    die("avro writer", &err);
                for (int i = 0; i < 500; i++)
                    if (segstream_avro_file_writer_append(w, &rec, &err))
                        die("avro append", &err);
                if (segstream_avro_file_writer_close(w, &err))
                    die("avro close", &err);
            }
            segstream_record_clear(&rec);
        }
    segstream_codec_free(codec);
}

/* A small real model: dim 8, k 3, 1 s panes in a 4 s window. */
#define DIM 8
static segstream_stage_settings small_settings(void)
{
    segstream_stage_settings s = segstream_stage_default_settings();
    s.k = 3;
    s.init_sample = 6;
    s.pane_ms = 1000;
    s.window_ms = 4000;
    s.half_life_ms = 2000;
    s.allowed_lateness_ms = 500;
    s.label_terms = 2;
    return s;
}

static segstream_stage_cluster *small_model(void)
{
    segstream_err err = {{0}};
    segstream_stage_settings s = small_settings();
    segstream_stage_cluster *c = segstream_stage_cluster_create(&s, DIM, &err);
    if (!c)
        die("cluster", &err);
    return c;
}

/* Event i of the seed streams: one of three directions (three segments), user i % 7,
 * two words of a small vocabulary. */
static void seed_event(int i, float v[DIM], char user[32], const char *words[2])
{
    static const char *vocab[] = {"hiking", "bread", "jazz", "chess", "rust", "tea"};
    memset(v, 0, DIM * sizeof *v);
    v[i % 3] = 1.0f;
    v[3 + i % 5] = 0.25f;
    snprintf(user, 32, "user-%d", i % 7);
    words[0] = vocab[i % 6];
    words[1] = vocab[(i + 1) % 6];
}

static void apply(segstream_stage_cluster *c, int i)
{
    float v[DIM];
    char user[32];
    const char *words[2];
    seed_event(i, v, user, words);
    const char *reason;
    char message[160];
    segstream_err err = {{0}};
    int op = i % 11 == 10 ? 2 : i % 2; /* SET, ADD, now and then DELETE */
    if (segstream_stage_cluster_apply(c, user, op, op == 2 ? NULL : v, words, 2, 1764255600000 + 300 * i, 0, NULL,
                                      &reason, message, &err) < 0)
        die("apply", &err);
}

static void snapshot_seeds(void)
{
    segstream_stage_cluster *c = small_model();
    segstream_pipeline p = {0};
    p.settings = segstream_stage_default_settings();
    p.cluster = c;
    static const struct {
        int events;
        const char *name;
    } stages[] = {{0, "empty"}, {3, "bootstrapping"}, {12, "running"}, {40, "expired"}};
    int applied = 0;
    for (size_t s = 0; s < sizeof stages / sizeof *stages; s++) {
        for (; applied < stages[s].events; applied++) {
            apply(c, applied);
            free(p.last_event_id), free(p.last_topic);
            char id[32];
            snprintf(id, sizeof id, "evt-%d", applied);
            p.last_event_id = strdup(id);
            p.last_topic = strdup("interest-changes");
            p.last_partition = applied % 3;
            p.last_offset = applied;
        }
        /* While bootstrapping, the pipeline queues who each buffered event was. */
        segstream_pipeline_boot_clear(&p);
        if (stages[s].events > 0 && stages[s].events < 6) {
            free(p.boot);
            p.boot = calloc((size_t)applied, sizeof *p.boot);
            for (int i = 0; i < applied; i++) {
                char id[32], user[32];
                snprintf(id, sizeof id, "evt-%d", i);
                snprintf(user, sizeof user, "user-%d", i % 7);
                p.boot[i] = (boot_entry){strdup(id), strdup(user), strdup("interest-changes"), i % 3, i,
                                         1764255600000 + 300 * i};
            }
            p.n_boot = p.cap_boot = (size_t)applied;
        }
        segstream_err err = {{0}};
        uint8_t *blob;
        size_t len;
        char name[64];
        if (segstream_stage_cluster_snapshot(c, &blob, &len, &err))
            die("cluster snapshot", &err);
        snprintf(name, sizeof name, "%s.bin", stages[s].name);
        write_seed("cluster_snapshot", name, blob, len);
        free(blob);
        if (segstream_pipeline_snapshot(&p, &blob, &len, &err))
            die("pipeline snapshot", &err);
        write_seed("pipeline_snapshot", name, blob, len);
        free(blob);
    }
    segstream_pipeline_boot_clear(&p);
    free(p.boot), free(p.last_event_id), free(p.last_topic);
    segstream_stage_cluster_free(c);
}

/* A shared model (cluster/ "Shared model"), one sharer of three shards: running
 * with contributions pending, and between the take of its deltas and the barrier. */
static void shared_snapshot_seeds(void)
{
    segstream_cluster_options o = segstream_cluster_default_options();
    o.dim = DIM;
    o.k = 3;
    o.init_sample = 6;
    o.pane_ms = 1000;
    o.window_ms = 4000;
    o.half_life_ms = 2000;
    o.allowed_lateness_ms = 500;
    o.label_terms = 2;
    o.label_table_size = 4;
    o.reservoir_size = 4;
    o.shared_model = 1;
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    if (!c)
        die("shared cluster", &err);
    for (int i = 0; i < 40; i++) {
        float v[DIM];
        char user[32];
        const char *words[2];
        seed_event(i, v, user, words);
        segstream_cluster_event ev = {user, i % 2, v, words, 2, 1764255600000 + 300 * i, i % 3};
        int rc = segstream_cluster_update(c, &ev, NULL, NULL, &err);
        if (rc == SEGSTREAM_CLUSTER_AT_BARRIER) {
            int64_t pane = segstream_cluster_barrier_wanted(c);
            uint8_t *delta[3];
            size_t n[3];
            for (int s = 0; s < 3; s++)
                if (segstream_cluster_delta_take(c, s, &delta[s], &n[s], &err))
                    die("shared take", &err);
            const uint8_t *given[3] = {delta[0], delta[1], delta[2]};
            rc = segstream_cluster_barrier(c, given, n, 3, pane, 0, NULL, &err);
            for (int s = 0; s < 3; s++)
                free(delta[s]);
            if (rc == 0)
                rc = segstream_cluster_update(c, &ev, NULL, NULL, &err);
        }
        if (rc < 0)
            die("shared update", &err);
    }
    for (int at_barrier = 0; at_barrier < 2; at_barrier++) {
        uint8_t *blob;
        size_t len;
        if (at_barrier) {
            for (int s = 0; s < 3; s++) {
                if (segstream_cluster_delta_take(c, s, &blob, &len, &err))
                    die("shared take", &err);
                free(blob);
            }
        }
        if (segstream_cluster_snapshot(c, &blob, &len, &err))
            die("shared snapshot", &err);
        write_seed("cluster_snapshot", at_barrier ? "shared-at-barrier.bin" : "shared-running.bin", blob, len);
        free(blob);
    }
    segstream_cluster_free(c);
}

/* Scale-out: partition models of partitions 0 and 2 of three, fed until a few
 * barriers went by (their deltas, as model-topic records, are seeds too); the
 * pipeline snapshot while running and while waiting at a barrier. */
static void partition_model_seeds(void)
{
    segstream_err err = {{0}};
    segstream_stage_settings s = small_settings();
    s.shared_model = 1;
    s.partition_models = 1;
    segstream_stage_cluster *c = segstream_stage_cluster_create(&s, DIM, &err);
    const int32_t owned[] = {0, 2};
    if (!c || segstream_stage_cluster_own(c, &s, owned, 2, &err))
        die("partition models", &err);
    segstream_pipeline p = {0};
    p.settings = s;
    p.cluster = c;
    int64_t seq = 0;
    for (int i = 0; i < 40; i++) {
        float v[DIM];
        char user[32];
        const char *words[2];
        seed_event(i, v, user, words);
        const char *reason;
        char message[160];
        int32_t partition = (i % 7) % 2 ? 2 : 0;
        for (;;) {
            int rc = segstream_stage_cluster_apply(c, user, i % 2, v, words, 2, 1764255600000 + 300 * i, partition,
                                                   NULL, &reason, message, &err);
            if (rc < 0)
                die("partition models: apply", &err);
            if (rc != SEGSTREAM_CLUSTER_AT_BARRIER)
                break;
            segstream_stage_delta *d;
            size_t n;
            int64_t wanted;
            if (segstream_stage_cluster_barrier_take(c, &d, &n, &wanted, &err))
                die("partition models: take", &err);
            if (seq == 3) { /* a record of both owned partitions, and one of partition 1 with an empty delta */
                segstream_buf b = {0};
                segstream_stage_delta empty = {1, seq, d[0].bytes, 0};
                if (segstream_model_record_write(&b, "fuzz", seq, wanted, 3, d, n))
                    die("model record", NULL);
                write_seed("model_log", "two-partitions.bin", b.data, b.len);
                segstream_buf_reset(&b);
                if (segstream_model_record_write(&b, "fuzz", seq, INT64_MAX, 3, &empty, 1))
                    die("model record", NULL);
                write_seed("model_log", "idle-partition.bin", b.data, b.len);
                segstream_buf_free(&b);
            }
            long applied;
            if (segstream_stage_cluster_barrier_apply(c, seq, d, n, wanted, 100 + seq, NULL, &applied, &err))
                die("partition models: barrier", &err);
            segstream_stage_deltas_free(d, n);
            seq++;
        }
    }
    for (int waiting = 0; waiting < 2; waiting++) {
        if (waiting) {
            segstream_stage_delta *d;
            size_t n;
            int64_t wanted;
            if (segstream_stage_cluster_barrier_take(c, &d, &n, &wanted, &err))
                die("partition models: take", &err);
            segstream_stage_deltas_free(d, n);
        }
        uint8_t *blob;
        size_t len;
        if (segstream_pipeline_snapshot(&p, &blob, &len, &err))
            die("partition models: snapshot", &err);
        write_seed("pipeline_snapshot", waiting ? "partition-models-waiting.bin" : "partition-models.bin", blob, len);
        free(blob);
    }
    segstream_stage_cluster_free(c);
}

/* A safetensors file: header padded with spaces to 8 bytes, then the data. */
static void safetensors_seed(const char *name, const char *header, const void *data, size_t len)
{
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    uint8_t *b = malloc(8 + padded + len);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', padded - hl);
    if (len)
        memcpy(b + 8 + padded, data, len);
    write_seed("safetensors", name, b, 8 + padded + len);
    free(b);
}

static void safetensors_seeds(void)
{
    uint8_t data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    safetensors_seed("floats.safetensors",
                     "{\"__metadata__\":{\"format\":\"pt\"},"
                     "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                     "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                     "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[32,40]},"
                     "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[40,48]}}",
                     data, 48);
    safetensors_seed("ints.safetensors",
                     "{\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                     "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                     "\"i16\":{\"dtype\":\"I16\",\"shape\":[2,1],\"data_offsets\":[16,20]},"
                     "\"i8\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[20,24]},"
                     "\"u8\":{\"dtype\":\"U8\",\"shape\":[1,1,1,2],\"data_offsets\":[24,26]},"
                     "\"ok\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[26,28]}}",
                     data, 28);
    safetensors_seed("bert_names.safetensors",
                     "{\"embeddings.word_embeddings.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],"
                     "\"data_offsets\":[0,32]},\"encoder.layer.0.attention.self.query.bias\":"
                     "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]}}",
                     data, 40);
    safetensors_seed("empty.safetensors", "{}", NULL, 0);
}

/* Each line of the hard cases as its own seed, plus the invalid UTF-8 file. */
static void tokenizer_seeds(const char *testdata)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer_hard_cases.txt", testdata);
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, NULL);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < 40) {
        size_t len = strcspn(line, "\n");
        if (!len)
            continue;
        char name[32];
        snprintf(name, sizeof name, "hard_%02d.txt", n++);
        write_seed("tokenizer", name, line, len);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer_invalid_utf8.bin", testdata);
    f = fopen(path, "rb");
    if (!f)
        die(path, NULL);
    size_t len = fread(line, 1, sizeof line, f);
    fclose(f);
    write_seed("tokenizer", "invalid_utf8.bin", line, len);
    static const char specials[] = "[CLS] hello [SEP] world [MASK] [UNK] [PAD]";
    write_seed("tokenizer", "specials.txt", specials, sizeof specials - 1);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: make_seeds OUT_DIR TESTDATA_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    codec_seeds();
    snapshot_seeds();
    shared_snapshot_seeds();
    partition_model_seeds();
    safetensors_seeds();
    tokenizer_seeds(argv[2]);
    return 0;
}

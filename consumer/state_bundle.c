/* state_bundle.c - a snapshot bundle as one state-topic snapshot per slice
 * (see state_bundle.h). */
#include "consumer/state_bundle.h"

#include "consumer/pipeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void segstream_state_keys_clear(segstream_state_keys *keys)
{
    for (size_t i = 0; i < keys->n; i++) {
        free(keys->k[i].key);
        segstream_state_stored_clear(&keys->k[i].stored);
        segstream_state_stored_clear(&keys->k[i].writing);
    }
    free(keys->k);
    *keys = (segstream_state_keys){0};
}

void segstream_state_keys_commit(segstream_state_keys *keys)
{
    for (size_t i = 0; i < keys->n; i++) {
        segstream_state_key *k = &keys->k[i];
        if (!k->written)
            continue;
        segstream_state_stored_clear(&k->stored);
        k->stored = k->writing;
        k->writing = (segstream_state_stored){0};
        k->empty = k->stored.known && k->stored.n == 0;
        k->written = false;
    }
}

void segstream_state_keys_abort(segstream_state_keys *keys)
{
    for (size_t i = 0; i < keys->n; i++) {
        segstream_state_stored_clear(&keys->k[i].writing);
        keys->k[i].written = false;
    }
}

static segstream_state_key *key_for(segstream_state_keys *keys, const char *name)
{
    for (size_t i = 0; i < keys->n; i++)
        if (!strcmp(keys->k[i].key, name))
            return &keys->k[i];
    if (keys->n == keys->cap) {
        size_t cap = keys->cap ? 2 * keys->cap : 8;
        segstream_state_key *k = realloc(keys->k, cap * sizeof *k);
        if (!k)
            return NULL;
        keys->k = k, keys->cap = cap;
    }
    segstream_state_key *k = &keys->k[keys->n];
    *k = (segstream_state_key){0};
    if (!(k->key = strdup(name)))
        return NULL;
    keys->n++;
    return k;
}

static void key_name(char *out, size_t cap, const char *group, int32_t partition)
{
    if (partition == SEGSTREAM_SNAPSHOT_MODEL)
        snprintf(out, cap, "%s/model", group);
    else
        snprintf(out, cap, "%s/users/%" PRId32, group, partition);
}

static int write_one(rd_kafka_t *producer, const char *topic, segstream_state_key *k, const uint8_t *data, size_t len,
                     segstream_state_bundle_stats *stats, segstream_err *err)
{
    segstream_state_write_stats st = {0};
    if (segstream_state_write(producer, topic, k->key, data, len, &k->stored, &k->writing, &st, err))
        return -1;
    k->written = true;
    stats->keys++;
    stats->keys_unchanged += st.unchanged;
    stats->sum.bytes_written += st.bytes_written;
    stats->sum.chunks += st.chunks;
    stats->sum.chunks_written += st.chunks_written;
    stats->sum.deletions += st.deletions;
    stats->sum.hash_ms += st.hash_ms;
    stats->sum.produce_ms += st.produce_ms;
    return 0;
}

static int write_bundle(rd_kafka_t *producer, const char *topic, const char *group, const uint8_t *bundle, size_t len,
                        bool parts_only, segstream_state_keys *keys, segstream_state_bundle_stats *stats,
                        segstream_err *err)
{
    segstream_state_bundle_stats none;
    if (!stats)
        stats = &none;
    *stats = (segstream_state_bundle_stats){0};
    segstream_snapshot_slice *sl = NULL;
    size_t n = 0;
    if (segstream_snapshot_slices(bundle, len, &sl, &n, err))
        return segstream_err_prefix(err, "state checkpoint");
    int rc = 0;
    char name[512];
    for (size_t i = 0; !rc && i < n; i++) {
        if (parts_only && sl[i].partition == SEGSTREAM_SNAPSHOT_MODEL)
            continue;
        key_name(name, sizeof name, group, sl[i].partition);
        segstream_state_key *k = key_for(keys, name);
        rc = k ? write_one(producer, topic, k, sl[i].data, sl[i].len, stats, err)
               : segstream_err_set(err, "state checkpoint: out of memory");
    }
    /* user keys this snapshot has no slice for: their partition has no users now (with
     * parts only, every owned partition has its slice and the rest are not ours) */
    for (size_t i = 0; !rc && !parts_only && i < keys->n; i++) {
        segstream_state_key *k = &keys->k[i];
        if (!k->written && !k->empty)
            rc = write_one(producer, topic, k, NULL, 0, stats, err);
    }
    free(sl);
    return rc;
}

int segstream_state_bundle_write(rd_kafka_t *producer, const char *topic, const char *group, const uint8_t *bundle,
                                 size_t len, segstream_state_keys *keys, segstream_state_bundle_stats *stats,
                                 segstream_err *err)
{
    return write_bundle(producer, topic, group, bundle, len, false, keys, stats, err);
}

int segstream_state_bundle_write_parts(rd_kafka_t *producer, const char *topic, const char *group,
                                       const uint8_t *bundle, size_t len, segstream_state_keys *keys,
                                       segstream_state_bundle_stats *stats, segstream_err *err)
{
    return write_bundle(producer, topic, group, bundle, len, true, keys, stats, err);
}

/* "<group>/users/<partition>": the partition, or -1 when name is no user key of group. */
static int64_t user_partition(const char *name, const char *group)
{
    size_t g = strlen(group);
    if (strncmp(name, group, g) || strncmp(name + g, "/users/", 7))
        return -1;
    const char *p = name + g + 7;
    int64_t v = 0;
    if (!*p || strlen(p) > 10)
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v <= INT32_MAX ? v : -1;
}

static bool listed(const int32_t *parts, size_t n, int64_t partition)
{
    for (size_t i = 0; i < n; i++)
        if (parts[i] == partition)
            return true;
    return false;
}

/* only: NULL for every key of the group, else the model slice to use and the partitions to keep */
typedef struct parts_filter {
    const int32_t *parts;
    size_t n;
    const uint8_t *model;
    size_t model_len;
} parts_filter;

static int read_bundle(const rd_kafka_conf_t *conf, const char *topic, const char *group, const parts_filter *only,
                       uint8_t **bundle, size_t *len, segstream_state_keys *keys, int timeout_ms, segstream_err *err)
{
    *bundle = NULL;
    *len = 0;
    segstream_state_keys_clear(keys);
    char base[512], model[512];
    snprintf(base, sizeof base, "%s/", group);
    key_name(model, sizeof model, group, SEGSTREAM_SNAPSHOT_MODEL);
    segstream_state_snapshot *all = NULL;
    size_t n = 0;
    if (segstream_state_read_all(conf, topic, base, &all, &n, timeout_ms, err))
        return -1;
    segstream_snapshot_slice *sl = calloc(n + 1, sizeof *sl);
    size_t n_sl = 1; /* [0]: the model */
    int rc = sl ? 0 : segstream_err_set(err, "state reader: out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        int64_t partition = user_partition(all[i].prefix, group);
        bool is_model = !strcmp(all[i].prefix, model);
        if (!is_model && partition < 0)
            continue; /* not a key of this layout */
        if (only && (is_model || !listed(only->parts, only->n, partition)))
            continue; /* another instance's partition, or the model slice the caller gives */
        if (all[i].error) {
            rc = segstream_err_set(err, "state topic %s, key %s: %s", topic, all[i].prefix, all[i].error);
            break;
        }
        segstream_state_key *k = key_for(keys, all[i].prefix);
        if (!k) {
            rc = segstream_err_set(err, "state reader: out of memory");
            break;
        }
        k->stored = all[i].found.stored; /* what the next write builds on */
        all[i].found.stored = (segstream_state_stored){0};
        k->empty = all[i].len == 0;
        if (is_model)
            sl[0] = (segstream_snapshot_slice){SEGSTREAM_SNAPSHOT_MODEL, all[i].blob, all[i].len};
        else if (all[i].len)
            sl[n_sl++] = (segstream_snapshot_slice){(int32_t)partition, all[i].blob, all[i].len};
    }
    if (!rc && only && n_sl > 1)
        sl[0] = (segstream_snapshot_slice){SEGSTREAM_SNAPSHOT_MODEL, only->model, only->model_len};
    if (!rc && sl[0].data)
        rc = segstream_snapshot_bundle(sl, n_sl, bundle, len, err);
    else if (!rc && n_sl > 1)
        rc = segstream_err_set(err, "state topic %s: users of group %s but no model under %s", topic, group, model);
    free(sl);
    segstream_state_snapshots_free(all, n);
    if (rc)
        segstream_state_keys_clear(keys);
    return rc;
}

int segstream_state_bundle_read(const rd_kafka_conf_t *conf, const char *topic, const char *group, uint8_t **bundle,
                                size_t *len, segstream_state_keys *keys, int timeout_ms, segstream_err *err)
{
    return read_bundle(conf, topic, group, NULL, bundle, len, keys, timeout_ms, err);
}

int segstream_state_bundle_read_parts(const rd_kafka_conf_t *conf, const char *topic, const char *group,
                                      const int32_t *parts, size_t n_parts, const uint8_t *model, size_t model_len,
                                      uint8_t **bundle, size_t *len, segstream_state_keys *keys, int timeout_ms,
                                      segstream_err *err)
{
    parts_filter only = {parts, n_parts, model, model_len};
    return read_bundle(conf, topic, group, &only, bundle, len, keys, timeout_ms, err);
}

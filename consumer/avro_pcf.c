/* avro_pcf.c - Avro Parsing Canonical Form, following the specification's
 * transformation rules: PRIMITIVES (simple form, logical types dropped),
 * FULLNAMES (names resolved against the enclosing namespace, "namespace"
 * removed), STRIP (keep name, type, fields, symbols, items, values, size),
 * ORDER (in that order), STRINGS (UTF-8, no escapes but the ones JSON needs),
 * INTEGERS (plain), WHITESPACE (none). A named type is written in full the
 * first time and by its fullname after that, as a parser would see it. */
#include "consumer/avro_pcf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out_buf {
    char *data;
    size_t len, cap;
    bool oom;
} out_buf;

static void put_n(out_buf *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *d = realloc(o->data, cap);
        if (!d) {
            o->oom = true;
            return;
        }
        o->data = d;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void put(out_buf *o, const char *s) { put_n(o, s, strlen(s)); }

/* A JSON string literal: UTF-8 kept as is, only '"', '\\' and control
 * characters escaped (JSON requires those). */
static void put_string(out_buf *o, const char *s)
{
    put(o, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*c;
            put_n(o, esc, 2);
        } else if (*c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *c);
            put(o, esc);
        } else {
            put_n(o, (const char *)c, 1);
        }
    }
    put(o, "\"");
}

static bool is_primitive(const char *name)
{
    static const char *const primitives[] = {"null", "boolean", "int", "long",
                                             "float", "double", "bytes", "string"};
    for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++)
        if (!strcmp(name, primitives[i]))
            return true;
    return false;
}

/* Names already defined, so later occurrences are written as references. */
typedef struct name_set {
    char **names;
    size_t count, cap;
} name_set;

static bool name_set_has(const name_set *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++)
        if (!strcmp(s->names[i], name))
            return true;
    return false;
}

static int name_set_add(name_set *s, const char *name)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        char **n = realloc(s->names, cap * sizeof *n);
        if (!n)
            return -1;
        s->names = n;
        s->cap = cap;
    }
    if (!(s->names[s->count] = strdup(name)))
        return -1;
    s->count++;
    return 0;
}

/* "a.b.C" stays; "C" in namespace "a.b" becomes "a.b.C". Returns a new string. */
static char *fullname(const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns)
        return strdup(name);
    size_t n = strlen(ns) + 1 + strlen(name) + 1;
    char *f = malloc(n);
    if (f)
        snprintf(f, n, "%s.%s", ns, name);
    return f;
}

typedef struct pcf_ctx {
    out_buf out;
    name_set defined;
    segstream_err *err;
    int depth;
} pcf_ctx;

#define PCF_MAX_DEPTH 64

static int emit(pcf_ctx *c, json_t *schema, const char *ns);

static int emit_named_ref_or_primitive(pcf_ctx *c, const char *name, const char *ns)
{
    if (is_primitive(name)) {
        put_string(&c->out, name);
        return 0;
    }
    char *full = fullname(name, ns);
    if (!full)
        return segstream_err_set(c->err, "out of memory");
    put_string(&c->out, full);
    free(full);
    return 0;
}

static int emit_object(pcf_ctx *c, json_t *schema, const char *ns)
{
    json_t *type = json_object_get(schema, "type");
    if (!json_is_string(type)) {
        /* {"type": {...}} or {"type": [...]} is the inner schema itself. */
        if (json_is_object(type) || json_is_array(type))
            return emit(c, type, ns);
        return segstream_err_set(c->err, "schema object without a \"type\" string");
    }
    const char *t = json_string_value(type);
    if (is_primitive(t)) {
        put_string(&c->out, t); /* PRIMITIVES: logicalType and the like dropped */
        return 0;
    }
    bool named = !strcmp(t, "record") || !strcmp(t, "error") || !strcmp(t, "enum") ||
                 !strcmp(t, "fixed");
    if (!named && strcmp(t, "array") && strcmp(t, "map"))
        return emit_named_ref_or_primitive(c, t, ns); /* {"type": "SomeName"} */
    if (!named) {
        const char *key = !strcmp(t, "array") ? "items" : "values";
        json_t *inner = json_object_get(schema, key);
        if (!inner)
            return segstream_err_set(c->err, "%s without \"%s\"", t, key);
        put(&c->out, "{\"type\":");
        put_string(&c->out, t);
        put(&c->out, ",\"");
        put(&c->out, key);
        put(&c->out, "\":");
        if (emit(c, inner, ns) < 0)
            return -1;
        put(&c->out, "}");
        return 0;
    }

    const char *name = json_string_value(json_object_get(schema, "name"));
    if (!name)
        return segstream_err_set(c->err, "%s without a \"name\"", t);
    json_t *own_ns = json_object_get(schema, "namespace");
    const char *space = json_is_string(own_ns) ? json_string_value(own_ns) : ns;
    char *full = fullname(name, space);
    if (!full)
        return segstream_err_set(c->err, "out of memory");
    if (name_set_has(&c->defined, full)) {
        put_string(&c->out, full);
        free(full);
        return 0;
    }
    if (name_set_add(&c->defined, full) < 0) {
        free(full);
        return segstream_err_set(c->err, "out of memory");
    }
    /* Types nested in this one take its namespace: the fullname's prefix. */
    const char *dot = strrchr(full, '.');
    char *inner_ns = dot ? strndup(full, (size_t)(dot - full)) : strdup("");
    if (!inner_ns) {
        free(full);
        return segstream_err_set(c->err, "out of memory");
    }
    int rc = 0;
    put(&c->out, "{\"name\":");
    put_string(&c->out, full);
    put(&c->out, ",\"type\":");
    put_string(&c->out, !strcmp(t, "error") ? "error" : t);
    if (!strcmp(t, "record") || !strcmp(t, "error")) {
        json_t *fields = json_object_get(schema, "fields");
        if (!json_is_array(fields)) {
            rc = segstream_err_set(c->err, "record %s without a \"fields\" array", full);
            goto done;
        }
        put(&c->out, ",\"fields\":[");
        for (size_t i = 0; i < json_array_size(fields); i++) {
            json_t *f = json_array_get(fields, i);
            const char *fname = json_string_value(json_object_get(f, "name"));
            json_t *ftype = json_object_get(f, "type");
            if (!fname || !ftype) {
                rc = segstream_err_set(c->err, "record %s: field %zu without name or type", full, i);
                goto done;
            }
            put(&c->out, i ? ",{\"name\":" : "{\"name\":");
            put_string(&c->out, fname);
            put(&c->out, ",\"type\":");
            if ((rc = emit(c, ftype, inner_ns)) < 0) {
                segstream_err_prefix(c->err, "field %s", fname);
                goto done;
            }
            put(&c->out, "}");
        }
        put(&c->out, "]");
    } else if (!strcmp(t, "enum")) {
        json_t *symbols = json_object_get(schema, "symbols");
        if (!json_is_array(symbols)) {
            rc = segstream_err_set(c->err, "enum %s without a \"symbols\" array", full);
            goto done;
        }
        put(&c->out, ",\"symbols\":[");
        for (size_t i = 0; i < json_array_size(symbols); i++) {
            const char *s = json_string_value(json_array_get(symbols, i));
            if (!s) {
                rc = segstream_err_set(c->err, "enum %s: symbol %zu is not a string", full, i);
                goto done;
            }
            if (i)
                put(&c->out, ",");
            put_string(&c->out, s);
        }
        put(&c->out, "]");
    } else { /* fixed */
        json_t *size = json_object_get(schema, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            rc = segstream_err_set(c->err, "fixed %s without a non-negative integer \"size\"", full);
            goto done;
        }
        char num[32];
        snprintf(num, sizeof num, ",\"size\":%" JSON_INTEGER_FORMAT, json_integer_value(size));
        put(&c->out, num);
    }
    put(&c->out, "}");
done:
    free(inner_ns);
    free(full);
    return rc;
}

static int emit(pcf_ctx *c, json_t *schema, const char *ns)
{
    if (++c->depth > PCF_MAX_DEPTH) {
        c->depth--;
        return segstream_err_set(c->err, "schema nested deeper than %d levels", PCF_MAX_DEPTH);
    }
    int rc = 0;
    if (json_is_string(schema)) {
        rc = emit_named_ref_or_primitive(c, json_string_value(schema), ns);
    } else if (json_is_array(schema)) { /* a union */
        put(&c->out, "[");
        for (size_t i = 0; i < json_array_size(schema) && rc == 0; i++) {
            if (i)
                put(&c->out, ",");
            rc = emit(c, json_array_get(schema, i), ns);
        }
        put(&c->out, "]");
    } else if (json_is_object(schema)) {
        rc = emit_object(c, schema, ns);
    } else {
        rc = segstream_err_set(c->err, "a schema must be a string, an object or an array");
    }
    c->depth--;
    return rc;
}

char *segstream_avro_canonical_form(const char *json, size_t len, segstream_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    if (!root) {
        segstream_err_set(err, "schema JSON line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    pcf_ctx c = {.err = err};
    int rc = emit(&c, root, "");
    json_decref(root);
    for (size_t i = 0; i < c.defined.count; i++)
        free(c.defined.names[i]);
    free(c.defined.names);
    if (rc == 0 && c.out.oom)
        rc = segstream_err_set(err, "out of memory");
    if (rc < 0) {
        free(c.out.data);
        return NULL;
    }
    return c.out.data;
}

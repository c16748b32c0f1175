/* labels.c - segment labels by class-based TF-IDF over decayed term counters.
 *
 * Memory is bounded: each segment keeps label_table_size counters (term,
 * count). Counts decay like the panes, 0.5^(dt/H); to avoid a pow() per
 * counter they are all kept on one scale per segment: the value at time t is
 * count * 0.5^((t - label_epoch)/H), so adding at t adds 2^((t - epoch)/H) and
 * comparing counters needs no arithmetic (the epoch moves up, rescaling the
 * table, before the scale could overflow). A new term takes a free counter,
 * or replaces the smallest one with that count + 1 (space-saving: frequent
 * terms are kept); the inherited count is remembered as the counter's error,
 * and labels score the guaranteed part (count - error), so a rare word that
 * just took a counter over does not look frequent.
 * At each model update, for every counter of segment c:
 *     score = tf(t,c) * log(1 + A / f(t)),  tf = count / total count of c,
 *     f(t) = count of t summed over all segments, A = mean total per segment,
 * and the label is the label_terms best scores (ties: lexicographic order). */
#include "cluster/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cl_term *table(segstream_cluster *c, int s) { return c->terms + (size_t)s * c->opt.label_table_size; }

static double scale_at(const segstream_cluster *c, int s, int64_t t)
{
    if (c->seg[s].label_epoch == INT64_MIN)
        return 1.0; /* no counts yet */
    /* in double: a corrupt epoch from a snapshot must not overflow int64 */
    return pow(2.0, ((double)t - (double)c->seg[s].label_epoch) / (double)c->opt.half_life_ms);
}

static uint32_t hash32(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Lowercases ASCII and truncates at a UTF-8 boundary. 0 when the token is no label material. */
static int normalise(const char *w, char out[SEGSTREAM_TERM_MAX])
{
    size_t n = 0;
    int alpha = 0;
    const unsigned char *p = (const unsigned char *)w;
    for (; p[n] && n + 1 < SEGSTREAM_TERM_MAX; n++) {
        unsigned char ch = p[n];
        if (ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch - 'A' + 'a');
        if ((ch >= 'a' && ch <= 'z') || ch >= 0x80)
            alpha = 1;
        out[n] = (char)ch;
    }
    if (p[n]) { /* truncated: drop a multibyte sequence cut in the middle */
        size_t lead = n;
        while (lead > 0 && (p[lead - 1] & 0xc0) == 0x80)
            lead--;
        if (lead > 0 && (p[lead - 1] & 0x80)) {
            unsigned char b = p[lead - 1];
            size_t len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
            if (n - (lead - 1) < len)
                n = lead - 1;
        }
    }
    out[n] = '\0';
    if (!alpha || n < 2)
        return 0;
    return !cl_is_stopword(out);
}

int cl_label_term(const char *word, char out[SEGSTREAM_TERM_MAX]) { return word && normalise(word, out); }

/* Adds `amount` (already on the segment's scale) to the counter of text. */
static void add_scaled(segstream_cluster *c, int s, const char *text, double amount)
{
    cl_term *tab = table(c, s);
    int n = c->opt.label_table_size, free_i = -1, min_i = -1;
    uint32_t h = hash32(text);
    for (int i = 0; i < n; i++) {
        cl_term *e = &tab[i];
        if (!e->text[0]) {
            if (free_i < 0)
                free_i = i;
        } else if (e->hash == h && !strcmp(e->text, text)) {
            e->count += amount;
            return;
        } else if (min_i < 0 || e->count < tab[min_i].count) {
            min_i = i;
        }
    }
    int i = free_i >= 0 ? free_i : min_i;
    double base = free_i >= 0 ? 0 : tab[min_i].count;
    cl_term *e = &tab[i];
    memset(e->text, 0, sizeof e->text);
    strcpy(e->text, text);
    e->hash = h;
    e->count = base + amount;
    e->error = base;
}

/* The scale of time t for segment s, moving the epoch up first if needed. */
static double scale_for(segstream_cluster *c, int s, int64_t t)
{
    cl_segment *g = &c->seg[s];
    if (g->label_epoch == INT64_MIN)
        g->label_epoch = t;
    double halves = ((double)t - (double)g->label_epoch) / (double)c->opt.half_life_ms;
    if (halves > 60) {
        double down = pow(2.0, -halves);
        cl_term *tab = table(c, s);
        for (int i = 0; i < c->opt.label_table_size; i++) {
            tab[i].count *= down;
            tab[i].error *= down;
        }
        g->label_epoch = t;
        return 1.0;
    }
    return pow(2.0, halves);
}

void cl_labels_add(segstream_cluster *c, int s, const char *const *words, size_t n, int64_t t)
{
    char buf[SEGSTREAM_TERM_MAX];
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        if (words[i] && normalise(words[i], buf)) {
            if (scale == 0)
                scale = scale_for(c, s, t);
            add_scaled(c, s, buf, scale);
        }
}

void cl_labels_add_term(segstream_cluster *c, int s, const char *term, double count, int64_t t)
{
    add_scaled(c, s, term, count * scale_for(c, s, t));
}

void cl_labels_clear(segstream_cluster *c, int s)
{
    memset(table(c, s), 0, (size_t)c->opt.label_table_size * sizeof(cl_term));
    c->seg[s].n_label = 0;
    c->seg[s].label_epoch = INT64_MIN;
}

void cl_labels_merge(segstream_cluster *c, int into, int from, int64_t t)
{
    cl_term *src = table(c, from);
    for (int i = 0; i < c->opt.label_table_size; i++)
        if (src[i].text[0]) {
            double v = (src[i].count - src[i].error) / scale_at(c, from, t);
            add_scaled(c, into, src[i].text, v * scale_for(c, into, t));
        }
}

void cl_labels_copy_scaled(segstream_cluster *c, int to, int from, double share)
{
    if (to != from) {
        memcpy(table(c, to), table(c, from), (size_t)c->opt.label_table_size * sizeof(cl_term));
        c->seg[to].label_epoch = c->seg[from].label_epoch;
    }
    cl_term *tab = table(c, to);
    for (int i = 0; i < c->opt.label_table_size; i++) {
        tab[i].count *= share;
        tab[i].error *= share;
    }
    c->seg[to].n_label = 0;
}

typedef struct entry {
    const cl_term *term;
    int seg;
    double value;
    double score;
} entry;

static int by_term(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    if (a->term->hash != b->term->hash)
        return a->term->hash < b->term->hash ? -1 : 1;
    int r = strcmp(a->term->text, b->term->text);
    if (r)
        return r;
    return a->seg - b->seg;
}

static int by_score(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    if (a->seg != b->seg)
        return a->seg - b->seg;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return strcmp(a->term->text, b->term->text);
}

void cl_labels_recompute(segstream_cluster *c, int64_t t)
{
    int N = c->opt.label_table_size;
    entry *e = malloc((size_t)c->k * N * sizeof *e);
    double *total = calloc((size_t)c->k, sizeof *total);
    if (!e || !total) { /* labels are best effort: keep the previous ones */
        free(e);
        free(total);
        return;
    }
    size_t n = 0;
    int classes = 0;
    double all = 0;
    for (int s = 0; s < c->k; s++) {
        if (c->seg[s].id < 0)
            continue;
        classes++;
        const cl_term *tab = table(c, s);
        double scale = scale_at(c, s, t);
        for (int i = 0; i < N; i++)
            if (tab[i].text[0]) {
                double v = (tab[i].count - tab[i].error) / scale;
                e[n++] = (entry){&tab[i], s, v, 0};
                total[s] += v;
                all += v;
            }
    }
    double mean = classes ? all / classes : 0;
    qsort(e, n, sizeof *e, by_term);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double f = 0;
        while (j < n && e[j].term->hash == e[i].term->hash && !strcmp(e[j].term->text, e[i].term->text))
            f += e[j++].value;
        for (size_t q = i; q < j; q++)
            e[q].score = (total[e[q].seg] > 0 && f > 0) ? e[q].value / total[e[q].seg] * log(1.0 + mean / f) : 0;
        i = j;
    }
    qsort(e, n, sizeof *e, by_score);
    for (int s = 0; s < c->k; s++)
        if (c->seg[s].id >= 0)
            c->seg[s].n_label = 0;
    for (size_t i = 0; i < n; i++) {
        cl_segment *g = &c->seg[e[i].seg];
        if (g->n_label < c->opt.label_terms && e[i].value > 0)
            strcpy(g->label[g->n_label++], e[i].term->text);
    }
    free(e);
    free(total);
}

/* fastText supervised prediction (language ID, quality classifiers) over Arrow string buffers.
 *
 * Why not the `fasttext` module: its Python binding copies every document into a std::string,
 * re-reads it through a stringstream, rebuilds every character n-gram of every word as a new
 * std::string and looks each one up in an unordered_map, for every word of every document. On
 * whole web documents that was ~150 us a document, two thirds of a 1M-document pipeline. Here a
 * word's input rows (its own row and those of its hashed character n-grams) are computed once and
 * kept in a bounded per-model cache, so a document costs one hash and one probe per word plus the
 * row additions.
 *
 * The answers are fastText's own, bit for bit (tests/quality/test_ftpredict.py checks labels and
 * float32 probabilities against the `fasttext` module on real and generated text): the rows are
 * added one by one in fastText's order, in float, then scaled by (float)(1.0 / count); the
 * hierarchical-softmax search is the same depth-first walk, with the same pruning and tie rule,
 * in the same mixed float/double arithmetic. So no floating-point contraction here (setup.py
 * builds this file with -ffp-contract=off). The cache holds what a word maps to, not any partial
 * sum, so whether a word was cached never changes a result.
 *
 * Input follows what curate feeds fastText: each document is one line (newlines are separators,
 * as when curate replaced them by spaces), split on fastText's separators, with fastText's
 * end-of-line token appended; a literal "</s>" ends the line as in fastText.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS (1u << 18)        /* open-addressing slots; at most half are used */
#define CACHE_MAX_WORDS (CACHE_SLOTS / 2)
#define CACHE_BYTES (4u << 20)        /* word bytes kept */
#define CACHE_IDS (8u << 20)          /* row ids kept */
#define CACHE_MAX_WORD_LEN 64         /* longer words are computed each time */

typedef struct {
    int32_t *v;
    size_t n, cap;
} Ids;

typedef struct {
    uint32_t hash;
    uint32_t len; /* 0: empty slot */
    uint32_t byte_off;
    uint32_t ids_off;
    uint32_t n_ids;
    uint32_t is_word; /* a word (not a label): its hash enters the word n-grams */
} Slot;

typedef struct {
    int dim;
    int64_t nrows;
    float *rows; /* nrows x dim: input rows decoded (product quantization applied) */
    Py_buffer rows_view; /* rows are the caller's array, held (not copied: a .bin can be GBs) */
    int has_rows_view;
    int32_t nwords;
    int32_t nvocab;
    uint8_t *vocab_bytes;
    int64_t *vocab_off;
    int8_t *vocab_type; /* 0 word, 1 label */
    int32_t *vocab_table; /* open addressing on fastText's hash: vocab index or -1 */
    uint32_t vocab_mask;
    int64_t prune_size; /* -1: not pruned; 0: no n-gram kept; > 0: the map below */
    int32_t *prune_keys;
    int32_t *prune_vals;
    uint32_t prune_mask;
    uint8_t *prune_bits; /* one bit a bucket: kept by the pruning (most n-grams are not) */
    int minn, maxn, word_ngrams;
    int32_t bucket;
    int loss; /* 0 softmax, 1 hierarchical softmax */
    int32_t nout;
    float *out; /* output rows, one a label (hs: internal node i - nlabels uses row i - nlabels) */
    int32_t *left, *right; /* hs tree of 2 * nout - 1 nodes, leaves first (-1 children) */
    int32_t eos_ids[2];
    int n_eos;
    /* word cache */
    Slot *slots;
    uint32_t cached;
    uint8_t *cbytes;
    uint32_t cbytes_used;
    int32_t *cids;
    uint32_t cids_used;
    Ids hashes; /* the current document's word hashes, for word n-grams */
    Ids line;   /* the current document's row ids */
    struct Token *toks; /* the current document's tokens */
    size_t ntok, tok_cap;
    float *hidden;
    float *output;
} Model;

/* fastText's hash: FNV-1a over the bytes read as signed chars. */
static inline uint32_t ft_hash(const uint8_t *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint32_t)(int32_t)(int8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static int32_t vocab_find(const Model *m, const uint8_t *s, size_t n, uint32_t h) {
    uint32_t i = h & m->vocab_mask;
    for (;;) {
        int32_t v = m->vocab_table[i];
        if (v < 0) return -1;
        int64_t a = m->vocab_off[v], b = m->vocab_off[v + 1];
        if ((size_t)(b - a) == n && memcmp(m->vocab_bytes + a, s, n) == 0) return v;
        i = (i + 1) & m->vocab_mask;
    }
}

static int32_t prune_find(const Model *m, int32_t key) {
    uint32_t i = mix32((uint32_t)key) & m->prune_mask;
    for (;;) {
        int32_t k = m->prune_keys[i];
        if (k == -1) return -1;
        if (k == key) return m->prune_vals[i];
        i = (i + 1) & m->prune_mask;
    }
}

/* ------------------------------------------------------------------ ids of a word */

static int ids_push(Ids *ids, int32_t x) {
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, cap * sizeof(int32_t));
        if (!v) return -1;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = x;
    return 0;
}

/* A bucket id as fastText's pushHash keeps it: remapped by the pruning map, or dropped. */
static int push_bucket(const Model *m, Ids *ids, int32_t id) {
    if (m->prune_size == 0 || id < 0 || m->bucket == 0) return 0;
    if (m->prune_size > 0) {
        if (!(m->prune_bits[(uint32_t)id >> 3] & (1u << (id & 7)))) return 0;
        id = prune_find(m, id);
        if (id < 0) return 0;
    }
    return ids_push(ids, m->nwords + id);
}

/* The character n-grams of "<" word ">" (n counted in UTF-8 characters, minn..maxn, the lone
 * "<" and ">" left out), hashed into buckets, in fastText's order. */
static int push_subwords(const Model *m, Ids *ids, const uint8_t *tok, size_t n) {
    if (m->maxn <= 0) return 0;
    size_t len = n + 2;
    uint8_t stackbuf[256];
    uint8_t *w = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
    if (!w) return -1;
    w[0] = '<';
    memcpy(w + 1, tok, n);
    w[len - 1] = '>';
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        if ((w[i] & 0xC0) == 0x80) continue;
        uint32_t h = 2166136261u;
        size_t j = i;
        for (int k = 1; j < len && k <= m->maxn; k++) {
            h ^= (uint32_t)(int32_t)(int8_t)w[j++];
            h *= 16777619u;
            while (j < len && (w[j] & 0xC0) == 0x80) {
                h ^= (uint32_t)(int32_t)(int8_t)w[j++];
                h *= 16777619u;
            }
            if (k >= m->minn && !(k == 1 && (i == 0 || j == len))) {
                rc = m->bucket ? push_bucket(m, ids, (int32_t)(h % (uint32_t)m->bucket)) : 0;
                if (rc) break;
            }
        }
    }
    if (w != stackbuf) free(w);
    return rc;
}

static const uint8_t EOS[] = "</s>";
static const uint8_t LABEL_PREFIX[] = "__label__";

/* The input rows one token adds, as fastText's getLine and addSubwords give them; *is_word is 0
 * for a label (in the vocabulary as one, or any unknown token with the label prefix). */
static int token_ids(const Model *m, Ids *ids, const uint8_t *tok, size_t n, uint32_t h, int *is_word) {
    int32_t wid = vocab_find(m, tok, n, h);
    *is_word = 1;
    if (wid >= 0) {
        if (m->vocab_type[wid] != 0) {
            *is_word = 0;
            return 0;
        }
        if (ids_push(ids, wid)) return -1;
        if (n == 4 && memcmp(tok, EOS, 4) == 0) return 0;
        return push_subwords(m, ids, tok, n);
    }
    if (n >= 9 && memcmp(tok, LABEL_PREFIX, 9) == 0) {
        *is_word = 0;
        return 0;
    }
    if (n == 4 && memcmp(tok, EOS, 4) == 0) return 0;
    return push_subwords(m, ids, tok, n);
}

static inline uint32_t slot_of(uint32_t h, size_t n) { return mix32(h ^ (uint32_t)n) & (CACHE_SLOTS - 1); }

/* memcmp(a, b, n) == 0 for the short strings of a cache probe, without a library call. */
static inline int same_bytes(const uint8_t *a, const uint8_t *b, size_t n) {
    while (n >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
        a += 8;
        b += 8;
        n -= 8;
    }
    while (n--) {
        if (*a++ != *b++) return 0;
    }
    return 1;
}

static void cache_clear(Model *m) {
    memset(m->slots, 0, CACHE_SLOTS * sizeof(Slot));
    m->cached = 0;
    m->cbytes_used = 0;
    m->cids_used = 0;
}

/* The cached ids of a token (computed and stored on a miss). Returns the count, or -1 on error. */
static Py_ssize_t cached_ids(Model *m, Ids *tmp, const uint8_t *tok, size_t n, uint32_t h,
                             const int32_t **out, int *is_word) {
    if (n > CACHE_MAX_WORD_LEN) {
        tmp->n = 0;
        if (token_ids(m, tmp, tok, n, h, is_word)) return -1;
        *out = tmp->v;
        return (Py_ssize_t)tmp->n;
    }
    uint32_t i = slot_of(h, n);
    for (;;) {
        Slot *s = &m->slots[i];
        if (s->len == 0) break;
        if (s->hash == h && s->len == n && same_bytes(m->cbytes + s->byte_off, tok, n)) {
            *out = m->cids + s->ids_off;
            *is_word = (int)s->is_word;
            return (Py_ssize_t)s->n_ids;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    tmp->n = 0;
    if (token_ids(m, tmp, tok, n, h, is_word)) return -1;
    *out = tmp->v;
    if (m->cached >= CACHE_MAX_WORDS || m->cbytes_used + n > CACHE_BYTES ||
        m->cids_used + tmp->n > CACHE_IDS) {
        cache_clear(m); /* a full cache starts again: bounded memory, same answers */
        i = slot_of(h, n);
    }
    Slot *s = &m->slots[i];
    s->hash = h;
    s->len = (uint32_t)n;
    s->byte_off = m->cbytes_used;
    s->ids_off = m->cids_used;
    s->n_ids = (uint32_t)tmp->n;
    s->is_word = (uint32_t)*is_word;
    memcpy(m->cbytes + m->cbytes_used, tok, n);
    m->cbytes_used += (uint32_t)n;
    memcpy(m->cids + m->cids_used, tmp->v, tmp->n * sizeof(int32_t));
    m->cids_used += (uint32_t)tmp->n;
    m->cached++;
    return (Py_ssize_t)tmp->n;
}

static inline int is_sep(uint8_t c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == 0;
}

/* The sum of the rows `ids`, added one after another in this order (fastText's), into hidden.
 * The rows of a few ids ahead are fetched from memory while earlier ones are added; for the
 * common dimension 16 the sum stays in registers. */
static void sum_rows(const Model *m, const int32_t *ids, size_t k, float *restrict hidden) {
    enum { AHEAD = 8 };
    const float *rows = m->rows;
    if (m->dim == 16) {
        float acc[16];
        memcpy(acc, hidden, sizeof(acc));
        for (size_t t = 0; t < k; t++) {
            if (t + AHEAD < k) __builtin_prefetch(rows + (int64_t)ids[t + AHEAD] * 16);
            const float *r = rows + (int64_t)ids[t] * 16;
            for (int d = 0; d < 16; d++) acc[d] += r[d];
        }
        memcpy(hidden, acc, sizeof(acc));
        return;
    }
    const int dim = m->dim;
    for (size_t t = 0; t < k; t++) {
        if (t + AHEAD < k) __builtin_prefetch(rows + (int64_t)ids[t + AHEAD] * dim);
        const float *r = rows + (int64_t)ids[t] * dim;
        for (int d = 0; d < dim; d++) hidden[d] += r[d];
    }
}

typedef struct Token {
    int64_t start;
    uint32_t len;
    uint32_t hash;
} Token;

static int tokens_push(Model *m, int64_t start, uint32_t len, uint32_t hash) {
    if (m->ntok == m->tok_cap) {
        size_t cap = m->tok_cap ? m->tok_cap * 2 : 256;
        Token *t = realloc(m->toks, cap * sizeof(Token));
        if (!t) return -1;
        m->toks = t;
        m->tok_cap = cap;
    }
    m->toks[m->ntok++] = (Token){start, len, hash};
    return 0;
}

/* The averaged input vector of one document. Returns the number of rows (0: no prediction), or
 * -1 when out of memory. Three passes: the tokens (their cache slots fetched from memory
 * meanwhile), the row ids of the whole line as fastText's getLine lists them, then their sum. */
static Py_ssize_t doc_hidden(Model *m, Ids *tmp, const uint8_t *s, int64_t n, float *hidden) {
    int ended = 0, is_word;
    m->ntok = 0;
    int64_t p = 0;
    while (p < n) {
        while (p < n && is_sep(s[p])) p++;
        if (p >= n) break;
        int64_t q = p;
        while (q < n && !is_sep(s[q])) q++;
        size_t len = (size_t)(q - p);
        if (len > UINT32_MAX) return -1;
        uint32_t h = ft_hash(s + p, len);
        if (len <= CACHE_MAX_WORD_LEN) __builtin_prefetch(&m->slots[slot_of(h, len)]);
        if (tokens_push(m, p, (uint32_t)len, h)) return -1;
        p = q;
        if (len == 4 && memcmp(s + q - 4, EOS, 4) == 0) {
            ended = 1; /* fastText stops reading the line at its end-of-line token */
            break;
        }
    }
    Ids *ids = &m->line;
    ids->n = 0;
    m->hashes.n = 0;
    for (size_t t = 0; t < m->ntok; t++) {
        const Token tk = m->toks[t];
        const int32_t *got;
        Py_ssize_t k = cached_ids(m, tmp, s + tk.start, tk.len, tk.hash, &got, &is_word);
        if (k < 0) return -1;
        for (Py_ssize_t j = 0; j < k; j++) {
            if (ids_push(ids, got[j])) return -1;
        }
        if (m->word_ngrams > 1 && is_word && ids_push(&m->hashes, (int32_t)tk.hash)) return -1;
    }
    if (!ended) {
        for (int j = 0; j < m->n_eos; j++) {
            if (ids_push(ids, m->eos_ids[j])) return -1;
        }
        if (m->word_ngrams > 1 && ids_push(&m->hashes, (int32_t)ft_hash(EOS, 4))) return -1;
    }
    if (m->word_ngrams > 1 && m->bucket > 0) {
        /* fastText's addWordNgrams: hashes widened from int32 (sign-extended) to uint64 */
        const int32_t *hs = m->hashes.v;
        size_t nh = m->hashes.n;
        for (size_t i = 0; i < nh; i++) {
            uint64_t g = (uint64_t)(int64_t)hs[i];
            for (size_t j = i + 1; j < nh && j < i + (size_t)m->word_ngrams; j++) {
                g = g * 116049371u + (uint64_t)(int64_t)hs[j];
                if (push_bucket(m, ids, (int32_t)(g % (uint64_t)(int64_t)m->bucket))) return -1;
            }
        }
    }
    memset(hidden, 0, sizeof(float) * (size_t)m->dim);
    sum_rows(m, ids->v, ids->n, hidden);
    if (ids->n > 0) {
        float a = (float)(1.0 / (double)ids->n);
        for (int d = 0; d < m->dim; d++) hidden[d] *= a;
    }
    return (Py_ssize_t)ids->n;
}

/* fastText's std_log: log(x + 1e-5) of a float, in double, returned as float. */
static inline float std_log(float x) { return (float)log((double)x + 1e-5); }

static inline float dot_row(const Model *m, const float *hidden, int32_t row) {
    const float *r = m->out + (int64_t)row * m->dim;
    float d = 0.0f;
    for (int j = 0; j < m->dim; j++) d += r[j] * hidden[j];
    return d;
}

typedef struct {
    float thr;
    float best;
    int32_t node;
    int have;
} Search;

/* The depth-first search of fastText's hierarchical softmax for k = 1: left before right, a
 * branch pruned below the threshold or strictly below the best leaf, and a later leaf of equal
 * score replacing the earlier one (its heap's tie rule). */
static void hs_dfs(const Model *m, const float *hidden, int32_t node, float score, Search *st) {
    if (score < st->thr) return;
    if (st->have && score < st->best) return;
    if (m->left[node] == -1 && m->right[node] == -1) {
        st->best = score;
        st->node = node;
        st->have = 1;
        return;
    }
    float f = dot_row(m, hidden, node - m->nout);
    f = (float)(1. / (double)(1.0f + expf(-f)));
    hs_dfs(m, hidden, m->left[node], score + std_log((float)(1.0 - (double)f)), st);
    hs_dfs(m, hidden, m->right[node], score + std_log(f), st);
}

/* The score (log probability, as fastText sums it) of one leaf, or -INFINITY where fastText's
 * search with k = every label would prune its path (a prefix below the threshold). */
static float hs_leaf_score(const Model *m, const float *hidden, const int32_t *parent, int32_t leaf, float thr) {
    int32_t path[128];
    int depth = 0;
    for (int32_t j = leaf; parent[j] != -1 && depth < 128; j = parent[j]) path[depth++] = j;
    float score = 0.0f;
    for (int i = depth - 1; i >= 0; i--) {
        int32_t child = path[i];
        int32_t node = parent[child];
        if (score < thr) return -INFINITY;
        float f = dot_row(m, hidden, node - m->nout);
        f = (float)(1. / (double)(1.0f + expf(-f)));
        score = score + (m->right[node] == child ? std_log(f) : std_log((float)(1.0 - (double)f)));
    }
    if (score < thr) return -INFINITY;
    return score;
}

static void softmax(const Model *m, const float *hidden, float *output) {
    float mx = 0.0f, z = 0.0f;
    for (int32_t i = 0; i < m->nout; i++) output[i] = dot_row(m, hidden, i);
    mx = output[0];
    for (int32_t i = 0; i < m->nout; i++) mx = output[i] > mx ? output[i] : mx;
    for (int32_t i = 0; i < m->nout; i++) {
        output[i] = (float)exp((double)(output[i] - mx));
        z += output[i];
    }
    for (int32_t i = 0; i < m->nout; i++) output[i] /= z;
}

/* ------------------------------------------------------------------ Python glue */

typedef struct {
    Py_buffer views[16];
    int n;
} Held;

static void release_all(Held *held) {
    for (int i = 0; i < held->n; i++) PyBuffer_Release(&held->views[i]);
    held->n = 0;
}

static void *take(Held *held, PyObject *obj, Py_ssize_t itemsize, int writable, Py_ssize_t *count,
                  const char *name) {
    Py_buffer *v = &held->views[held->n];
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, v, flags) < 0) return NULL;
    held->n++;
    if (v->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: expected %zd-byte items, got %zd", name, itemsize, v->itemsize);
        return NULL;
    }
    *count = v->len / itemsize;
    return v->buf ? v->buf : (void *)"";
}

static void *dup_buf(const void *src, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (p && bytes) memcpy(p, src, bytes);
    return p;
}

static void model_free(Model *m) {
    if (!m) return;
    if (m->has_rows_view) PyBuffer_Release(&m->rows_view);
    free(m->vocab_bytes);
    free(m->vocab_off);
    free(m->vocab_type);
    free(m->vocab_table);
    free(m->prune_keys);
    free(m->prune_vals);
    free(m->prune_bits);
    free(m->out);
    free(m->left);
    free(m->right);
    free(m->slots);
    free(m->cbytes);
    free(m->cids);
    free(m->hashes.v);
    free(m->line.v);
    free(m->toks);
    free(m->hidden);
    free(m->output);
    free(m);
}

static void capsule_free(PyObject *cap) { model_free(PyCapsule_GetPointer(cap, "curate.ftpredict.Model")); }

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

/* model_new(dim, rows, nwords, vocab_bytes, vocab_off, vocab_type, prune_keys, prune_vals,
 *           prune_size, minn, maxn, word_ngrams, bucket, loss, out, left, right) -> capsule */
static PyObject *py_model_new(PyObject *self, PyObject *args) {
    int dim, minn, maxn, loss, word_ngrams;
    Py_ssize_t nwords, prune_size, bucket;
    PyObject *o_rows, *o_vb, *o_vo, *o_vt, *o_pk, *o_pv, *o_out, *o_left, *o_right;
    if (!PyArg_ParseTuple(args, "iOnOOOOOniiiniOOO", &dim, &o_rows, &nwords, &o_vb, &o_vo, &o_vt, &o_pk, &o_pv,
                          &prune_size, &minn, &maxn, &word_ngrams, &bucket, &loss, &o_out, &o_left, &o_right))
        return NULL;
    Held held = {.n = 0};
    Model *m = NULL;
    PyObject *result = NULL;
    Py_ssize_t n_rows, n_vb, n_vo, n_vt, n_pk, n_pv, n_out, n_left, n_right;
    float *rows = take(&held, o_rows, 4, 0, &n_rows, "rows");
    uint8_t *vb = rows ? take(&held, o_vb, 1, 0, &n_vb, "vocab_bytes") : NULL;
    int64_t *vo = vb ? take(&held, o_vo, 8, 0, &n_vo, "vocab_off") : NULL;
    int8_t *vt = vo ? take(&held, o_vt, 1, 0, &n_vt, "vocab_type") : NULL;
    int32_t *pk = vt ? take(&held, o_pk, 4, 0, &n_pk, "prune_keys") : NULL;
    int32_t *pv = pk ? take(&held, o_pv, 4, 0, &n_pv, "prune_vals") : NULL;
    float *out = pv ? take(&held, o_out, 4, 0, &n_out, "out") : NULL;
    int32_t *left = out ? take(&held, o_left, 4, 0, &n_left, "left") : NULL;
    int32_t *right = left ? take(&held, o_right, 4, 0, &n_right, "right") : NULL;
    if (!right) goto done;
    if (dim <= 0 || n_rows % dim || n_out % dim || n_vo != n_vt + 1 || n_pk != n_pv || nwords > n_vt ||
        bucket < 0 || (loss != 0 && loss != 1) || n_left != n_right || (n_vo > 0 && vo[n_vo - 1] > n_vb)) {
        PyErr_SetString(PyExc_ValueError, "inconsistent fastText model arrays");
        goto done;
    }
    for (Py_ssize_t i = 1; i < n_vo; i++) {
        if (vo[i] < vo[i - 1] || vo[0] < 0) {
            PyErr_SetString(PyExc_ValueError, "vocabulary offsets decrease");
            goto done;
        }
    }
    m = calloc(1, sizeof(Model));
    if (!m) goto nomem;
    m->dim = dim;
    m->nrows = n_rows / dim;
    m->nwords = (int32_t)nwords;
    m->nvocab = (int32_t)n_vt;
    m->prune_size = prune_size;
    m->minn = minn;
    m->maxn = maxn;
    m->word_ngrams = word_ngrams;
    m->bucket = (int32_t)bucket;
    m->loss = loss;
    m->nout = (int32_t)(n_out / dim);
    m->vocab_bytes = dup_buf(vb, (size_t)n_vb);
    m->vocab_off = dup_buf(vo, (size_t)n_vo * 8);
    m->vocab_type = dup_buf(vt, (size_t)n_vt);
    m->out = dup_buf(out, (size_t)n_out * 4);
    m->left = dup_buf(left, (size_t)n_left * 4);
    m->right = dup_buf(right, (size_t)n_right * 4);
    m->vocab_mask = pow2_at_least((uint64_t)n_vt * 2 + 1) - 1;
    m->vocab_table = malloc(((size_t)m->vocab_mask + 1) * 4);
    m->prune_mask = pow2_at_least((uint64_t)n_pk * 2 + 1) - 1;
    m->prune_keys = malloc(((size_t)m->prune_mask + 1) * 4);
    m->prune_vals = malloc(((size_t)m->prune_mask + 1) * 4);
    m->slots = calloc(CACHE_SLOTS, sizeof(Slot));
    m->cbytes = malloc(CACHE_BYTES);
    m->cids = malloc(CACHE_IDS * sizeof(int32_t));
    m->hidden = malloc((size_t)dim * sizeof(float));
    m->output = malloc(((size_t)m->nout + 1) * sizeof(float));
    if (!m->vocab_bytes || !m->vocab_off || !m->vocab_type || !m->out || !m->left || !m->right ||
        !m->vocab_table || !m->prune_keys || !m->prune_vals || !m->slots || !m->cbytes || !m->cids ||
        !m->hidden || !m->output)
        goto nomem;
    memset(m->vocab_table, 0xff, ((size_t)m->vocab_mask + 1) * 4);
    for (int32_t v = 0; v < m->nvocab; v++) {
        const uint8_t *s = m->vocab_bytes + m->vocab_off[v];
        size_t n = (size_t)(m->vocab_off[v + 1] - m->vocab_off[v]);
        if (vocab_find(m, s, n, ft_hash(s, n)) >= 0) continue; /* a duplicate: fastText keeps the first */
        uint32_t i = ft_hash(s, n) & m->vocab_mask;
        while (m->vocab_table[i] >= 0) i = (i + 1) & m->vocab_mask;
        m->vocab_table[i] = v;
    }
    memset(m->prune_keys, 0xff, ((size_t)m->prune_mask + 1) * 4);
    m->prune_bits = calloc(((size_t)bucket >> 3) + 1, 1);
    if (!m->prune_bits) goto nomem;
    for (Py_ssize_t t = 0; t < n_pk; t++) {
        if (pk[t] < 0 || pk[t] >= bucket) continue; /* never asked for: ids are below bucket */
        m->prune_bits[(uint32_t)pk[t] >> 3] |= (uint8_t)(1u << (pk[t] & 7));
        uint32_t i = mix32((uint32_t)pk[t]) & m->prune_mask;
        while (m->prune_keys[i] != -1 && m->prune_keys[i] != pk[t]) i = (i + 1) & m->prune_mask;
        m->prune_keys[i] = pk[t];
        m->prune_vals[i] = pv[t];
    }
    /* Every row id a document can reach must exist: the words, and every kept bucket. */
    int64_t max_row = (int64_t)m->nwords - 1;
    if (prune_size > 0) {
        for (Py_ssize_t t = 0; t < n_pv; t++) max_row = pv[t] + (int64_t)m->nwords > max_row ? pv[t] + (int64_t)m->nwords : max_row;
    } else if (prune_size < 0) {
        max_row = (int64_t)m->nwords + bucket - 1;
    }
    if (max_row >= m->nrows) {
        PyErr_SetString(PyExc_ValueError, "fastText model has fewer input rows than its words and buckets");
        goto done;
    }
    if (loss == 1 && (n_left != 2 * (Py_ssize_t)m->nout - 1 || m->nout < 1)) {
        PyErr_SetString(PyExc_ValueError, "hierarchical softmax tree does not match the output rows");
        goto done;
    }
    if (loss == 1) {
        for (Py_ssize_t t = 0; t < n_left; t++) {
            if (m->left[t] >= n_left || m->right[t] >= n_left || (t >= m->nout && (m->left[t] < 0 || m->right[t] < 0))) {
                PyErr_SetString(PyExc_ValueError, "hierarchical softmax tree out of range");
                goto done;
            }
        }
    }
    {
        Ids tmp = {0};
        int is_word;
        if (token_ids(m, &tmp, EOS, 4, ft_hash(EOS, 4), &is_word)) {
            free(tmp.v);
            goto nomem;
        }
        m->n_eos = (int)tmp.n;
        for (size_t t = 0; t < tmp.n && t < 2; t++) m->eos_ids[t] = tmp.v[t];
        free(tmp.v);
    }
    if (PyObject_GetBuffer(o_rows, &m->rows_view, PyBUF_C_CONTIGUOUS) < 0) goto done;
    m->has_rows_view = 1;
    m->rows = m->rows_view.buf;
    result = PyCapsule_New(m, "curate.ftpredict.Model", capsule_free);
    if (result) m = NULL;
    goto done;
nomem:
    PyErr_NoMemory();
done:
    model_free(m);
    release_all(&held);
    return result;
}

static Model *get_model(PyObject *cap) { return PyCapsule_GetPointer(cap, "curate.ftpredict.Model"); }

static int check_offsets(const int64_t *off, Py_ssize_t n_off, Py_ssize_t limit) {
    if (n_off < 1 || off[0] < 0 || off[n_off - 1] > limit) {
        PyErr_SetString(PyExc_IndexError, "offsets outside the text buffer");
        return -1;
    }
    for (Py_ssize_t i = 1; i < n_off; i++) {
        if (off[i] < off[i - 1]) {
            PyErr_SetString(PyExc_ValueError, "offsets decrease");
            return -1;
        }
    }
    return 0;
}

/* predict(model, data, offsets, want, label_out, prob_out, target): for each document i with
 * want[i], the best label (index among the labels) and its probability as fastText reports them
 * for k = 1; or, with target >= 0, the probability fastText reports for label `target` when asked
 * for every label (0 where it would not list it). Documents without input rows get label -1. */
static PyObject *py_predict(PyObject *self, PyObject *args) {
    PyObject *cap, *o_data, *o_off, *o_want, *o_lab, *o_prob;
    int target;
    if (!PyArg_ParseTuple(args, "OOOOOOi", &cap, &o_data, &o_off, &o_want, &o_lab, &o_prob, &target)) return NULL;
    Model *m = get_model(cap);
    if (!m) return NULL;
    Held held = {.n = 0};
    PyObject *result = NULL;
    Py_ssize_t n_data, n_off, n_want, n_lab, n_prob;
    uint8_t *data = take(&held, o_data, 1, 0, &n_data, "data");
    int64_t *off = data ? take(&held, o_off, 8, 0, &n_off, "offsets") : NULL;
    uint8_t *want = off ? take(&held, o_want, 1, 0, &n_want, "want") : NULL;
    int32_t *lab = want ? take(&held, o_lab, 4, 1, &n_lab, "label_out") : NULL;
    float *prob = lab ? take(&held, o_prob, 4, 1, &n_prob, "prob_out") : NULL;
    if (!prob) goto done;
    if (check_offsets(off, n_off, n_data)) goto done;
    Py_ssize_t n_docs = n_off - 1;
    if (n_want < n_docs || n_lab < n_docs || n_prob < n_docs) {
        PyErr_SetString(PyExc_ValueError, "output arrays shorter than the documents");
        goto done;
    }
    int32_t nlabels = m->nout;
    if (target >= nlabels) {
        PyErr_SetString(PyExc_IndexError, "target label out of range");
        goto done;
    }
    int32_t *parent = NULL;
    if (m->loss == 1 && target >= 0) {
        Py_ssize_t nn = 2 * (Py_ssize_t)m->nout - 1;
        parent = malloc(nn * sizeof(int32_t));
        if (!parent) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t t = 0; t < nn; t++) parent[t] = -1;
        for (Py_ssize_t t = 0; t < nn; t++) {
            if (m->left[t] >= 0) parent[m->left[t]] = (int32_t)t;
            if (m->right[t] >= 0) parent[m->right[t]] = (int32_t)t;
        }
    }
    Ids tmp = {0};
    const float thr = std_log(0.0f);
    int failed = 0;
    for (Py_ssize_t i = 0; i < n_docs; i++) {
        lab[i] = -1;
        prob[i] = 0.0f;
        if (!want[i]) continue;
        Py_ssize_t count = doc_hidden(m, &tmp, data + off[i], off[i + 1] - off[i], m->hidden);
        if (count < 0) {
            failed = 1;
            break;
        }
        if (count == 0) continue;
        if (m->loss == 1) {
            if (target >= 0) {
                float s = hs_leaf_score(m, m->hidden, parent, target, thr);
                lab[i] = target;
                prob[i] = s == -INFINITY ? 0.0f : expf(s);
            } else {
                Search st = {.thr = thr, .best = 0.0f, .node = -1, .have = 0};
                hs_dfs(m, m->hidden, 2 * m->nout - 2, 0.0f, &st);
                if (st.have) {
                    lab[i] = st.node;
                    prob[i] = expf(st.best);
                }
            }
        } else {
            softmax(m, m->hidden, m->output);
            if (target >= 0) {
                lab[i] = target;
                prob[i] = m->output[target] < 0.0f ? 0.0f : expf(std_log(m->output[target]));
            } else {
                int have = 0;
                float best = 0.0f;
                int32_t bi = -1;
                for (int32_t t = 0; t < m->nout; t++) {
                    if (m->output[t] < 0.0f) continue;
                    float s = std_log(m->output[t]);
                    if (have && s < best) continue;
                    best = s;
                    bi = t;
                    have = 1;
                }
                if (have) {
                    lab[i] = bi;
                    prob[i] = expf(best);
                }
            }
        }
    }
    free(tmp.v);
    free(parent);
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    release_all(&held);
    return result;
}

/* blank(data, offsets, out): 1 where a document holds only characters Python's str.isspace()
 * calls whitespace (or nothing), so a blank text gets no language, as before. */
static int py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

static PyObject *py_blank(PyObject *self, PyObject *args) {
    PyObject *o_data, *o_off, *o_out;
    if (!PyArg_ParseTuple(args, "OOO", &o_data, &o_off, &o_out)) return NULL;
    Held held = {.n = 0};
    PyObject *result = NULL;
    Py_ssize_t n_data, n_off, n_out;
    uint8_t *data = take(&held, o_data, 1, 0, &n_data, "data");
    int64_t *off = data ? take(&held, o_off, 8, 0, &n_off, "offsets") : NULL;
    uint8_t *out = off ? take(&held, o_out, 1, 1, &n_out, "out") : NULL;
    if (!out) goto done;
    if (check_offsets(off, n_off, n_data)) goto done;
    if (n_out < n_off - 1) {
        PyErr_SetString(PyExc_ValueError, "out shorter than the documents");
        goto done;
    }
    for (Py_ssize_t i = 0; i + 1 < n_off; i++) {
        const uint8_t *s = data + off[i];
        int64_t n = off[i + 1] - off[i], p = 0;
        int blank = 1;
        while (p < n && blank) {
            uint8_t b = s[p];
            uint32_t c;
            int k;
            if (b < 0x80) { c = b; k = 1; }
            else if ((b & 0xE0) == 0xC0) { c = b & 0x1F; k = 2; }
            else if ((b & 0xF0) == 0xE0) { c = b & 0x0F; k = 3; }
            else { c = b & 0x07; k = 4; }
            if (p + k > n) k = (int)(n - p);
            for (int j = 1; j < k; j++) c = (c << 6) | (s[p + j] & 0x3F);
            blank = py_space(c);
            p += k;
        }
        out[i] = (uint8_t)blank;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    release_all(&held);
    return result;
}

static PyMethodDef methods[] = {
    {"model_new", py_model_new, METH_VARARGS,
     "model_new(dim, rows, nwords, vocab_bytes, vocab_off, vocab_type, prune_keys, prune_vals, prune_size, "
     "minn, maxn, word_ngrams, bucket, loss, out, left, right) -> model"},
    {"predict", py_predict, METH_VARARGS, "predict(model, data, offsets, want, label_out, prob_out, target)"},
    {"blank", py_blank, METH_VARARGS, "blank(data, offsets, out)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_ftpredict", .m_doc = "fastText supervised prediction, compiled.",
    .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__ftpredict(void) { return PyModule_Create(&module); }

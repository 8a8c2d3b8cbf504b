/* Compiled kernels of the heuristic quality signals: the spaCy-like word tokenizer, per-token
 * features, sentence counts (curate.quality.words) and the repetition counts
 * (curate.quality.heuristics).
 *
 * Why C and not numba: numba compiles these loops on first use (6-8 s of LLVM for a fresh
 * install's first `curate score`) and caches them next to the module or under $HOME; a read-only
 * install run by a user without a writable home has no cache at all and paid the compile in every
 * process of every run. Built by setup.py with the package, the same loops cost nothing at start-up
 * and the scoring path no longer imports numba and LLVM (~140 MiB per worker).
 *
 * Every function is wrapped by Python code in curate.quality (words.py, heuristics.py) that builds
 * the tables and allocates the outputs; this file checks buffer sizes, offsets and token ranges so
 * that a wrong call raises instead of reading or writing past a buffer, and releases the GIL while
 * it loops. Text is UTF-8 (Arrow strings); a malformed or truncated sequence decodes to some code
 * point without reading past the document. The algorithms are line-for-line those of the numba
 * kernels they replace (tests/quality/_reference_kernels.py keeps those as plain Python and a
 * property test pins this file to them).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ buffers */

typedef struct {
    Py_buffer views[16];
    int n;
} Held;

static void release_all(Held *held) {
    for (int i = 0; i < held->n; i++) PyBuffer_Release(&held->views[i]);
    held->n = 0;
}

/* A C-contiguous buffer of `itemsize`-byte items, writable when asked. Returns the data pointer
 * and the item count. */
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

static int need(Py_ssize_t have, Py_ssize_t want, const char *name) {
    if (have < want) {
        PyErr_Format(PyExc_ValueError, "%s: expected at least %zd items, got %zd", name, want, have);
        return -1;
    }
    return 0;
}

/* Offsets of `n_items + 1` entries: non-negative, non-decreasing, the last within `limit`. */
static int check_offsets(const int64_t *off, Py_ssize_t n_off, int64_t limit, const char *name) {
    if (n_off < 1) {
        PyErr_Format(PyExc_ValueError, "%s: expected at least 1 item", name);
        return -1;
    }
    if (off[0] < 0 || off[n_off - 1] > limit) {
        PyErr_Format(PyExc_IndexError, "%s: offsets outside 0..%lld", name, (long long)limit);
        return -1;
    }
    for (Py_ssize_t i = 1; i < n_off; i++) {
        if (off[i] < off[i - 1]) {
            PyErr_Format(PyExc_ValueError, "%s: offsets decrease at %zd", name, i);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ character classes */

/* bit flags per code point; the table is built by curate.quality.words.char_table() */
#define ALPHA 1
#define LOWER 2
#define UPPER 4
#define SPACE 8
#define DT_PUNCT 16
#define DIGIT 32
#define SP_PUNCT 64
#define QUOTE 128
#define ICON 256
#define CURRENCY 512
#define PREFIX_X 1024
#define HYPHEN 2048
#define UPUNCT 4096
#define STERM 8192

typedef struct {
    const int32_t *t;
    int64_t n;
} Table;

/* code points past the table are treated as letters */
static inline int32_t flag(const Table *tb, int64_t cp) { return cp < tb->n ? tb->t[cp] : ALPHA; }

/* The code point at `i` and its length; never reads at or past `end` (> i). */
static inline int64_t decode(const uint8_t *d, int64_t i, int64_t end, int64_t *nb) {
    int64_t b0 = d[i];
    if (b0 < 0x80) {
        *nb = 1;
        return b0;
    }
    if (b0 < 0xE0) {
        if (i + 2 > end) goto truncated;
        *nb = 2;
        return ((b0 & 0x1F) << 6) | (d[i + 1] & 0x3F);
    }
    if (b0 < 0xF0) {
        if (i + 3 > end) goto truncated;
        *nb = 3;
        return ((b0 & 0x0F) << 12) | ((d[i + 1] & 0x3F) << 6) | (d[i + 2] & 0x3F);
    }
    if (i + 4 > end) goto truncated;
    *nb = 4;
    return ((b0 & 0x07) << 18) | ((d[i + 1] & 0x3F) << 12) | ((d[i + 2] & 0x3F) << 6) | (d[i + 3] & 0x3F);
truncated:
    *nb = end - i;
    return 0xFFFD;
}

/* ------------------------------------------------------------------ hashes and hash sets */

/* FNV-1a 64 of bytes [a, b), shifted right by one (non-negative as int64). */
static inline int64_t fnv(const uint8_t *d, int64_t a, int64_t b) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (int64_t i = a; i < b; i++) h = (h ^ d[i]) * 0x100000001B3ULL;
    return (int64_t)(h >> 1);
}

/* An open-addressing table built by words._hash_set: keys (-1: empty) then values, size a power
 * of two. */
typedef struct {
    const int64_t *keys;
    const int64_t *vals;
    int64_t mask;
} HSet;

static inline int64_t lookup(const HSet *h, int64_t v) {
    int64_t slot = v & h->mask;
    for (int64_t probe = 0; probe <= h->mask; probe++) {
        int64_t k = h->keys[slot];
        if (k == v) return h->vals[slot];
        if (k == -1) return 0;
        slot = (slot + 1) & h->mask;
    }
    return 0;
}

static int take_set(Held *held, PyObject *obj, HSet *out, const char *name) {
    Py_ssize_t n;
    const int64_t *p = take(held, obj, 8, 0, &n, name);
    if (!p) return -1;
    int64_t size = n / 2;
    if (size < 1 || n != 2 * size || (size & (size - 1)) != 0) {
        PyErr_Format(PyExc_ValueError, "%s: expected a (2, power of two) table, got %zd items", name, n);
        return -1;
    }
    out->keys = p;
    out->vals = p + size;
    out->mask = size - 1;
    return 0;
}

static int take_table(Held *held, PyObject *obj, Table *out) {
    Py_ssize_t n;
    out->t = take(held, obj, 4, 0, &n, "table");
    out->n = n;
    return out->t ? 0 : -1;
}

/* ------------------------------------------------------------------ tokenizer */

static inline int label_char(const Table *tb, int64_t c) {
    return (c < 0x80 && (flag(tb, c) & (ALPHA | DIGIT)) != 0) || (0xA1 <= c && c <= 0xFFFF);
}

/* spaCy's URL_MATCH, without a scheme: [user@]label.(label.)*tld[:port][/?#...]. */
static int is_url(const int32_t *cps, int64_t s, int64_t e, const Table *tb) {
    int64_t k = s;
    for (int64_t j = s; j < e; j++) { /* user info: up to the last '@' before any '/' */
        if (cps[j] == 0x2F) break;
        if (cps[j] == 0x40) k = j + 1;
    }
    int64_t n_labels = 0;
    for (;;) {
        int64_t a = k;
        while (k < e && (label_char(tb, cps[k]) || cps[k] == 0x5F || cps[k] == 0x2D)) k++;
        if (k == a) return 0;
        if (k < e && cps[k] == 0x2E) {
            if (!label_char(tb, cps[a]) || !label_char(tb, cps[k - 1])) return 0;
            n_labels++;
            k++;
            continue;
        }
        /* the last part is the top-level domain: 2-63 lowercase letters */
        if (n_labels == 0 || k - a < 2 || k - a > 63) return 0;
        for (int64_t j = a; j < k; j++)
            if (!(flag(tb, cps[j]) & LOWER)) return 0;
        break;
    }
    if (k < e && cps[k] == 0x3A) {
        int64_t j = k + 1;
        while (j < e && (flag(tb, cps[j]) & DIGIT)) j++;
        if (!(2 <= j - k - 1 && j - k - 1 <= 5)) return 0;
        k = j;
    }
    return k == e || cps[k] == 0x2F || cps[k] == 0x3F || cps[k] == 0x23;
}

typedef struct {
    const uint8_t *data;
    const int64_t *offsets;
    int64_t n_docs;
    Table tb;
    HSet specials, units, splits;
    int64_t *ts, *te, cap, *counts;
    int32_t *cps;
    int64_t *pos, *pre_a, *pre_b, *suf_a, *suf_b;
} Tok;

#define EMIT(a, b)        \
    do {                  \
        ts[nt] = (a);     \
        te[nt] = (b);     \
        nt++;             \
    } while (0)

/* Tokens of documents d0.. into ts/te from nt0 on, while a document surely fits (a document of
 * L bytes has at most L tokens: tokens are disjoint and never empty). Returns the first document
 * not processed. */
static int64_t tokenize_docs(Tok *tk, int64_t d0, int64_t nt0) {
    const uint8_t *data = tk->data;
    const Table *tb = &tk->tb;
    int64_t *ts = tk->ts, *te = tk->te;
    int32_t *cps = tk->cps;
    int64_t *pos = tk->pos, *pre_a = tk->pre_a, *pre_b = tk->pre_b, *suf_a = tk->suf_a, *suf_b = tk->suf_b;
    int64_t nt = nt0;
    for (int64_t d = d0; d < tk->n_docs; d++) {
        int64_t i = tk->offsets[d];
        int64_t end = tk->offsets[d + 1];
        if (nt + (end - i) + 1 > tk->cap) return d;
        int64_t start_nt = nt;
        while (i < end) {
            int64_t nb;
            int64_t cp = decode(data, i, end, &nb);
            if (flag(tb, cp) & SPACE) {
                i += nb;
                continue;
            }
            int64_t m = 0, j = i;
            int simple = 1; /* only ASCII letters and digits: one token, no affix rules apply */
            while (j < end) {
                cp = decode(data, j, end, &nb);
                int32_t fl = flag(tb, cp);
                if (fl & SPACE) break;
                if (cp >= 0x80 || !(fl & (ALPHA | DIGIT))) simple = 0;
                cps[m] = (int32_t)cp;
                pos[m] = j;
                m++;
                j += nb;
            }
            pos[m] = j;
            i = j;
            if (simple && m > 1 && (flag(tb, cps[m - 1]) & ALPHA)) {
                for (int64_t k = 0; k < m - 1; k++) { /* a unit glued to a number (10km) takes the slow path */
                    if (flag(tb, cps[k]) & DIGIT) {
                        simple = 0;
                        break;
                    }
                }
            }
            if (simple) {
                int64_t cut = m <= 8 ? lookup(&tk->splits, fnv(data, pos[0], pos[m])) : 0;
                ts[nt] = pos[0];
                if (cut > 0 && cut < pos[m] - pos[0]) {
                    te[nt] = pos[0] + cut;
                    nt++;
                    ts[nt] = pos[0] + cut;
                }
                te[nt] = pos[m];
                nt++;
                continue;
            }
            /* ---- prefixes and suffixes */
            int64_t s = 0, e = m, npre = 0, nsuf = 0;
            while (s < e) {
                if (lookup(&tk->specials, fnv(data, pos[s], pos[e]))) break;
                int changed = 0;
                int64_t c = cps[s];
                int32_t fl = flag(tb, c);
                int64_t plen = 0;
                if (c == 0x2E && s + 1 < e && cps[s + 1] == 0x2E) {
                    plen = 2;
                    while (s + plen < e && cps[s + plen] == 0x2E) plen++;
                } else if ((fl & (SP_PUNCT | QUOTE | CURRENCY | ICON | PREFIX_X)) ||
                           (c == 0x2B && !(s + 1 < e && (flag(tb, cps[s + 1]) & DIGIT)))) {
                    plen = 1;
                }
                if (plen > 0 && s + plen < e) {
                    pre_a[npre] = s;
                    pre_b[npre] = s + plen;
                    npre++;
                    s += plen;
                    changed = 1;
                    if (lookup(&tk->specials, fnv(data, pos[s], pos[e]))) break;
                } else if (plen > 0) { /* the whole rest is one prefix token */
                    pre_a[npre] = s;
                    pre_b[npre] = e;
                    npre++;
                    s = e;
                    break;
                }
                /* suffix */
                int64_t slen = 0;
                c = cps[e - 1];
                fl = flag(tb, c);
                int64_t prev = e - 2 >= s ? cps[e - 2] : -1;
                int32_t pfl = prev >= 0 ? flag(tb, prev) : 0;
                if (c == 0x2E && prev == 0x2E) {
                    slen = 2;
                    while (e - slen - 1 >= s && cps[e - slen - 1] == 0x2E) slen++;
                } else if ((fl & (SP_PUNCT | QUOTE | ICON)) || c == 0x2014 || c == 0x2013) {
                    slen = 1;
                } else if ((c == 0x73 || c == 0x53) && (prev == 0x27 || prev == 0x2019) && e - 2 > s) {
                    slen = 2;
                } else if ((c == 0x2B && (pfl & DIGIT)) || ((fl & CURRENCY) && (pfl & DIGIT)) ||
                           (c == 0x2E && prev >= 0 &&
                            ((pfl & (DIGIT | LOWER | SP_PUNCT | QUOTE)) || prev == 0x25 || prev == 0xB2 ||
                             prev == 0x2D || prev == 0x2B ||
                             (e - 3 >= s && (pfl & UPPER) && (flag(tb, cps[e - 3]) & UPPER))))) {
                    slen = 1;
                } else if ((fl & ALPHA) && c < 0x80) {
                    /* a unit glued to a number: 10km, 64K */
                    int64_t k = e - 1;
                    while (k > s && cps[k - 1] < 0x80 && (flag(tb, cps[k - 1]) & ALPHA)) k--;
                    if (k > s && (flag(tb, cps[k - 1]) & DIGIT) && lookup(&tk->units, fnv(data, pos[k], pos[e])))
                        slen = e - k;
                } else if (c == 0x25 && (pfl & DIGIT)) {
                    slen = 1;
                }
                if (slen > 0 && e - slen > s) {
                    suf_a[nsuf] = e - slen;
                    suf_b[nsuf] = e;
                    nsuf++;
                    e -= slen;
                    changed = 1;
                } else if (slen > 0 && !changed) {
                    suf_a[nsuf] = s;
                    suf_b[nsuf] = e;
                    nsuf++;
                    e = s;
                    break;
                }
                if (!changed) break;
            }
            /* ---- emit prefixes */
            for (int64_t k = 0; k < npre; k++) EMIT(pos[pre_a[k]], pos[pre_b[k]]);
            /* ---- the core, with infixes */
            if (s < e) {
                int64_t core_hash = fnv(data, pos[s], pos[e]);
                int core_special = lookup(&tk->specials, core_hash) != 0;
                int url = 0;
                for (int64_t k = s; k < e - 2; k++) {
                    if (cps[k] == 0x3A && cps[k + 1] == 0x2F && cps[k + 2] == 0x2F) {
                        url = 1;
                        break;
                    }
                }
                int64_t cut_bytes = lookup(&tk->splits, core_hash);
                if (cut_bytes > 0 && cut_bytes < pos[e] - pos[s]) {
                    EMIT(pos[s], pos[s] + cut_bytes);
                    EMIT(pos[s] + cut_bytes, pos[e]);
                } else if (core_special || url || is_url(cps, s, e, tb)) {
                    EMIT(pos[s], pos[e]);
                } else {
                    /* English contractions: do|n't, we|'re, I|'m */
                    int64_t cut = -1;
                    if ((e - s >= 4 && (cps[e - 2] == 0x27 || cps[e - 2] == 0x2019) &&
                         (cps[e - 1] == 0x74 || cps[e - 1] == 0x54) && (cps[e - 3] == 0x6E || cps[e - 3] == 0x4E)) ||
                        (e - s >= 4 && (cps[e - 3] == 0x27 || cps[e - 3] == 0x2019) &&
                         ((cps[e - 2] == 0x72 && cps[e - 1] == 0x65) || (cps[e - 2] == 0x76 && cps[e - 1] == 0x65) ||
                          (cps[e - 2] == 0x6C && cps[e - 1] == 0x6C)))) {
                        cut = e - 3;
                    } else if (e - s >= 3 && (cps[e - 2] == 0x27 || cps[e - 2] == 0x2019) &&
                               (cps[e - 1] == 0x64 || cps[e - 1] == 0x6D)) {
                        cut = e - 2;
                    }
                    if (cut > s) {
                        for (int64_t k = s; k < cut; k++) {
                            if (!(flag(tb, cps[k]) & ALPHA)) {
                                cut = -1;
                                break;
                            }
                        }
                    }
                    if (cut > s) {
                        EMIT(pos[s], pos[cut]);
                        EMIT(pos[cut], pos[e]);
                    } else {
                        int64_t piece = s, k = s;
                        while (k < e) {
                            int64_t c = cps[k];
                            int32_t fl = flag(tb, c);
                            int64_t ilen = 0;
                            if (c == 0x2E && k + 1 < e && cps[k + 1] == 0x2E) {
                                ilen = 2;
                                while (k + ilen < e && cps[k + ilen] == 0x2E) ilen++;
                            } else if (c == 0x2026 || (fl & ICON)) {
                                ilen = 1;
                            } else if (k > s && k + 1 < e) {
                                int32_t pf = flag(tb, cps[k - 1]);
                                int32_t nf = flag(tb, cps[k + 1]);
                                if (((c == 0x2B || c == 0x2D || c == 0x2A || c == 0x5E) && (pf & DIGIT) &&
                                     ((nf & DIGIT) || cps[k + 1] == 0x2D)) ||
                                    (c == 0x2E && (pf & (LOWER | QUOTE)) && (nf & (UPPER | QUOTE))) ||
                                    (c == 0x2C && (pf & ALPHA) && (nf & ALPHA))) {
                                    ilen = 1;
                                } else if ((fl & HYPHEN) && (pf & (ALPHA | DIGIT))) {
                                    for (int64_t h = 1; h <= 3 && k + h < e; h++) {
                                        if (flag(tb, cps[k + h]) & ALPHA) {
                                            ilen = h;
                                            break;
                                        }
                                        if (!(cps[k + h] == 0x2D || cps[k + h] == 0x2014)) break;
                                    }
                                } else if ((c == 0x3A || c == 0x3C || c == 0x3E || c == 0x3D || c == 0x2F) &&
                                           (pf & (ALPHA | DIGIT)) && (nf & ALPHA)) {
                                    ilen = 1;
                                }
                            }
                            if (ilen > 0) {
                                if (k > piece) EMIT(pos[piece], pos[k]);
                                EMIT(pos[k], pos[k + ilen]);
                                k += ilen;
                                piece = k;
                            } else {
                                k++;
                            }
                        }
                        if (piece < e) EMIT(pos[piece], pos[e]);
                    }
                }
            }
            /* ---- emit suffixes (collected from the end) */
            for (int64_t k = nsuf - 1; k >= 0; k--) EMIT(pos[suf_a[k]], pos[suf_b[k]]);
        }
        /* merge adjacent short tokens that spell an emoticon exception, e.g. "):" */
        int64_t w = start_nt, r = start_nt;
        while (r < nt) {
            if (r + 1 < nt && te[r] == ts[r + 1] && te[r + 1] - ts[r] <= 3 &&
                lookup(&tk->specials, fnv(data, ts[r], te[r + 1]))) {
                ts[w] = ts[r];
                te[w] = te[r + 1];
                r += 2;
            } else {
                ts[w] = ts[r];
                te[w] = te[r];
                r += 1;
            }
            w++;
        }
        nt = w;
        tk->counts[d] = nt - start_nt;
    }
    return tk->n_docs;
}

static PyObject *py_tokenize(PyObject *self, PyObject *args) {
    PyObject *o_data, *o_off, *o_table, *o_spec, *o_units, *o_splits, *o_ts, *o_te, *o_counts;
    Py_ssize_t d0, nt0;
    if (!PyArg_ParseTuple(args, "OOOOOOnnOOO", &o_data, &o_off, &o_table, &o_spec, &o_units, &o_splits, &d0, &nt0,
                          &o_ts, &o_te, &o_counts))
        return NULL;
    Held held = {.n = 0};
    Tok t;
    Py_ssize_t n_data, n_off, n_ts, n_te, n_counts;
    PyObject *result = NULL;
    if (!(t.data = take(&held, o_data, 1, 0, &n_data, "data"))) goto done;
    if (!(t.offsets = take(&held, o_off, 8, 0, &n_off, "offsets"))) goto done;
    if (check_offsets(t.offsets, n_off, n_data, "offsets") < 0) goto done;
    if (take_table(&held, o_table, &t.tb) < 0) goto done;
    if (take_set(&held, o_spec, &t.specials, "specials") < 0) goto done;
    if (take_set(&held, o_units, &t.units, "units") < 0) goto done;
    if (take_set(&held, o_splits, &t.splits, "splits") < 0) goto done;
    if (!(t.ts = take(&held, o_ts, 8, 1, &n_ts, "ts"))) goto done;
    if (!(t.te = take(&held, o_te, 8, 1, &n_te, "te"))) goto done;
    if (!(t.counts = take(&held, o_counts, 8, 1, &n_counts, "counts"))) goto done;
    t.n_docs = n_off - 1;
    t.cap = n_ts < n_te ? n_ts : n_te;
    if (need(n_counts, t.n_docs, "counts") < 0) goto done;
    if (d0 < 0 || d0 > t.n_docs || nt0 < 0 || nt0 > t.cap) {
        PyErr_SetString(PyExc_IndexError, "d0 or nt0 out of range");
        goto done;
    }
    int64_t longest = 0;
    for (int64_t d = d0; d < t.n_docs; d++) {
        int64_t len = t.offsets[d + 1] - t.offsets[d];
        if (len > longest) longest = len;
    }
    int64_t width = longest + 2;
    t.cps = malloc((size_t)width * sizeof(int32_t));
    int64_t *scratch = malloc((size_t)width * 5 * sizeof(int64_t));
    if (!t.cps || !scratch) {
        free(t.cps);
        free(scratch);
        PyErr_NoMemory();
        goto done;
    }
    t.pos = scratch;
    t.pre_a = scratch + width;
    t.pre_b = scratch + 2 * width;
    t.suf_a = scratch + 3 * width;
    t.suf_b = scratch + 4 * width;
    int64_t next;
    Py_BEGIN_ALLOW_THREADS
    next = tokenize_docs(&t, d0, nt0);
    Py_END_ALLOW_THREADS
    free(t.cps);
    free(scratch);
    result = PyLong_FromLongLong(next);
done:
    release_all(&held);
    return result;
}

/* Per token: characters and a hash; per document: words (tokens with a non-punctuation
 * character), their characters, tokens with a letter, and a bit mask of the stop words present. */
static PyObject *py_features(PyObject *self, PyObject *args) {
    PyObject *o_data, *o_ts, *o_te, *o_off, *o_table, *o_stop, *o_nchars, *o_hashes, *o_words, *o_wchars, *o_alphas,
        *o_stops;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOO", &o_data, &o_ts, &o_te, &o_off, &o_table, &o_stop, &o_nchars,
                          &o_hashes, &o_words, &o_wchars, &o_alphas, &o_stops))
        return NULL;
    Held held = {.n = 0};
    PyObject *result = NULL;
    Py_ssize_t n_data, n_ts, n_te, n_off, n1, n2, n3, n4, n5, n6;
    Table tb;
    HSet stop;
    const uint8_t *data;
    const int64_t *ts, *te, *off;
    int64_t *nchars, *hashes, *words, *wchars, *alphas, *stops;
    if (!(data = take(&held, o_data, 1, 0, &n_data, "data"))) goto done;
    if (!(ts = take(&held, o_ts, 8, 0, &n_ts, "ts"))) goto done;
    if (!(te = take(&held, o_te, 8, 0, &n_te, "te"))) goto done;
    if (!(off = take(&held, o_off, 8, 0, &n_off, "offsets"))) goto done;
    if (take_table(&held, o_table, &tb) < 0 || take_set(&held, o_stop, &stop, "stop_table") < 0) goto done;
    if (!(nchars = take(&held, o_nchars, 8, 1, &n1, "nchars"))) goto done;
    if (!(hashes = take(&held, o_hashes, 8, 1, &n2, "hashes"))) goto done;
    if (!(words = take(&held, o_words, 8, 1, &n3, "words"))) goto done;
    if (!(wchars = take(&held, o_wchars, 8, 1, &n4, "word_chars"))) goto done;
    if (!(alphas = take(&held, o_alphas, 8, 1, &n5, "alphas"))) goto done;
    if (!(stops = take(&held, o_stops, 8, 1, &n6, "stops"))) goto done;
    int64_t n_tok = n_ts < n_te ? n_ts : n_te;
    if (check_offsets(off, n_off, n_tok, "offsets") < 0) goto done;
    int64_t n_docs = n_off - 1;
    if (need(n1, off[n_docs], "nchars") < 0 || need(n2, off[n_docs], "hashes") < 0 || need(n3, n_docs, "words") < 0 ||
        need(n4, n_docs, "word_chars") < 0 || need(n5, n_docs, "alphas") < 0 || need(n6, n_docs, "stops") < 0)
        goto done;
    for (int64_t t = off[0]; t < off[n_docs]; t++) {
        if (ts[t] < 0 || ts[t] > te[t] || te[t] > n_data) {
            PyErr_Format(PyExc_IndexError, "token %lld: bytes outside the data", (long long)t);
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (int64_t d = 0; d < n_docs; d++) {
        int64_t w = 0, wc = 0, al = 0, st = 0;
        for (int64_t t = off[d]; t < off[d + 1]; t++) {
            int64_t i = ts[t], end = te[t], c_n = 0, nb;
            int is_word = 0, is_alpha = 0;
            while (i < end) {
                int32_t fl = flag(&tb, decode(data, i, end, &nb));
                if (!(fl & DT_PUNCT)) is_word = 1;
                if (fl & ALPHA) is_alpha = 1;
                c_n++;
                i += nb;
            }
            int64_t h = fnv(data, ts[t], end);
            nchars[t] = c_n;
            hashes[t] = h;
            if (is_word) {
                w++;
                wc += c_n;
            }
            if (is_alpha) al++;
            if (c_n <= 4) st |= lookup(&stop, h);
        }
        words[d] = w;
        wchars[d] = wc;
        alphas[d] = al;
        stops[d] = st;
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    release_all(&held);
    return result;
}

/* Sentences per text as spaCy's sentencizer finds them: a new sentence starts at the first
 * non-punctuation token after a sentence-final token (a terminal standing alone). */
static PyObject *py_sentences(PyObject *self, PyObject *args) {
    PyObject *o_data, *o_ts, *o_te, *o_off, *o_table, *o_out;
    if (!PyArg_ParseTuple(args, "OOOOOO", &o_data, &o_ts, &o_te, &o_off, &o_table, &o_out)) return NULL;
    Held held = {.n = 0};
    PyObject *result = NULL;
    Py_ssize_t n_data, n_ts, n_te, n_off, n_out;
    Table tb;
    const uint8_t *data;
    const int64_t *ts, *te, *off;
    int64_t *out;
    if (!(data = take(&held, o_data, 1, 0, &n_data, "data"))) goto done;
    if (!(ts = take(&held, o_ts, 8, 0, &n_ts, "ts"))) goto done;
    if (!(te = take(&held, o_te, 8, 0, &n_te, "te"))) goto done;
    if (!(off = take(&held, o_off, 8, 0, &n_off, "offsets"))) goto done;
    if (take_table(&held, o_table, &tb) < 0) goto done;
    if (!(out = take(&held, o_out, 8, 1, &n_out, "out"))) goto done;
    if (check_offsets(off, n_off, n_ts < n_te ? n_ts : n_te, "offsets") < 0) goto done;
    int64_t n = n_off - 1;
    if (need(n_out, n, "out") < 0) goto done;
    for (int64_t t = off[0]; t < off[n]; t++) {
        if (ts[t] < 0 || ts[t] >= te[t] || te[t] > n_data) {
            PyErr_Format(PyExc_IndexError, "token %lld: empty or outside the data", (long long)t);
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (int64_t d = 0; d < n; d++) {
        out[d] = 0;
        if (off[d + 1] == off[d]) continue;
        int64_t count = 1, nb;
        int seen = 0;
        for (int64_t t = off[d]; t < off[d + 1]; t++) {
            int64_t cp = decode(data, ts[t], te[t], &nb);
            if (ts[t] + nb == te[t] && (flag(&tb, cp) & STERM)) {
                seen = 1;
                continue;
            }
            if (seen) {
                int punct = 1;
                for (int64_t i = ts[t]; i < te[t]; i += nb) {
                    if (!(flag(&tb, decode(data, i, te[t], &nb)) & UPUNCT)) {
                        punct = 0;
                        break;
                    }
                }
                if (!punct) {
                    count++;
                    seen = 0;
                }
            }
        }
        out[d] = count;
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    release_all(&held);
    return result;
}

/* ------------------------------------------------------------------ repetition counts */

static int64_t table_size(int64_t m) {
    int64_t size = 16;
    while (size < 2 * m) size *= 2;
    return size;
}

/* Per segment: how many elements repeat an earlier one, and their total length. */
static PyObject *py_dup_elements(PyObject *self, PyObject *args) {
    PyObject *o_off, *o_hash, *o_len, *o_dn, *o_dc;
    if (!PyArg_ParseTuple(args, "OOOOO", &o_off, &o_hash, &o_len, &o_dn, &o_dc)) return NULL;
    Held held = {.n = 0};
    PyObject *result = NULL;
    Py_ssize_t n_off, n_hash, n_len, n_dn, n_dc;
    const int64_t *off, *hashes, *lengths;
    int64_t *dup_n, *dup_c;
    if (!(off = take(&held, o_off, 8, 0, &n_off, "offsets"))) goto done;
    if (!(hashes = take(&held, o_hash, 8, 0, &n_hash, "hashes"))) goto done;
    if (!(lengths = take(&held, o_len, 8, 0, &n_len, "lengths"))) goto done;
    if (!(dup_n = take(&held, o_dn, 8, 1, &n_dn, "dup_n"))) goto done;
    if (!(dup_c = take(&held, o_dc, 8, 1, &n_dc, "dup_c"))) goto done;
    if (check_offsets(off, n_off, n_hash < n_len ? n_hash : n_len, "offsets") < 0) goto done;
    int64_t n = n_off - 1;
    if (need(n_dn, n, "dup_n") < 0 || need(n_dc, n, "dup_c") < 0) goto done;
    int64_t longest = 0;
    for (int64_t d = 0; d < n; d++)
        if (off[d + 1] - off[d] > longest) longest = off[d + 1] - off[d];
    int64_t cap = table_size(longest);
    int64_t *keys = malloc((size_t)cap * sizeof(int64_t));
    uint8_t *used = malloc((size_t)cap);
    if (!keys || !used) {
        free(keys);
        free(used);
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (int64_t d = 0; d < n; d++) {
        int64_t lo = off[d], hi = off[d + 1], dn = 0, dc = 0;
        if (hi - lo >= 2) {
            int64_t size = table_size(hi - lo), mask = size - 1;
            memset(used, 0, (size_t)size);
            for (int64_t i = lo; i < hi; i++) {
                int64_t h = hashes[i];
                int64_t s = h & mask;
                while (used[s] && keys[s] != h) s = (s + 1) & mask;
                if (used[s]) {
                    dn++;
                    dc += lengths[i];
                } else {
                    used[s] = 1;
                    keys[s] = h;
                }
            }
        }
        dup_n[d] = dn;
        dup_c[d] = dc;
    }
    Py_END_ALLOW_THREADS
    free(keys);
    free(used);
    result = Py_None;
    Py_INCREF(result);
done:
    release_all(&held);
    return result;
}

static inline uint64_t mix(uint64_t a, uint64_t b) {
    a = ((a << 7) | (a >> 57)) ^ b;
    return a * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
}

/* Gopher's n-gram repetition counts per document, from token hashes and lengths.
 * top[k, d]: characters of the most frequent (n=2,3,4)-gram (joined by spaces) times its count,
 * the earliest first on ties (Counter.most_common). dup[k, d]: characters of (n=5..10)-grams that
 * repeat an earlier one, scanning left to right and jumping over a repeated n-gram. */
static PyObject *py_ngram_repetition(PyObject *self, PyObject *args) {
    PyObject *o_off, *o_hash, *o_len, *o_top, *o_dup;
    if (!PyArg_ParseTuple(args, "OOOOO", &o_off, &o_hash, &o_len, &o_top, &o_dup)) return NULL;
    Held held = {.n = 0};
    PyObject *result = NULL;
    Py_ssize_t n_off, n_hash, n_len, n_top, n_dup;
    const int64_t *off, *tok_len;
    const uint64_t *tok_hash;
    int64_t *top, *dup;
    if (!(off = take(&held, o_off, 8, 0, &n_off, "offsets"))) goto done;
    if (!(tok_hash = take(&held, o_hash, 8, 0, &n_hash, "tok_hash"))) goto done;
    if (!(tok_len = take(&held, o_len, 8, 0, &n_len, "tok_len"))) goto done;
    if (!(top = take(&held, o_top, 8, 1, &n_top, "top"))) goto done;
    if (!(dup = take(&held, o_dup, 8, 1, &n_dup, "dup"))) goto done;
    if (check_offsets(off, n_off, n_hash < n_len ? n_hash : n_len, "offsets") < 0) goto done;
    int64_t n = n_off - 1;
    if (need(n_top, 3 * n, "top") < 0 || need(n_dup, 6 * n, "dup") < 0) goto done;
    int64_t longest = 0;
    for (int64_t d = 0; d < n; d++)
        if (off[d + 1] - off[d] > longest) longest = off[d + 1] - off[d];
    int64_t cap = table_size(longest);
    uint64_t *keys = malloc((size_t)cap * sizeof(uint64_t));
    int64_t *counts = malloc((size_t)cap * sizeof(int64_t));
    int64_t *first = malloc((size_t)cap * sizeof(int64_t));
    uint8_t *used = malloc((size_t)cap);
    int64_t *cum = malloc((size_t)(longest + 1) * sizeof(int64_t));
    uint64_t *gram = malloc((size_t)(longest + 1) * sizeof(uint64_t));
    if (!keys || !counts || !first || !used || !cum || !gram) {
        free(keys);
        free(counts);
        free(first);
        free(used);
        free(cum);
        free(gram);
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    memset(top, 0, (size_t)(3 * n) * sizeof(int64_t));
    memset(dup, 0, (size_t)(6 * n) * sizeof(int64_t));
    for (int64_t d = 0; d < n; d++) {
        int64_t lo = off[d], hi = off[d + 1], m = hi - lo;
        if (m < 2) continue;
        int64_t size = table_size(m), mask = size - 1;
        cum[0] = 0;
        for (int64_t i = 0; i < m; i++) cum[i + 1] = cum[i] + tok_len[lo + i];
        memcpy(gram, tok_hash + lo, (size_t)m * sizeof(uint64_t)); /* gram[i]: hash of the n-gram at token i */
        for (int64_t g = 2; g <= 10; g++) {
            int64_t k = m - g + 1;
            if (k <= 0) break;
            for (int64_t i = 0; i < k; i++) gram[i] = mix(gram[i], tok_hash[lo + i + g - 1]);
            memset(used, 0, (size_t)size);
            if (g <= 4) {
                int64_t best_c = 0, best_f = 0;
                for (int64_t i = 0; i < k; i++) {
                    uint64_t h = gram[i];
                    int64_t s = (int64_t)(h & (uint64_t)mask);
                    while (used[s] && keys[s] != h) s = (s + 1) & mask;
                    if (used[s]) {
                        counts[s]++;
                    } else {
                        used[s] = 1;
                        keys[s] = h;
                        counts[s] = 1;
                        first[s] = i;
                    }
                    int64_t c = counts[s];
                    if (c > best_c || (c == best_c && first[s] < best_f)) {
                        best_c = c;
                        best_f = first[s];
                    }
                }
                top[(g - 2) * n + d] = (cum[best_f + g] - cum[best_f] + g - 1) * best_c;
            } else {
                int64_t i = 0, rep = 0;
                while (i < k) {
                    uint64_t h = gram[i];
                    int64_t s = (int64_t)(h & (uint64_t)mask);
                    while (used[s] && keys[s] != h) s = (s + 1) & mask;
                    if (used[s]) {
                        rep += cum[i + g] - cum[i];
                        i += g;
                    } else {
                        used[s] = 1;
                        keys[s] = h;
                        i++;
                    }
                }
                dup[(g - 5) * n + d] = rep;
                /* no g-gram repeats, so no longer one does (it would start with a repeated
                 * g-gram): the larger sizes stay 0 (most documents stop at 5) */
                if (rep == 0) break;
            }
        }
    }
    Py_END_ALLOW_THREADS
    free(keys);
    free(counts);
    free(first);
    free(used);
    free(cum);
    free(gram);
    result = Py_None;
    Py_INCREF(result);
done:
    release_all(&held);
    return result;
}

/* ------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"tokenize", py_tokenize, METH_VARARGS,
     "tokenize(data, offsets, table, specials, units, splits, d0, nt0, ts, te, counts) -> first document not done"},
    {"features", py_features, METH_VARARGS,
     "features(data, ts, te, offsets, table, stop_table, nchars, hashes, words, word_chars, alphas, stops)"},
    {"sentences", py_sentences, METH_VARARGS, "sentences(data, ts, te, offsets, table, out)"},
    {"dup_elements", py_dup_elements, METH_VARARGS, "dup_elements(offsets, hashes, lengths, dup_n, dup_c)"},
    {"ngram_repetition", py_ngram_repetition, METH_VARARGS,
     "ngram_repetition(offsets, tok_hash, tok_len, top (3, n), dup (6, n))"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_native", .m_doc = "Compiled quality-signal kernels.", .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }

/* Compiled kernels of the dedup stages: MinHash signatures, LSH band hashes, bucket candidates,
 * verified joins and union-find; and the text scans ingest shares with them (string hashes, the
 * rows that may need Unicode normalisation, the bytes that end lines).
 *
 * Why C and not numba: these loops are the whole cost of near-duplicate removal, and numba's
 * import plus LLVM start cost every worker ~140 MiB and ~1 s before the first document (more
 * than the work itself on a 100k-document run). The same loops in C need neither; they take
 * numpy arrays (any object with the buffer protocol) and release the GIL while they run.
 *
 * Every function here is wrapped by a typed Python function in curate.dedup (minhash.py, lsh.py,
 * unionfind.py) that checks dtypes and shapes; this file checks sizes, ids and table values, so
 * that a wrong call raises instead of reading past a buffer. One input is trusted: a union-find
 * `parent` array must be a forest whose roots are its smallest members (new_parent() makes one,
 * and only these kernels change it); its contents are not re-checked on every call. Text may be
 * malformed UTF-8 (each bad byte reads as U+FFFD). Hash definitions are stable: stored indexes
 * depend on them (see INDEX_VERSION in curate.stages.minhash_dedup).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The signature loop's 128 lanes of a*h+b and min vectorise over 8 uint32 with AVX2; older
 * x86-64 CPUs take the generic clone. Other platforms build the generic code only. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define MULTIVERSION
#endif

/* ------------------------------------------------------------------ buffers */

typedef struct {
    Py_buffer views[12];
    int n;
} Held;

static void release_all(Held *held) {
    for (int i = 0; i < held->n; i++) PyBuffer_Release(&held->views[i]);
    held->n = 0;
}

/* A C-contiguous buffer of `itemsize`-byte items (0: 4 or 8 accepted; -1: any), at least
 * `min_items` long; writable when asked. Returns the data pointer and item count. */
static void *take(Held *held, PyObject *obj, Py_ssize_t itemsize, int writable, Py_ssize_t min_items,
                  Py_ssize_t *count, const char *name) {
    Py_buffer *v = &held->views[held->n];
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, v, flags) < 0) return NULL;
    held->n++;
    Py_ssize_t size = v->itemsize;
    if (itemsize > 0 ? size != itemsize : (itemsize == 0 && size != 4 && size != 8)) {
        if (itemsize > 0)
            PyErr_Format(PyExc_TypeError, "%s: expected %zd-byte items, got %zd", name, itemsize, size);
        else
            PyErr_Format(PyExc_TypeError, "%s: expected 4- or 8-byte items, got %zd", name, size);
        return NULL;
    }
    Py_ssize_t items = v->len / size;
    if (items < min_items) {
        PyErr_Format(PyExc_ValueError, "%s: expected at least %zd items, got %zd", name, min_items, items);
        return NULL;
    }
    if (count) *count = items;
    return v->buf;
}

/* A string column in either of Arrow's layouts: int64 offsets (n + 1) into one byte buffer, or
 * 16-byte views (Arrow's string_view, polars' own strings: the length, then up to 12 bytes
 * inline, else a 4-byte prefix, a buffer index and an offset) into several buffers. The views
 * let the kernels read polars' strings where they lie, without an Arrow copy of all the text. */
typedef struct {
    Py_ssize_t n;
    const int64_t *off; /* offsets layout */
    const uint8_t *data;
    const uint8_t *views; /* views layout; data buffers by address (the caller keeps them alive) */
    const uint64_t *buf_addr;
} Strings;

static inline const uint8_t *string_at(const Strings *s, Py_ssize_t i, size_t *len) {
    if (s->off) {
        *len = (size_t)(s->off[i + 1] - s->off[i]);
        return s->data + s->off[i];
    }
    const uint8_t *v = s->views + 16 * (size_t)i;
    uint32_t n, buf, at;
    memcpy(&n, v, 4);
    *len = n;
    if (n <= 12) return v + 4;
    memcpy(&buf, v + 8, 4);
    memcpy(&at, v + 12, 4);
    return (const uint8_t *)(uintptr_t)s->buf_addr[buf] + at;
}

static inline size_t string_len(const Strings *s, Py_ssize_t i) {
    if (s->off) return (size_t)(s->off[i + 1] - s->off[i]);
    uint32_t n;
    memcpy(&n, s->views + 16 * (size_t)i, 4);
    return n;
}

/* A string column from (offsets, data) or (views, (buffer addresses, buffer sizes)), every string
 * checked to lie inside its buffer. Returns 0, or -1 with an exception set. */
static int take_strings(Held *held, PyObject *o_off, PyObject *o_data, Strings *s) {
    memset(s, 0, sizeof(*s));
    if (PyTuple_Check(o_data)) {
        PyObject *o_addr, *o_size;
        if (!PyArg_ParseTuple(o_data, "OO", &o_addr, &o_size)) return -1;
        Py_ssize_t n_views, n_bufs, n_sizes;
        s->views = take(held, o_off, 1, 0, 0, &n_views, "views");
        if (!s->views) return -1;
        s->buf_addr = take(held, o_addr, 8, 0, 0, &n_bufs, "buffer addresses");
        if (!s->buf_addr) return -1;
        const int64_t *size = take(held, o_size, 8, 0, n_bufs, &n_sizes, "buffer sizes");
        if (!size) return -1;
        if (n_views % 16) {
            PyErr_SetString(PyExc_ValueError, "views: expected 16 bytes a string");
            return -1;
        }
        s->n = n_views / 16;
        for (Py_ssize_t i = 0; i < s->n; i++) {
            const uint8_t *v = s->views + 16 * (size_t)i;
            uint32_t n, buf, at;
            memcpy(&n, v, 4);
            if (n <= 12) continue;
            memcpy(&buf, v + 8, 4);
            memcpy(&at, v + 12, 4);
            if ((Py_ssize_t)buf >= n_bufs || size[buf] < 0 || (uint64_t)at + n > (uint64_t)size[buf]) {
                PyErr_SetString(PyExc_ValueError, "a view does not fit its data buffer");
                return -1;
            }
        }
        return 0;
    }
    Py_ssize_t n_off, n_data;
    s->off = take(held, o_off, 8, 0, 1, &n_off, "offsets");
    if (!s->off) return -1;
    s->data = take(held, o_data, 1, 0, 0, &n_data, "data");
    if (!s->data) return -1;
    for (Py_ssize_t i = 0; i + 1 < n_off; i++) {
        if (s->off[i] < 0 || s->off[i + 1] < s->off[i] || s->off[i + 1] > n_data) {
            PyErr_SetString(PyExc_ValueError, "offsets do not fit the data buffer");
            return -1;
        }
    }
    s->n = n_off - 1;
    return 0;
}

static inline int64_t load_index(const void *p, int wide, Py_ssize_t i) {
    return wide ? ((const int64_t *)p)[i] : (int64_t)((const int32_t *)p)[i];
}

/* ------------------------------------------------------------------ hashes */

#define X1 2654435761U
#define X2 2246822519U
#define X3 3266489917U
#define X4 668265263U
#define X5 374761393U
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL
#define TOKEN_SEED 0xCBF29CE484222325ULL

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t rd64(const uint8_t *p) {
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

static inline uint32_t xxh32_round(uint32_t acc, uint32_t lane) { return rotl32(acc + lane * X2, 13) * X1; }

/* XXH32 (equals xxhash.xxh32_intdigest). */
static uint32_t xxh32(const uint8_t *p, size_t n, uint32_t seed) {
    const uint8_t *end = p + n;
    uint32_t h;
    if (n >= 16) {
        uint32_t v1 = seed + X1 + X2, v2 = seed + X2, v3 = seed, v4 = seed - X1;
        const uint8_t *limit = end - 16;
        while (p <= limit) {
            v1 = xxh32_round(v1, rd32(p));
            v2 = xxh32_round(v2, rd32(p + 4));
            v3 = xxh32_round(v3, rd32(p + 8));
            v4 = xxh32_round(v4, rd32(p + 12));
            p += 16;
        }
        h = rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18);
    } else {
        h = seed + X5;
    }
    h += (uint32_t)n;
    while (p + 4 <= end) {
        h = rotl32(h + rd32(p) * X3, 17) * X4;
        p += 4;
    }
    while (p < end) {
        h = rotl32(h + (uint32_t)(*p) * X5, 11) * X1;
        p++;
    }
    h ^= h >> 15;
    h *= X2;
    h ^= h >> 13;
    h *= X3;
    h ^= h >> 16;
    return h;
}

static inline uint64_t xxh64_round(uint64_t acc, uint64_t lane) { return rotl64(acc + lane * P2, 31) * P1; }

static inline uint64_t xxh64_merge(uint64_t acc, uint64_t v) { return (acc ^ xxh64_round(0, v)) * P1 + P4; }

/* XXH64 (equals xxhash.xxh64_intdigest). */
static uint64_t xxh64(const uint8_t *p, size_t n, uint64_t seed) {
    const uint8_t *end = p + n;
    uint64_t h;
    if (n >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        const uint8_t *limit = end - 32;
        while (p <= limit) {
            v1 = xxh64_round(v1, rd64(p));
            v2 = xxh64_round(v2, rd64(p + 8));
            v3 = xxh64_round(v3, rd64(p + 16));
            v4 = xxh64_round(v4, rd64(p + 24));
            p += 32;
        }
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh64_merge(h, v1);
        h = xxh64_merge(h, v2);
        h = xxh64_merge(h, v3);
        h = xxh64_merge(h, v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)n;
    while (p + 8 <= end) {
        h ^= xxh64_round(0, rd64(p));
        h = rotl64(h, 27) * P1 + P4;
        p += 8;
    }
    if (p + 4 <= end) {
        h ^= (uint64_t)rd32(p) * P1;
        h = rotl64(h, 23) * P2 + P3;
        p += 4;
    }
    while (p < end) {
        h ^= (uint64_t)(*p) * P5;
        h = rotl64(h, 11) * P1;
        p++;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

/* A token hash's last round: one xor-shift-multiply spreads the high bits of the word rounds into
 * the low bits before tokens are combined into shingles (TOKEN_SEED is only a seed). */
static inline uint64_t token_final(uint64_t h) {
    h ^= h >> 32;
    h *= P2;
    h ^= h >> 29;
    return h;
}

static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6BU;
    h ^= h >> 13;
    h *= 0xC2B2AE35U;
    h ^= h >> 16;
    return h;
}

/* ------------------------------------------------------------------ tokeniser */

typedef struct {
    const uint8_t *flags;  /* per code point: 1 = \w, 2 = whitespace */
    const int32_t *lower;  /* per code point: simple lowercase */
    uint8_t ascii_word[128]; /* lowercase byte of an ASCII word character, 0 for a separator */
    int char_mode;
} Tables;

static inline size_t put_utf8(uint8_t *out, size_t j, uint32_t cp) {
    if (cp < 0x80) {
        out[j] = (uint8_t)cp;
        return j + 1;
    }
    if (cp < 0x800) {
        out[j] = (uint8_t)(0xC0 | (cp >> 6));
        out[j + 1] = (uint8_t)(0x80 | (cp & 0x3F));
        return j + 2;
    }
    if (cp < 0x10000) {
        out[j] = (uint8_t)(0xE0 | (cp >> 12));
        out[j + 1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[j + 2] = (uint8_t)(0x80 | (cp & 0x3F));
        return j + 3;
    }
    out[j] = (uint8_t)(0xF0 | (cp >> 18));
    out[j + 1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[j + 2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[j + 3] = (uint8_t)(0x80 | (cp & 0x3F));
    return j + 4;
}

/* One code point from data[*i] on (advancing *i); malformed or truncated UTF-8 is U+FFFD. */
static inline uint32_t decode_utf8(const uint8_t *data, size_t n, size_t *i) {
    uint32_t c = data[*i], cp;
    size_t need = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (need == 0 || *i + need > n) { /* a stray continuation byte, or a sequence cut off by the end */
        *i += 1;
        return 0xFFFD;
    }
    const uint8_t *p = data + *i;
    if (need == 1)
        cp = c;
    else if (need == 2)
        cp = ((c & 0x1F) << 6) | (p[1] & 0x3FU);
    else if (need == 3)
        cp = ((c & 0x0F) << 12) | ((p[1] & 0x3FU) << 6) | (p[2] & 0x3FU);
    else
        cp = ((c & 0x07) << 18) | ((p[1] & 0x3FU) << 12) | ((p[2] & 0x3FU) << 6) | (p[3] & 0x3FU);
    *i += need;
    return cp < 0x110000 ? cp : 0xFFFD;
}

/* Write the normalised text of data[0:n] to scratch; unit (token or character) bounds to
 * ustart/uend (the datasketch mode and char mode, which hash the units' bytes). Malformed UTF-8
 * decodes to U+FFFD one byte at a time. Returns the number of units. */
static size_t normalise_units(const uint8_t *data, size_t n, const Tables *t, uint8_t *scratch,
                              int64_t *ustart, int64_t *uend) {
    size_t i = 0, j = 0, nu = 0;
    int in_tok = 0, pending_space = 0;
    const int char_mode = t->char_mode;
    while (i < n) {
        uint32_t c = data[i];
        if (c < 0x80 && !char_mode) { /* ASCII fast path for word tokens: most bytes of most corpora */
            i++;
            uint8_t lc = t->ascii_word[c];
            if (lc) {
                if (!in_tok) {
                    ustart[nu] = (int64_t)j;
                    in_tok = 1;
                }
                scratch[j++] = lc;
            } else if (in_tok) {
                uend[nu++] = (int64_t)j;
                in_tok = 0;
            }
            continue;
        }
        uint32_t cp = decode_utf8(data, n, &i);
        uint8_t f = t->flags[cp];
        if (char_mode) {
            if (f & 2) {
                pending_space = nu > 0;
                continue;
            }
            if (pending_space) {
                ustart[nu] = (int64_t)j;
                j = put_utf8(scratch, j, 0x20);
                uend[nu++] = (int64_t)j;
                pending_space = 0;
            }
            ustart[nu] = (int64_t)j;
            j = put_utf8(scratch, j, (uint32_t)t->lower[cp]);
            uend[nu++] = (int64_t)j;
        } else if (f & 1) {
            if (!in_tok) {
                ustart[nu] = (int64_t)j;
                in_tok = 1;
            }
            j = put_utf8(scratch, j, (uint32_t)t->lower[cp]);
        } else if (in_tok) {
            uend[nu++] = (int64_t)j;
            in_tok = 0;
        }
    }
    if (in_tok) uend[nu++] = (int64_t)j;
    return nu;
}

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* 1 if the SSE2 classifier below agrees with the tables on every ASCII byte (it hard-codes
 * [0-9A-Za-z_] and A-Z -> a-z, which is what Python's \w and lower() give for ASCII). */
static int simd_agrees(const Tables *t) {
    for (int c = 0; c < 128; c++) {
        int word = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        uint8_t low = (uint8_t)((c >= 'A' && c <= 'Z') ? c | 0x20 : c);
        if ((t->ascii_word[c] != 0) != word || (word && t->ascii_word[c] != low)) return 0;
    }
    return 1;
}

static inline void set_bits(uint64_t *bits, size_t at, uint64_t mask, int width) {
    size_t w = at >> 6, off = at & 63;
    bits[w] |= mask << off;
    if (off + (size_t)width > 64) bits[w + 1] |= mask >> (64 - off);
}

/* Fast word mode needs only each token's hash. Pass 1 writes the lowercased text to `low` with
 * one bit per byte in `word` (1: part of a token); blocks of 16 ASCII bytes are classified and
 * lowercased with SSE2, anything else one character at a time (every non-word character leaves
 * a 0 bit, so tokens stay apart). Pass 2 walks the runs of 1 bits and hashes each token 8 bytes
 * per multiply. `low` needs 2n + 24 bytes (8 of padding for the word loads), `word` (2n + 24) / 64
 * + 2 zeroed words. Returns the number of tokens. */
static size_t token_hashes(const uint8_t *data, size_t n, const Tables *t, int simd, uint8_t *low,
                           uint64_t *word, uint64_t *uhash) {
    size_t i = 0, j = 0;
    while (i < n) {
#if defined(__SSE2__)
        if (simd && i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i *)(data + i));
            if (_mm_movemask_epi8(v) == 0) {
                __m128i lowered = _mm_or_si128(v, _mm_set1_epi8(0x20));
                __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lowered, _mm_set1_epi8('a' - 1)),
                                              _mm_cmpgt_epi8(_mm_set1_epi8('z' + 1), lowered));
                __m128i is_digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                              _mm_cmpgt_epi8(_mm_set1_epi8('9' + 1), v));
                __m128i is_word = _mm_or_si128(_mm_or_si128(alpha, is_digit), _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
                __m128i out = _mm_or_si128(_mm_and_si128(alpha, lowered), _mm_andnot_si128(alpha, v));
                _mm_storeu_si128((__m128i *)(low + j), out);
                set_bits(word, j, (uint64_t)(uint32_t)_mm_movemask_epi8(is_word), 16);
                i += 16;
                j += 16;
                continue;
            }
        }
#endif
        uint32_t c = data[i];
        if (c < 0x80) {
            i++;
            uint8_t lc = t->ascii_word[c];
            if (lc) {
                low[j] = lc;
                word[j >> 6] |= 1ULL << (j & 63);
            } else {
                low[j] = 0x20;
            }
            j++;
            continue;
        }
        uint32_t cp = decode_utf8(data, n, &i);
        if (t->flags[cp] & 1) {
            size_t j0 = j;
            j = put_utf8(low, j, (uint32_t)t->lower[cp]);
            set_bits(word, j0, (1ULL << (j - j0)) - 1, (int)(j - j0));
        } else {
            low[j++] = 0x20;
        }
    }
    size_t nu = 0, pos = 0, words = (j >> 6) + 1;
    while (1) { /* the next run of 1 bits from pos: [a, b) */
        size_t w = pos >> 6;
        uint64_t bitsw = w < words ? word[w] & (~0ULL << (pos & 63)) : 0;
        while (!bitsw && ++w < words) bitsw = word[w];
        if (!bitsw) break;
        size_t a = (w << 6) + (size_t)__builtin_ctzll(bitsw);
        uint64_t zeros = ~word[w] & (~0ULL << (a & 63));
        while (!zeros) zeros = ~word[++w]; /* a zero word always follows the text */
        size_t b = (w << 6) + (size_t)__builtin_ctzll(zeros);
        uint64_t h = TOKEN_SEED ^ (uint64_t)(b - a);
        size_t q = a;
        for (; q + 8 <= b; q += 8) h = rotl64((h ^ rd64(low + q)) * P1, 31);
        if (q < b) h = rotl64((h ^ (rd64(low + q) & ((1ULL << (8 * (b - q))) - 1))) * P1, 31);
        uhash[nu++] = token_final(h);
        pos = b;
    }
    return nu;
}

/* ------------------------------------------------------------------ signatures */

typedef struct {
    Strings texts;
    Py_ssize_t n_docs;
    int ngram;
    int datasketch;
    const uint32_t *a, *b;
    int num_perm;
    uint32_t *out;
    int32_t *nshingles;
    /* shingle sets (set_cap > 0): per document a header (its number of distinct shingle hashes)
     * then the smallest min(that, set_cap) of them, ascending; set_off[d] is where document d's
     * record starts, in uint32 units. The buffer is the bytes object handed back, sized once for
     * the most a document can have (1 + min(set_cap, its bytes + 1) each: no more shingles than
     * bytes + 1), then shrunk: the pages beyond what is written are never touched, and no copy is
     * made (a copy into a fresh bytes object was a tenth of `curate dedup`'s page faults) */
    Py_ssize_t set_cap;
    uint32_t *set_buf;
    size_t set_len, set_room;
    int64_t *set_off;
} SigJob;

/* Ascending uint32 sort in place: insertion sort for short runs, else LSD radix (4 x 8 bits)
 * through `tmp` (n items). A document's shingle hashes are random 32-bit values, so radix passes
 * beat comparison sorts from ~64 items on. */
static void sort_u32(uint32_t *v, size_t n, uint32_t *tmp) {
    if (n < 64) {
        for (size_t i = 1; i < n; i++) {
            uint32_t x = v[i];
            size_t j = i;
            while (j > 0 && v[j - 1] > x) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
        return;
    }
    uint32_t *src = v, *dst = tmp;
    for (int shift = 0; shift < 32; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++) count[((src[i] >> shift) & 0xFF) + 1]++;
        for (int k = 0; k < 256; k++) count[k + 1] += count[k];
        for (size_t i = 0; i < n; i++) dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    /* four passes: the sorted values are back in v */
}

/* Sort `hs` ascending and drop repeats, in place; returns how many distinct values are left. */
static size_t distinct_sorted(uint32_t *hs, size_t ns, uint32_t *tmp) {
    sort_u32(hs, ns, tmp);
    size_t u = 0;
    for (size_t s = 0; s < ns; s++)
        if (u == 0 || hs[s] != hs[u - 1]) hs[u++] = hs[s];
    return u;
}

/* Append document d's shingle-set record (see SigJob) from its `u` distinct shingle hashes,
 * ascending (distinct_sorted). Returns -2 past set_room. */
static int append_set(SigJob *job, Py_ssize_t d, const uint32_t *hs, size_t u) {
    size_t keep = u < (size_t)job->set_cap ? u : (size_t)job->set_cap;
    if (job->set_len + keep + 1 > job->set_room) return -2; /* cannot be: set_room is a bound */
    job->set_buf[job->set_len++] = u > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)u;
    memcpy(job->set_buf + job->set_len, hs, keep * sizeof(uint32_t));
    job->set_len += keep;
    job->set_off[d + 1] = (int64_t)job->set_len;
    return 0;
}

/* uint32 wrap-around is the "mod 2**32" of the affine32 scheme; the branch-free min vectorises. */
static inline void permute_min(uint32_t h, const uint32_t *restrict a, const uint32_t *restrict b,
                               uint32_t *restrict row, int num_perm) {
    for (int k = 0; k < num_perm; k++) {
        uint32_t v = a[k] * h + b[k];
        row[k] = v < row[k] ? v : row[k];
    }
}

static inline uint32_t min32(uint32_t x, uint32_t y) { return x < y ? x : y; }

/* The minima over all of a document's shingle hashes, four shingles per pass over the row: the
 * permutation parameters and the row are loaded and stored once for four shingles. */
static inline void permute_min_all(const uint32_t *restrict hs, size_t ns, const uint32_t *restrict a,
                                   const uint32_t *restrict b, uint32_t *restrict row, int num_perm) {
    size_t s = 0;
    for (; s + 4 <= ns; s += 4) {
        const uint32_t h0 = hs[s], h1 = hs[s + 1], h2 = hs[s + 2], h3 = hs[s + 3];
        for (int k = 0; k < num_perm; k++) {
            const uint32_t ak = a[k], bk = b[k];
            uint32_t m = min32(min32(ak * h0 + bk, ak * h1 + bk), min32(ak * h2 + bk, ak * h3 + bk));
            row[k] = min32(row[k], m);
        }
    }
    for (; s < ns; s++) permute_min(hs[s], a, b, row, num_perm);
}

MULTIVERSION
static int signature_kernel(SigJob *job, const Tables *t) {
    int64_t max_len = 0;
    for (Py_ssize_t d = 0; d < job->n_docs; d++) {
        int64_t len = (int64_t)string_len(&job->texts, d);
        if (len > max_len) max_len = len;
    }
    /* lowercasing may lengthen UTF-8 by half (2-byte -> 3-byte code points), and a malformed byte
     * becomes U+FFFD, 3 bytes, in char mode: 3 bytes out per byte in bounds every case */
    size_t cap = 3 * (size_t)max_len + 24, words = cap / 64 + 2;
    uint8_t *scratch = malloc(cap), *joined = malloc(cap);
    int64_t *ustart = malloc(sizeof(int64_t) * (max_len + 1)), *uend = malloc(sizeof(int64_t) * (max_len + 1));
    uint64_t *uhash = malloc(sizeof(uint64_t) * (max_len + 1)), *word = malloc(sizeof(uint64_t) * words);
    uint32_t *shingle = malloc(sizeof(uint32_t) * (max_len + 1)); /* a document's shingle hashes */
    uint32_t *sort_tmp = job->set_cap ? malloc(sizeof(uint32_t) * (max_len + 1)) : NULL;
    if (!scratch || !joined || !ustart || !uend || !uhash || !word || !shingle || (job->set_cap && !sort_tmp)) {
        free(scratch), free(joined), free(ustart), free(uend), free(uhash), free(word), free(shingle), free(sort_tmp);
        return -1;
    }
    if (job->set_cap) job->set_off[0] = 0;
    int rc = 0;
    const int np = job->num_perm, simd = simd_agrees(t);
    for (Py_ssize_t d = 0; d < job->n_docs; d++) {
        uint32_t *row = job->out + (size_t)d * np;
        for (int k = 0; k < np; k++) row[k] = 0xFFFFFFFFU;
        size_t len, nu;
        const uint8_t *text = string_at(&job->texts, d, &len);
        if (job->datasketch || t->char_mode) {
            nu = normalise_units(text, len, t, scratch, ustart, uend);
        } else {
            memset(word, 0, sizeof(uint64_t) * ((3 * len + 24) / 64 + 2));
            nu = token_hashes(text, len, t, simd, scratch, word, uhash);
        }
        if (nu == 0) {
            job->nshingles[d] = 0;
            if (job->set_cap && (rc = append_set(job, d, shingle, 0)) < 0) break;
            continue;
        }
        size_t width = (size_t)job->ngram < nu ? (size_t)job->ngram : nu;
        size_t ns = nu - width + 1;
        job->nshingles[d] = (int32_t)ns;
        if (job->datasketch) {
            for (size_t s = 0; s < ns; s++) {
                uint32_t h;
                if (t->char_mode) {
                    h = xxh32(scratch + ustart[s], (size_t)(uend[s + width - 1] - ustart[s]), 0);
                } else {
                    size_t j = 0;
                    for (size_t u = s; u < s + width; u++) {
                        if (u > s) joined[j++] = 0x20;
                        size_t ulen = (size_t)(uend[u] - ustart[u]);
                        memcpy(joined + j, scratch + ustart[u], ulen);
                        j += ulen;
                    }
                    h = xxh32(joined, j, 0);
                }
                shingle[s] = fmix32(h);
            }
        } else {
            if (t->char_mode) /* word mode hashed its tokens while normalising */
                for (size_t u = 0; u < nu; u++) uhash[u] = xxh64(scratch + ustart[u], (size_t)(uend[u] - ustart[u]), 0);
            for (size_t s = 0; s < ns; s++) {
                uint64_t h = (uint64_t)width;
                for (size_t u = s; u < s + width; u++) h = rotl64(h * P1 + uhash[u], 31);
                h *= P2;
                h ^= h >> 29;
                h *= P1;
                h ^= h >> 32;
                shingle[s] = (uint32_t)h;
            }
        }
        if (job->set_cap) {
            /* the minima of a set are those of its distinct members: a repeated shingle (a
             * document's boilerplate) is permuted once, and the set is sorted anyway */
            size_t u = distinct_sorted(shingle, ns, sort_tmp);
            permute_min_all(shingle, u, job->a, job->b, row, np);
            if ((rc = append_set(job, d, shingle, u)) < 0) break;
        } else {
            permute_min_all(shingle, ns, job->a, job->b, row, np);
        }
    }
    free(scratch), free(joined), free(ustart), free(uend), free(uhash), free(word), free(shingle), free(sort_tmp);
    return rc;
}

static PyObject *py_signatures(PyObject *self, PyObject *args) {
    PyObject *o_off, *o_data, *o_flags, *o_lower, *o_a, *o_b, *o_out, *o_nsh;
    int ngram, char_mode, datasketch;
    Py_ssize_t set_cap = 0;
    if (!PyArg_ParseTuple(args, "OOippOOOOOO|n", &o_off, &o_data, &ngram, &char_mode, &datasketch, &o_flags,
                          &o_lower, &o_a, &o_b, &o_out, &o_nsh, &set_cap))
        return NULL;
    Held held = {.n = 0};
    SigJob job = {0};
    Tables t;
    Py_ssize_t n_perm;
    if (take_strings(&held, o_off, o_data, &job.texts) < 0) goto fail;
    job.n_docs = job.texts.n;
    t.flags = take(&held, o_flags, 1, 0, 0x110000, NULL, "flags");
    if (!t.flags) goto fail;
    t.lower = take(&held, o_lower, 4, 0, 0x110000, NULL, "lower");
    if (!t.lower) goto fail;
    job.a = take(&held, o_a, 4, 0, 1, &n_perm, "a");
    if (!job.a) goto fail;
    job.b = take(&held, o_b, 4, 0, n_perm, NULL, "b");
    if (!job.b) goto fail;
    job.out = take(&held, o_out, 4, 1, job.n_docs * n_perm, NULL, "out");
    if (!job.out) goto fail;
    job.nshingles = take(&held, o_nsh, 4, 1, job.n_docs, NULL, "nshingles");
    if (!job.nshingles) goto fail;
    if (ngram < 1) {
        PyErr_SetString(PyExc_ValueError, "ngram must be >= 1");
        goto fail;
    }
    job.ngram = ngram;
    job.datasketch = datasketch;
    job.num_perm = (int)n_perm;
    t.char_mode = char_mode;
    for (int32_t cp = 0; cp < 0x110000; cp++) {
        if (t.lower[cp] < 0 || t.lower[cp] >= 0x110000 || (cp < 0x80 && t.lower[cp] >= 0x80)) {
            PyErr_SetString(PyExc_ValueError, "lower: a code point maps outside Unicode (or ASCII outside ASCII)");
            goto fail;
        }
    }
    for (int c = 0; c < 128; c++) t.ascii_word[c] = (t.flags[c] & 1) ? (uint8_t)t.lower[c] : 0;
    if (set_cap < 0 || set_cap > 0x7FFFFFFF) {
        PyErr_SetString(PyExc_ValueError, "set_cap must be in [0, 2**31)");
        goto fail;
    }
    job.set_cap = set_cap;
    PyObject *sets = NULL;
    if (set_cap) {
        size_t room = 1;
        for (Py_ssize_t d = 0; d < job.n_docs; d++) {
            size_t most = string_len(&job.texts, d) + 1;
            room += 1 + (most < (size_t)set_cap ? most : (size_t)set_cap);
        }
        job.set_off = malloc(sizeof(int64_t) * (size_t)(job.n_docs + 1));
        sets = job.set_off ? PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(room * sizeof(uint32_t))) : NULL;
        if (!sets) {
            free(job.set_off);
            release_all(&held);
            return PyErr_NoMemory();
        }
        job.set_buf = (uint32_t *)PyBytes_AS_STRING(sets);
        job.set_room = room;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = signature_kernel(&job, &t);
    Py_END_ALLOW_THREADS
    release_all(&held);
    if (rc < 0) {
        free(job.set_off);
        Py_XDECREF(sets);
        if (rc == -2) PyErr_SetString(PyExc_SystemError, "signatures: a shingle set outgrew its bound");
        else PyErr_NoMemory();
        return NULL;
    }
    if (!set_cap) Py_RETURN_NONE;
    PyObject *offs = PyBytes_FromStringAndSize((const char *)job.set_off, (Py_ssize_t)((job.n_docs + 1) * sizeof(int64_t)));
    free(job.set_off);
    if (!offs || _PyBytes_Resize(&sets, (Py_ssize_t)(job.set_len * sizeof(uint32_t))) < 0) {
        Py_XDECREF(sets), Py_XDECREF(offs);
        return NULL;
    }
    return Py_BuildValue("(NN)", sets, offs);
fail:
    release_all(&held);
    return NULL;
}

static PyObject *py_xxh32(PyObject *self, PyObject *args) {
    Py_buffer v;
    unsigned int seed = 0;
    if (!PyArg_ParseTuple(args, "y*|I", &v, &seed)) return NULL;
    uint32_t h = xxh32(v.buf, (size_t)v.len, seed);
    PyBuffer_Release(&v);
    return PyLong_FromUnsignedLong(h);
}

static PyObject *py_xxh64(PyObject *self, PyObject *args) {
    Py_buffer v;
    unsigned long long seed = 0;
    if (!PyArg_ParseTuple(args, "y*|K", &v, &seed)) return NULL;
    uint64_t h = xxh64(v.buf, (size_t)v.len, seed);
    PyBuffer_Release(&v);
    return PyLong_FromUnsignedLongLong(h);
}

/* ------------------------------------------------------------------ LSH bands */

static PyObject *py_band_hashes(PyObject *self, PyObject *args) {
    PyObject *o_sig, *o_nsh, *o_out;
    int bands, rows;
    Py_ssize_t num_perm;
    if (!PyArg_ParseTuple(args, "OOniiO", &o_sig, &o_nsh, &num_perm, &bands, &rows, &o_out)) return NULL;
    Held held = {.n = 0};
    Py_ssize_t n;
    const int32_t *nsh = take(&held, o_nsh, 4, 0, 0, &n, "nshingles");
    if (!nsh) goto fail;
    const uint32_t *sig = take(&held, o_sig, 4, 0, n * num_perm, NULL, "sig");
    if (!sig) goto fail;
    uint64_t *out = take(&held, o_out, 8, 1, n * bands, NULL, "out");
    if (!out) goto fail;
    if (bands < 1 || rows < 1 || (Py_ssize_t)bands * rows > num_perm) {
        PyErr_SetString(PyExc_ValueError, "bands * rows must not exceed num_perm");
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t d = 0; d < n; d++) {
        const uint32_t *row = sig + (size_t)d * num_perm;
        for (int i = 0; i < bands; i++) {
            if (nsh[d] == 0) {
                out[(size_t)d * bands + i] = 0;
                continue;
            }
            /* a fixed multiply-rotate chain over the band's values, then the XXH64 avalanche:
             * our own stable definition, ~5x faster than hashing bytes */
            uint64_t h = (uint64_t)(i + 1) * P2;
            for (int k = i * rows; k < (i + 1) * rows; k++) h = rotl64((h ^ row[k]) * P1, 27);
            h ^= h >> 33;
            h *= P2;
            h ^= h >> 29;
            h *= P1;
            h ^= h >> 32;
            out[(size_t)d * bands + i] = h ? h : 1;
        }
    }
    Py_END_ALLOW_THREADS
    release_all(&held);
    Py_RETURN_NONE;
fail:
    release_all(&held);
    return NULL;
}

/* ------------------------------------------------------------------ bucket candidates */

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static inline void sort_ids(int64_t *v, Py_ssize_t n) {
    Py_ssize_t k = 1;
    while (k < n && v[k - 1] <= v[k]) k++;
    if (k >= n) return; /* bucket_order leaves them ascending already */
    if (n <= 16) {
        for (Py_ssize_t i = 1; i < n; i++) {
            int64_t x = v[i];
            Py_ssize_t j = i;
            while (j > 0 && v[j - 1] > x) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
    } else {
        qsort(v, (size_t)n, sizeof(int64_t), cmp_i64);
    }
}

/* Dense ids grouped by band hash: order[] lists the ids of non-zero hashes sorted by hash, ids
 * ascending within a hash (a stable LSD radix sort, 11-bit digits, 6 passes: linear, where an
 * argsort is n log n), then the ids of hash 0 (never bucketed) ascending. Returns how many pairs
 * the buckets can list (exact when no id is below n_fixed), so the caller can size its buffer. */
static PyObject *py_bucket_order(PyObject *self, PyObject *args) {
    PyObject *o_hashes, *o_order;
    int verify;
    long long max_checks;
    if (!PyArg_ParseTuple(args, "OOpL", &o_hashes, &o_order, &verify, &max_checks)) return NULL;
    Held held = {.n = 0};
    Py_ssize_t n;
    const uint64_t *hashes = take(&held, o_hashes, 8, 0, 0, &n, "hashes");
    if (!hashes) goto fail;
    int64_t *order = take(&held, o_order, 8, 1, n, NULL, "order");
    if (!order) goto fail;
    if (n >= ((Py_ssize_t)1 << 32) - 1) {
        PyErr_SetString(PyExc_ValueError, "a band of 2**32 documents or more: split the corpus");
        goto fail;
    }
    uint64_t *keys = malloc(sizeof(uint64_t) * (n ? n : 1) * 2);
    int64_t *ids = malloc(sizeof(int64_t) * (n ? n : 1));
    uint32_t(*counts)[2048] = calloc(6, sizeof *counts);
    if (!keys || !ids || !counts) {
        free(keys), free(ids), free(counts);
        release_all(&held);
        return PyErr_NoMemory();
    }
    long long bound = 0;
    Py_BEGIN_ALLOW_THREADS
    uint64_t *ka = keys, *kb = keys + n;
    int64_t *ia = order, *ib = ids;
    Py_ssize_t live = 0, zeros = 0;
    for (Py_ssize_t d = 0; d < n; d++)
        if (hashes[d]) live++;
    for (Py_ssize_t d = 0; d < n; d++) { /* zero hashes go after the live ones, ids ascending */
        uint64_t h = hashes[d];
        if (h) {
            Py_ssize_t at = d - zeros;
            ka[at] = h;
            ia[at] = d;
            for (int p = 0; p < 6; p++) counts[p][(h >> (11 * p)) & 2047]++;
        } else {
            ia[live + zeros] = d;
            zeros++;
        }
    }
    for (int p = 0; p < 6; p++) {
        uint32_t sum = 0;
        int trivial = 0;
        for (int b = 0; b < 2048; b++) {
            uint32_t c = counts[p][b];
            if (c == (uint32_t)live) trivial = 1;
            counts[p][b] = sum;
            sum += c;
        }
        if (trivial) continue; /* every key has the same digit here: the pass would not move anything */
        for (Py_ssize_t i = 0; i < live; i++) {
            uint32_t at = counts[p][(ka[i] >> (11 * p)) & 2047]++;
            kb[at] = ka[i];
            ib[at] = ia[i];
        }
        uint64_t *kt = ka;
        ka = kb;
        kb = kt;
        int64_t *it = ia;
        ia = ib;
        ib = it;
    }
    if (ia != order) memcpy(order, ia, sizeof(int64_t) * live);
    for (Py_ssize_t s = 0; s < live;) {
        Py_ssize_t e = s + 1;
        while (e < live && ka[e] == ka[s]) e++;
        long long later = e - s - 1;
        if (!verify) {
            bound += later;
        } else {
            long long full = later < max_checks ? later : max_checks;
            bound += full * (full + 1) / 2 + (later - full) * max_checks;
        }
        s = e;
    }
    Py_END_ALLOW_THREADS
    free(keys), free(ids), free(counts);
    release_all(&held);
    return PyLong_FromLongLong(bound);
fail:
    release_all(&held);
    return NULL;
}

/* The pairs a bucket offers: (first, x) without verification, else x with up to max_checks
 * earlier members in dense order (a huge bucket of unrelated texts stays linear); pairs of two
 * index entries (dense id < n_fixed) are never listed. */
static PyObject *py_bucket_candidates(PyObject *self, PyObject *args) {
    PyObject *o_hashes, *o_order, *o_out;
    int verify;
    long long max_checks, n_fixed;
    if (!PyArg_ParseTuple(args, "OOpLLO", &o_hashes, &o_order, &verify, &max_checks, &n_fixed, &o_out)) return NULL;
    Held held = {.n = 0};
    Py_ssize_t n, cap;
    const uint64_t *hashes = take(&held, o_hashes, 8, 0, 0, &n, "hashes");
    if (!hashes) goto fail;
    int64_t *order = take(&held, o_order, 8, 1, n, NULL, "order");
    if (!order) goto fail;
    void *out = take(&held, o_out, 0, 1, 0, &cap, "out");
    if (!out) goto fail;
    int wide = held.views[held.n - 1].itemsize == 8;
    cap /= 2;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= n) {
            PyErr_SetString(PyExc_ValueError, "order is not a permutation of the band");
            goto fail;
        }
    }
    Py_ssize_t k = 0, paired = 0;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t s = 0;
    while (s < n && !overflow) {
        uint64_t h = hashes[order[s]];
        Py_ssize_t e = s + 1;
        while (e < n && hashes[order[e]] == h) e++;
        if (h != 0 && e - s > 1) {
            sort_ids(order + s, e - s);
            for (Py_ssize_t j = s + 1; j < e && !overflow; j++) {
                int64_t x = order[j];
                paired++;
                Py_ssize_t from = verify ? s : j - 1, checks = 0;
                for (Py_ssize_t i = from; i < j; i++) {
                    int64_t y = verify ? order[i] : order[s];
                    if (verify) {
                        if (checks >= max_checks) break;
                        if (y < n_fixed && x < n_fixed) continue;
                        checks++;
                    }
                    if (k >= cap) {
                        overflow = 1;
                        break;
                    }
                    if (wide) {
                        ((int64_t *)out)[2 * k] = y;
                        ((int64_t *)out)[2 * k + 1] = x;
                    } else {
                        ((int32_t *)out)[2 * k] = (int32_t)y;
                        ((int32_t *)out)[2 * k + 1] = (int32_t)x;
                    }
                    k++;
                }
            }
        }
        s = e;
    }
    Py_END_ALLOW_THREADS
    release_all(&held);
    if (overflow) {
        PyErr_SetString(PyExc_ValueError, "out holds fewer pairs than the buckets list");
        return NULL;
    }
    return Py_BuildValue("nn", k, paired);
fail:
    release_all(&held);
    return NULL;
}

/* ------------------------------------------------------------------ union-find */

/* Root of x, halving the path on the way; roots are the smallest member of their component. */
static inline int64_t uf_find(int64_t *parent, int64_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static inline int uf_union(int64_t *parent, int64_t x, int64_t y) {
    int64_t rx = uf_find(parent, x), ry = uf_find(parent, y);
    if (rx == ry) return 0;
    if (rx < ry)
        parent[ry] = rx;
    else
        parent[rx] = ry;
    return 1;
}

static int check_ids(const void *ids, int wide, Py_ssize_t n, int64_t limit, const char *name) {
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t v = load_index(ids, wide, i);
        if (v < 0 || v >= limit) {
            PyErr_Format(PyExc_IndexError, "%s: id %lld outside [0, %lld)", name, (long long)v, (long long)limit);
            return -1;
        }
    }
    return 0;
}

/* Equal values of two signatures; 16-bit lanes compare 16 at a time with AVX2. */
MULTIVERSION
static uint32_t agree16(const uint16_t *restrict a, const uint16_t *restrict b, Py_ssize_t n) {
    uint16_t same = 0; /* n < 65,536: a 16-bit count keeps the lanes 16-bit wide */
    for (Py_ssize_t k = 0; k < n; k++) same += a[k] == b[k];
    return same;
}

MULTIVERSION
static uint32_t agree32(const uint32_t *restrict a, const uint32_t *restrict b, Py_ssize_t n) {
    uint32_t same = 0;
    for (Py_ssize_t k = 0; k < n; k++) same += a[k] == b[k];
    return same;
}

static double jaccard_records(const uint8_t *a, size_t la, const uint8_t *b, size_t lb);
static int jaccard_reaches(const uint8_t *a, size_t la, const uint8_t *b, size_t lb, double threshold);

/* How join_loop checks a candidate pair before joining it. */
enum { VERIFY_NONE, VERIFY_SIG16, VERIFY_SIG32, VERIFY_SETS, VERIFY_SET_VIEWS };
typedef struct {
    int kind;
    const void *sig; /* VERIFY_SIG16/32: signatures, num_perm values a row; >= min_agree must agree */
    Py_ssize_t num_perm;
    long long min_agree;
    const uint32_t *sets; /* VERIFY_SETS: shingle-set records (see SigJob) and their offsets */
    const int64_t *set_off;
    Strings records; /* VERIFY_SET_VIEWS: the same records as binary views into their buffers */
    double threshold;
    const int64_t *row_of; /* dense id -> signature row or set record */
} Verifier;

static inline int pair_accepted(const Verifier *v, int64_t x, int64_t y) {
    int64_t rx = v->row_of[x], ry = v->row_of[y];
    if (v->kind == VERIFY_SETS) {
        const uint8_t *a = (const uint8_t *)(v->sets + v->set_off[rx] + 1), *b = (const uint8_t *)(v->sets + v->set_off[ry] + 1);
        size_t la = (size_t)(v->set_off[rx + 1] - v->set_off[rx] - 1), lb = (size_t)(v->set_off[ry + 1] - v->set_off[ry] - 1);
        return jaccard_reaches(a, la, b, lb, v->threshold);
    }
    if (v->kind == VERIFY_SET_VIEWS) {
        size_t la, lb;
        const uint8_t *a = string_at(&v->records, rx, &la) + 4, *b = string_at(&v->records, ry, &lb) + 4;
        return jaccard_reaches(a, la / 4 - 1, b, lb / 4 - 1, v->threshold);
    }
    size_t ox = (size_t)rx * v->num_perm, oy = (size_t)ry * v->num_perm;
    long long same = v->kind == VERIFY_SIG16
                         ? agree16((const uint16_t *)v->sig + ox, (const uint16_t *)v->sig + oy, v->num_perm)
                         : agree32((const uint32_t *)v->sig + ox, (const uint32_t *)v->sig + oy, v->num_perm);
    return same >= v->min_agree;
}

/* Union `npairs` pairs (ids checked by the caller), each verified by `v` unless it is
 * VERIFY_NONE; pairs already in one component are skipped, so repeats across bands are cheap.
 * stats[0] += verified, stats[1] += rejected. When edges is not NULL (room for the pairs, of
 * their width), the pairs that joined two components go there: a spanning forest of the accepted
 * pairs. Returns how many pairs joined. Runs without the GIL. */
static Py_ssize_t join_loop(const void *pairs, int wide, Py_ssize_t npairs, int64_t *parent, const Verifier *v,
                            int64_t *stats, void *edges) {
    Py_ssize_t joined = 0;
    for (Py_ssize_t i = 0; i < npairs; i++) {
        int64_t x = load_index(pairs, wide, 2 * i), y = load_index(pairs, wide, 2 * i + 1);
        if (uf_find(parent, x) == uf_find(parent, y)) continue;
        if (v->kind != VERIFY_NONE) {
            stats[0]++;
            if (!pair_accepted(v, x, y)) {
                stats[1]++;
                continue;
            }
        }
        uf_union(parent, x, y);
        if (edges) {
            if (wide) {
                ((int64_t *)edges)[2 * joined] = x;
                ((int64_t *)edges)[2 * joined + 1] = y;
            } else {
                ((int32_t *)edges)[2 * joined] = (int32_t)x;
                ((int32_t *)edges)[2 * joined + 1] = (int32_t)y;
            }
        }
        joined++;
    }
    return joined;
}

/* Union (k, 2) pairs, each verified by signature agreement (>= min_agree equal values) when
 * verify is set; pairs already in one component are skipped, so repeats across bands are cheap.
 * stats[0] += verified, stats[1] += rejected. When edges is not None (a (k, 2) buffer of the
 * pairs' dtype), the pairs that joined two components are written to it: a spanning forest of
 * the agreeing pairs. Returns how many pairs joined. */
static PyObject *py_join_candidates(PyObject *self, PyObject *args) {
    PyObject *o_pairs, *o_parent, *o_sig, *o_row_of, *o_stats, *o_edges = Py_None;
    int verify;
    Py_ssize_t num_perm;
    long long min_agree;
    if (!PyArg_ParseTuple(args, "OOOnOpLO|O", &o_pairs, &o_parent, &o_sig, &num_perm, &o_row_of, &verify, &min_agree,
                          &o_stats, &o_edges))
        return NULL;
    Held held = {.n = 0};
    Py_ssize_t np2, n, n_sig, n_row;
    const void *pairs = take(&held, o_pairs, 0, 0, 0, &np2, "pairs");
    if (!pairs) goto fail;
    int wide = held.views[held.n - 1].itemsize == 8;
    int64_t *parent = take(&held, o_parent, 8, 1, 0, &n, "parent");
    if (!parent) goto fail;
    const void *sig = take(&held, o_sig, -1, 0, 0, &n_sig, "sig");
    if (!sig) goto fail;
    int sig_bytes = (int)held.views[held.n - 1].itemsize;
    if (sig_bytes != 2 && sig_bytes != 4) {
        PyErr_SetString(PyExc_TypeError, "sig: expected uint16 or uint32 values");
        goto fail;
    }
    const int64_t *row_of = take(&held, o_row_of, 8, 0, 0, &n_row, "row_of");
    if (!row_of) goto fail;
    int64_t *stats = take(&held, o_stats, 8, 1, 2, NULL, "stats");
    if (!stats) goto fail;
    void *edges = NULL;
    if (o_edges != Py_None) {
        edges = take(&held, o_edges, wide ? 8 : 4, 1, np2, NULL, "edges");
        if (!edges) goto fail;
    }
    if (check_ids(pairs, wide, np2, n, "pairs") < 0) goto fail;
    if (verify) {
        if (num_perm < 1 || num_perm >= 65536 || n_row < n) {
            PyErr_SetString(PyExc_ValueError,
                            num_perm < 1 || num_perm >= 65536 ? "num_perm must be in [1, 65536)" : "row_of must map every dense id");
            goto fail;
        }
        if (check_ids(row_of, 1, n, n_sig / num_perm, "row_of") < 0) goto fail;
    }
    Verifier v = {.kind = !verify ? VERIFY_NONE : sig_bytes == 2 ? VERIFY_SIG16 : VERIFY_SIG32, .sig = sig,
                  .num_perm = num_perm, .min_agree = min_agree, .row_of = row_of};
    Py_ssize_t joined;
    Py_BEGIN_ALLOW_THREADS
    joined = join_loop(pairs, wide, np2 / 2, parent, &v, stats, edges);
    Py_END_ALLOW_THREADS
    release_all(&held);
    return PyLong_FromSsize_t(joined);
fail:
    release_all(&held);
    return NULL;
}

/* Value i of a record's uint32 values at p, wherever p lies: records read from a Parquet key file
 * sit in polars' buffers at any byte offset, so every value is loaded with memcpy (a plain load on
 * x86-64, no alignment assumed). */
static inline uint32_t u32at(const uint8_t *p, size_t i) {
    uint32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
}

/* Jaccard similarity of two shingle-set records (see SigJob), given their stored values
 * (ascending, from a and b) and counts; the 4 bytes before a and before b are the headers
 * (distinct shingles in all). Exact when neither is truncated (header == stored count), else the
 * bottom-k estimate over the k smallest values of their union, k the smaller truncated record's
 * size: a value among those k is in a truncated set exactly when it is in its record. Two empty
 * sets: 1 (documents without a shingle meet only exact copies of their raw text); one empty: 0. */
static double jaccard_records(const uint8_t *a, size_t la, const uint8_t *b, size_t lb) {
    uint32_t na = u32at(a - 4, 0), nb = u32at(b - 4, 0);
    if (na == 0 && nb == 0) return 1.0;
    if (na == 0 || nb == 0) return 0.0;
    int trunc_a = na > la, trunc_b = nb > lb;
    size_t i = 0, j = 0, both = 0, taken = 0;
    if (!trunc_a && !trunc_b) {
        while (i < la && j < lb) {
            uint32_t x = u32at(a, i), y = u32at(b, j);
            if (x < y) i++;
            else if (x > y) j++;
            else both++, i++, j++;
        }
        return (double)both / (double)(la + lb - both);
    }
    size_t k = trunc_a && trunc_b ? (la < lb ? la : lb) : trunc_a ? la : lb;
    while (taken < k && (i < la || j < lb)) {
        if (j >= lb || (i < la && u32at(a, i) < u32at(b, j))) i++;
        else if (i >= la || u32at(a, i) > u32at(b, j)) j++;
        else both++, i++, j++;
        taken++;
    }
    return taken ? (double)both / (double)taken : 0.0;
}

/* Whether jaccard_records(a, la, b, lb) >= threshold, the same answer for every pair, found
 * sooner for most pairs that fail: with both sets whole, J = both / (la + lb - both) rises with
 * `both`, which can end no higher than both so far + min(what is left of a, of b). The merge
 * stops once even that bound falls short (before it starts: the length filter J <= min / max).
 * On the 100k boundary corpus ~9 in 10 verified pairs are rejected. A bottom-k record (more
 * shingles than it keeps) takes jaccard_records's estimator as it is. */
static int jaccard_reaches(const uint8_t *a, size_t la, const uint8_t *b, size_t lb, double threshold) {
    uint32_t na = u32at(a - 4, 0), nb = u32at(b - 4, 0);
    if (na == 0 || nb == 0 || na > la || nb > lb || !(threshold > 0.0 && threshold <= 1.0))
        return jaccard_records(a, la, b, lb) >= threshold;
    const size_t total = la + lb;
    /* need: the fewest shared shingles with both / (total - both) >= threshold, in the very
     * double arithmetic of jaccard_records (a bound off by one would change no answer: it only
     * decides when to stop looking) */
    size_t need = (size_t)(threshold * (double)total / (1.0 + threshold));
    while (need > 0 && (double)(need - 1) / (double)(total - (need - 1)) >= threshold) need--;
    while (need < total && (double)need / (double)(total - need) < threshold) need++;
    size_t i = 0, j = 0, both = 0;
    if ((la < lb ? la : lb) < need) return 0;
    while (i < la && j < lb) {
        uint32_t x = u32at(a, i), y = u32at(b, j);
        if (x < y) {
            i++;
            if (both + (la - i < lb - j ? la - i : lb - j) < need) return 0;
        } else if (x > y) {
            j++;
            if (both + (la - i < lb - j ? la - i : lb - j) < need) return 0;
        } else {
            both++, i++, j++;
        }
    }
    return (double)both / (double)(total - both) >= threshold;
}

/* Like join_candidates, each pair verified by the Jaccard similarity of its shingle sets
 * (jaccard_records) against `threshold` instead of by signature agreement. The records are either
 * `sets` (uint32) with `set_off[r]` the start of record r (n_records + 1 offsets), or, when
 * `set_off` is a tuple (buffer addresses, buffer sizes), `sets` holds 16-byte binary views into
 * those buffers, one a record (polars' own Binary layout: the sets stay where the keys hold them,
 * no copy; at any byte offset, see u32at). Every record is checked before the loop: inside its
 * buffer, whole uint32 values and a header >= its value count. row_of maps dense ids to records. */
static PyObject *py_join_jaccard(PyObject *self, PyObject *args) {
    PyObject *o_pairs, *o_parent, *o_sets, *o_off, *o_row_of, *o_stats, *o_edges = Py_None;
    double threshold;
    if (!PyArg_ParseTuple(args, "OOOOOdO|O", &o_pairs, &o_parent, &o_sets, &o_off, &o_row_of, &threshold, &o_stats,
                          &o_edges))
        return NULL;
    Held held = {.n = 0};
    Py_ssize_t np2, n, n_sets = 0, n_off = 0, n_row, n_records;
    const void *pairs = take(&held, o_pairs, 0, 0, 0, &np2, "pairs");
    if (!pairs) goto fail;
    int wide = held.views[held.n - 1].itemsize == 8;
    int64_t *parent = take(&held, o_parent, 8, 1, 0, &n, "parent");
    if (!parent) goto fail;
    Verifier v = {.kind = VERIFY_SETS, .threshold = threshold};
    if (PyTuple_Check(o_off)) {
        v.kind = VERIFY_SET_VIEWS;
        if (take_strings(&held, o_sets, o_off, &v.records) < 0) goto fail;
        n_records = v.records.n;
        for (Py_ssize_t r = 0; r < n_records; r++) {
            size_t len;
            const uint8_t *p = string_at(&v.records, r, &len);
            uint32_t header;
            if (len >= 4) memcpy(&header, p, 4);
            if (len < 4 || len % 4 || (size_t)header < len / 4 - 1) {
                PyErr_SetString(PyExc_ValueError, "set views: records must be whole uint32 values, each a header >= its value count");
                goto fail;
            }
        }
    } else {
        v.sets = take(&held, o_sets, 4, 0, 0, &n_sets, "sets");
        if (!v.sets) goto fail;
        v.set_off = take(&held, o_off, 8, 0, 1, &n_off, "set_off");
        if (!v.set_off) goto fail;
        n_records = n_off - 1;
        for (Py_ssize_t r = 0; r < n_records; r++) {
            int64_t lo = v.set_off[r], hi = v.set_off[r + 1];
            if (lo < 0 || hi <= lo || hi > n_sets || (int64_t)v.sets[lo] < hi - lo - 1) {
                PyErr_SetString(PyExc_ValueError, "set_off: records must lie inside sets, each a header >= its value count");
                goto fail;
            }
        }
    }
    const int64_t *row_of = take(&held, o_row_of, 8, 0, n, &n_row, "row_of");
    if (!row_of) goto fail;
    v.row_of = row_of;
    int64_t *stats = take(&held, o_stats, 8, 1, 2, NULL, "stats");
    if (!stats) goto fail;
    void *edges = NULL;
    if (o_edges != Py_None) {
        edges = take(&held, o_edges, wide ? 8 : 4, 1, np2, NULL, "edges");
        if (!edges) goto fail;
    }
    if (check_ids(pairs, wide, np2, n, "pairs") < 0) goto fail;
    if (check_ids(row_of, 1, n, n_records, "row_of") < 0) goto fail;
    Py_ssize_t joined;
    Py_BEGIN_ALLOW_THREADS
    joined = join_loop(pairs, wide, np2 / 2, parent, &v, stats, edges);
    Py_END_ALLOW_THREADS
    release_all(&held);
    return PyLong_FromSsize_t(joined);
fail:
    release_all(&held);
    return NULL;
}

/* Jaccard of records r and s of `sets` (for tests and the Python wrapper). */
static PyObject *py_set_jaccard(PyObject *self, PyObject *args) {
    PyObject *o_sets, *o_off;
    Py_ssize_t r, q;
    if (!PyArg_ParseTuple(args, "OOnn", &o_sets, &o_off, &r, &q)) return NULL;
    Held held = {.n = 0};
    Py_ssize_t n_sets, n_off;
    const uint32_t *sets = take(&held, o_sets, 4, 0, 0, &n_sets, "sets");
    const int64_t *off = sets ? take(&held, o_off, 8, 0, 1, &n_off, "set_off") : NULL;
    if (!off) {
        release_all(&held);
        return NULL;
    }
    if (r < 0 || q < 0 || r + 1 >= n_off || q + 1 >= n_off || off[r + 1] > n_sets || off[q + 1] > n_sets ||
        off[r + 1] <= off[r] || off[q + 1] <= off[q]) {
        release_all(&held);
        PyErr_SetString(PyExc_IndexError, "record outside the sets");
        return NULL;
    }
    double j = jaccard_records((const uint8_t *)(sets + off[r] + 1), (size_t)(off[r + 1] - off[r] - 1),
                               (const uint8_t *)(sets + off[q] + 1), (size_t)(off[q + 1] - off[q] - 1));
    release_all(&held);
    return PyFloat_FromDouble(j);
}

/* ------------------------------------------------------------------ byte scans */

/* Offsets (int64 bytes) of every byte of `buf` equal to `byte`; with `fold`, also of every byte
 * equal to byte & ~0x20 (0x7B: '{' and '['). Ingest's JSON Lines reader finds lines and brackets
 * with it, without numpy's temporary mask and second pass over it. */
static PyObject *py_byte_positions(PyObject *self, PyObject *args) {
    PyObject *o_buf;
    unsigned int byte;
    int fold;
    if (!PyArg_ParseTuple(args, "OIp", &o_buf, &byte, &fold)) return NULL;
    if (byte > 0xFF) {
        PyErr_SetString(PyExc_ValueError, "byte must be 0-255");
        return NULL;
    }
    Held held = {.n = 0};
    Py_ssize_t n;
    const uint8_t *buf = take(&held, o_buf, 1, 0, 0, &n, "buf");
    if (!buf) {
        release_all(&held);
        return NULL;
    }
    size_t cap = 1024, k = 0;
    int64_t *out = malloc(cap * sizeof(int64_t));
    int failed = out == NULL;
    /* memchr for each of the (one or two) bytes wanted, the nearer hit taken first: both streams
     * run at memchr's speed, where a byte-by-byte test of (b | 0x20) ran ~3x slower */
    const int want1 = (int)byte, want2 = fold ? (int)(byte & ~0x20U) : (int)byte;
    const uint8_t *end = buf + n;
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *next1 = n ? memchr(buf, want1, (size_t)n) : NULL;
    const uint8_t *next2 = want2 == want1 ? NULL : (n ? memchr(buf, want2, (size_t)n) : NULL);
    while (!failed && (next1 || next2)) {
        const uint8_t *hit;
        if (next1 && (!next2 || next1 < next2)) {
            hit = next1;
            next1 = hit + 1 < end ? memchr(hit + 1, want1, (size_t)(end - hit - 1)) : NULL;
        } else {
            hit = next2;
            next2 = hit + 1 < end ? memchr(hit + 1, want2, (size_t)(end - hit - 1)) : NULL;
        }
        if (k == cap) {
            int64_t *grown = realloc(out, 2 * cap * sizeof(int64_t));
            if (!grown) {
                failed = 1;
                break;
            }
            out = grown;
            cap *= 2;
        }
        out[k++] = hit - buf;
    }
    Py_END_ALLOW_THREADS
    release_all(&held);
    if (failed) {
        free(out);
        return PyErr_NoMemory();
    }
    PyObject *result = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)(k * sizeof(int64_t)));
    free(out);
    return result;
}

/* How many bytes of `buf` equal `byte`, by memchr: for a sparse byte (newlines), ~2x numpy's
 * equal + count_nonzero. */
static PyObject *py_count_byte(PyObject *self, PyObject *args) {
    PyObject *o_buf;
    unsigned int byte;
    if (!PyArg_ParseTuple(args, "OI", &o_buf, &byte)) return NULL;
    Held held = {.n = 0};
    Py_ssize_t n;
    const uint8_t *buf = take(&held, o_buf, 1, 0, 0, &n, "buf");
    if (!buf) {
        release_all(&held);
        return NULL;
    }
    size_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *p = buf, *end = buf + n;
    while (p < end && (p = memchr(p, (int)byte, (size_t)(end - p))) != NULL) {
        count++;
        p++;
    }
    Py_END_ALLOW_THREADS
    release_all(&held);
    return PyLong_FromSize_t(count);
}

/* ------------------------------------------------------------------ code point flags */

/* out[i] = 1 where string i holds a code point whose table entry has a bit of `mask`, or a byte
 * sequence that is not well-formed UTF-8 (overlong, a surrogate, past U+10FFFF, cut off); else 0.
 * table: one uint8 per code point, 0x110000 of them. ASCII is skipped eight bytes at a time when
 * no ASCII code point is flagged (ingest's Unicode normal form check: most text is ASCII). */
static PyObject *py_flagged_rows(PyObject *self, PyObject *args) {
    PyObject *o_off, *o_data, *o_table, *o_out;
    unsigned int mask;
    if (!PyArg_ParseTuple(args, "OOOIO", &o_off, &o_data, &o_table, &mask, &o_out)) return NULL;
    Held held = {.n = 0};
    Strings strs;
    if (take_strings(&held, o_off, o_data, &strs) < 0) goto fail;
    const uint8_t *table = take(&held, o_table, 1, 0, 0x110000, NULL, "table");
    if (!table) goto fail;
    uint8_t *out = take(&held, o_out, 1, 1, strs.n, NULL, "out");
    if (!out) goto fail;
    int ascii_flagged = 0;
    for (int c = 0; c < 0x80; c++) ascii_flagged |= (table[c] & mask) != 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < strs.n; r++) {
        size_t len;
        const uint8_t *p = string_at(&strs, r, &len), *end = p + len;
        uint8_t hit = 0;
        while (p < end && !hit) {
            if (!ascii_flagged) {
                while (end - p >= 8) {
                    uint64_t w;
                    memcpy(&w, p, 8);
                    if (w & 0x8080808080808080ULL) break;
                    p += 8;
                }
                while (p < end && *p < 0x80) p++;
                if (p == end) break;
            }
            uint32_t c = *p, cp;
            size_t need = c < 0x80 ? 1 : (c >= 0xC2 && c < 0xE0) ? 2 : (c >= 0xE0 && c < 0xF0) ? 3 : (c >= 0xF0 && c < 0xF5) ? 4 : 0;
            if (need == 0 || (size_t)(end - p) < need) {
                hit = 1;
                break;
            }
            int bad = 0;
            for (size_t k = 1; k < need; k++) bad |= (p[k] & 0xC0) != 0x80;
            if (need == 1)
                cp = c;
            else if (need == 2)
                cp = ((c & 0x1F) << 6) | (p[1] & 0x3FU);
            else if (need == 3)
                cp = ((c & 0x0F) << 12) | ((p[1] & 0x3FU) << 6) | (p[2] & 0x3FU);
            else
                cp = ((c & 0x07) << 18) | ((p[1] & 0x3FU) << 12) | ((p[2] & 0x3FU) << 6) | (p[3] & 0x3FU);
            /* overlong three- and four-byte forms, surrogates, past the last code point */
            bad |= (need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000))) || (need == 4 && (cp < 0x10000 || cp > 0x10FFFF));
            hit = bad || (table[cp] & mask) != 0;
            p += need;
        }
        out[r] = hit;
    }
    Py_END_ALLOW_THREADS
    release_all(&held);
    Py_RETURN_NONE;
fail:
    release_all(&held);
    return NULL;
}

/* ------------------------------------------------------------------ string hashes */

/* XXH64 of every string of an Arrow string column (int64 offsets, bytes): out[i] =
 * xxhash.xxh64_intdigest(data[offsets[i]:offsets[i + 1]], seed). */
static PyObject *py_hash_strings(PyObject *self, PyObject *args) {
    PyObject *o_off, *o_data, *o_out;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "OOKO", &o_off, &o_data, &seed, &o_out)) return NULL;
    Held held = {.n = 0};
    Strings strs;
    if (take_strings(&held, o_off, o_data, &strs) < 0) goto fail;
    uint64_t *out = take(&held, o_out, 8, 1, strs.n, NULL, "out");
    if (!out) goto fail;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < strs.n; i++) {
        size_t len;
        const uint8_t *p = string_at(&strs, i, &len);
        out[i] = xxh64(p, len, seed);
    }
    Py_END_ALLOW_THREADS
    release_all(&held);
    Py_RETURN_NONE;
fail:
    release_all(&held);
    return NULL;
}

/* Two XXH64s (seeds seed1, seed2) of every string with its whitespace collapsed: each run of
 * whitespace (flags & 2, per code point) becomes one space and leading and trailing whitespace
 * is dropped, as re.sub(r"\s+", " ", s).strip() does. Other bytes are hashed as they are. */
static PyObject *py_hash_collapsed(PyObject *self, PyObject *args) {
    PyObject *o_off, *o_data, *o_flags, *o_out1, *o_out2;
    unsigned long long seed1, seed2;
    if (!PyArg_ParseTuple(args, "OOOKKOO", &o_off, &o_data, &o_flags, &seed1, &seed2, &o_out1, &o_out2)) return NULL;
    Held held = {.n = 0};
    Strings strs;
    if (take_strings(&held, o_off, o_data, &strs) < 0) goto fail;
    const uint8_t *flags = take(&held, o_flags, 1, 0, 0x110000, NULL, "flags");
    if (!flags) goto fail;
    uint64_t *out1 = take(&held, o_out1, 8, 1, strs.n, NULL, "out1");
    if (!out1) goto fail;
    uint64_t *out2 = take(&held, o_out2, 8, 1, strs.n, NULL, "out2");
    if (!out2) goto fail;
    size_t max_len = 0;
    for (Py_ssize_t i = 0; i < strs.n; i++)
        if (string_len(&strs, i) > max_len) max_len = string_len(&strs, i);
    uint8_t *buf = malloc(max_len + 10); /* + the 8-byte stores of the fast path */
    if (!buf) {
        release_all(&held);
        return PyErr_NoMemory();
    }
    /* per byte: 0 an ASCII byte that is not whitespace, 1 ASCII whitespace,
     * 2 the first byte of a longer UTF-8 sequence (or a stray byte): decoded and looked up */
    uint8_t cls[256];
    for (int c = 0; c < 256; c++) cls[c] = c >= 0x80 ? 2 : (flags[c] & 2) ? 1 : 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t d = 0; d < strs.n; d++) {
        size_t n, i = 0, j = 0;
        const uint8_t *p = string_at(&strs, d, &n);
        int space = 0; /* a whitespace run is pending (written before the next non-space) */
        while (i < n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* eight ASCII bytes at once when each whitespace byte in them stands alone: they are
             * the output as they are, each whitespace byte turned into a space (most of prose) */
            if (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                const uint64_t high = 0x8080808080808080ULL;
                if (!(w & high)) {
                    uint64_t low = ~(w + 0x5F5F5F5F5F5F5F5FULL) & high; /* bit 7 of each byte < 0x21 */
                    int fast = !(low & (low << 8)) && !(j == 0 && (low & 0x80u));
                    for (uint64_t m = low; fast && m; m &= m - 1) fast = cls[p[i + ((size_t)__builtin_ctzll(m) >> 3)]] == 1;
                    if (fast) {
                        uint64_t mask = (low >> 7) * 0xFFu;
                        w = (w & ~mask) | (0x2020202020202020ULL & mask);
                        if (space && !(low & 0x80u)) buf[j++] = 0x20; /* a pending run before a word */
                        memcpy(buf + j, &w, 8); /* a first byte that is whitespace continues or starts a run */
                        j += 8;
                        space = (int)(low >> 63); /* a last byte that is whitespace is pending */
                        j -= (size_t)space;
                        i += 8;
                        continue;
                    }
                }
            }
#endif
            size_t start = i;
            uint8_t c = p[i];
            unsigned k = cls[c];
            if (k < 2) { /* ASCII, branch-free: a word/space pattern defeats branch prediction */
                unsigned keep = k ^ 1u;
                buf[j] = 0x20;
                j += keep & (unsigned)space;
                buf[j] = c;
                j += keep;
                space = (int)(k & (j != 0));
                i++;
                continue;
            }
            uint32_t cp = decode_utf8(p, n, &i);
            if (flags[cp] & 2) {
                space = j > 0;
                continue;
            }
            if (space) {
                buf[j++] = 0x20;
                space = 0;
            }
            memcpy(buf + j, p + start, i - start);
            j += i - start;
        }
        out1[d] = xxh64(buf, j, seed1);
        out2[d] = xxh64(buf, j, seed2);
    }
    Py_END_ALLOW_THREADS
    free(buf);
    release_all(&held);
    Py_RETURN_NONE;
fail:
    release_all(&held);
    return NULL;
}

static PyObject *py_union_pairs(PyObject *self, PyObject *args) {
    PyObject *o_parent, *o_left, *o_right;
    if (!PyArg_ParseTuple(args, "OOO", &o_parent, &o_left, &o_right)) return NULL;
    Held held = {.n = 0};
    Py_ssize_t n, nl;
    int64_t *parent = take(&held, o_parent, 8, 1, 0, &n, "parent");
    if (!parent) goto fail;
    const void *left = take(&held, o_left, 0, 0, 0, &nl, "left");
    if (!left) goto fail;
    int wl = held.views[held.n - 1].itemsize == 8;
    const void *right = take(&held, o_right, 0, 0, nl, NULL, "right");
    if (!right) goto fail;
    int wr = held.views[held.n - 1].itemsize == 8;
    if (check_ids(left, wl, nl, n, "left") < 0 || check_ids(right, wr, nl, n, "right") < 0) goto fail;
    Py_ssize_t joined = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nl; i++) joined += uf_union(parent, load_index(left, wl, i), load_index(right, wr, i));
    Py_END_ALLOW_THREADS
    release_all(&held);
    return PyLong_FromSsize_t(joined);
fail:
    release_all(&held);
    return NULL;
}

/* Parents always point to smaller ids, so one ascending pass leaves every element on its root. */
static PyObject *py_flatten(PyObject *self, PyObject *args) {
    PyObject *o_parent;
    if (!PyArg_ParseTuple(args, "O", &o_parent)) return NULL;
    Held held = {.n = 0};
    Py_ssize_t n;
    int64_t *parent = take(&held, o_parent, 8, 1, 0, &n, "parent");
    if (!parent) goto fail;
    for (Py_ssize_t x = 0; x < n; x++) {
        if (parent[x] < 0 || parent[x] > x) {
            PyErr_SetString(PyExc_ValueError, "parent is not a smallest-root forest");
            goto fail;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t x = 0; x < n; x++) parent[x] = parent[parent[x]];
    Py_END_ALLOW_THREADS
    release_all(&held);
    Py_RETURN_NONE;
fail:
    release_all(&held);
    return NULL;
}

/* ------------------------------------------------------------------ n-gram containment (decontamination)
 *
 * Word n-grams of eval items are looked up in corpus documents. Tokens are what the MinHash word
 * mode uses (maximal runs of \w code points, lowercased with the simple case mapping), so
 * reformatting, re-spacing and punctuation cannot hide a copy. A token's hash mixes its lowercased
 * code points; an n-gram's hash is a polynomial over its tokens' hashes (mod 2**64), read from
 * prefix sums in O(1) per (position, length), then avalanched with its length, so one pass over a
 * document checks every gram length the index holds. The hash definitions are used only within
 * one run (the index is rebuilt from the eval files), so they may change freely. */

#define GRAM_BASE 0x100000001B3ULL
#define GRAM_LEN_MIX 0xD6E8FEB86659FD93ULL

static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}

/* Tokens of data[0:n]: hash, first byte and end byte (exclusive) of each, in the original bytes.
 * The arrays need room for n / 1 + 1 tokens. Returns the number of tokens. */
static size_t word_tokens(const uint8_t *data, size_t n, const Tables *t, uint64_t *hash, int64_t *start,
                          int64_t *end) {
    size_t i = 0, nt = 0;
    int in_tok = 0;
    uint64_t h = 0;
    while (i < n) {
        size_t at = i;
        uint32_t c = data[i], lc;
        int word;
        if (c < 0x80) {
            i++;
            lc = t->ascii_word[c];
            word = lc != 0;
        } else {
            uint32_t cp = decode_utf8(data, n, &i);
            word = t->flags[cp] & 1;
            lc = (uint32_t)t->lower[cp];
        }
        if (word) {
            if (!in_tok) {
                in_tok = 1;
                h = TOKEN_SEED;
                start[nt] = (int64_t)at;
            }
            h = rotl64((h ^ lc) * P1, 31);
        } else if (in_tok) {
            in_tok = 0;
            hash[nt] = token_final(h);
            end[nt++] = (int64_t)at;
        }
    }
    if (in_tok) {
        hash[nt] = token_final(h);
        end[nt++] = (int64_t)n;
    }
    return nt;
}

static inline uint64_t gram_final(uint64_t window, int len) { return mix64(window ^ ((uint64_t)len * GRAM_LEN_MIX)); }

/* Growable output of int64/uint64 columns (all the same length). */
typedef struct {
    int64_t *col[4];
    int ncol;
    size_t len, room;
} Out;

static int out_push(Out *o, const int64_t *vals) {
    if (o->len == o->room) {
        size_t room = o->room ? o->room * 2 : 1024;
        for (int c = 0; c < o->ncol; c++) {
            int64_t *p = realloc(o->col[c], room * sizeof(int64_t));
            if (!p) return -1;
            o->col[c] = p;
        }
        o->room = room;
    }
    for (int c = 0; c < o->ncol; c++) o->col[c][o->len] = vals[c];
    o->len++;
    return 0;
}

static void out_free(Out *o) {
    for (int c = 0; c < o->ncol; c++) free(o->col[c]);
}

static PyObject *out_result(Out *o) {
    PyObject *tuple = PyTuple_New(o->ncol);
    if (!tuple) return NULL;
    for (int c = 0; c < o->ncol; c++) {
        PyObject *b = PyBytes_FromStringAndSize(o->col[c] ? (const char *)o->col[c] : "", (Py_ssize_t)(o->len * sizeof(int64_t)));
        if (!b) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, c, b);
    }
    return tuple;
}

static int text_tables(Held *held, PyObject *o_flags, PyObject *o_lower, Tables *t) {
    t->flags = take(held, o_flags, 1, 0, 0x110000, NULL, "flags");
    if (!t->flags) return -1;
    t->lower = take(held, o_lower, 4, 0, 0x110000, NULL, "lower");
    if (!t->lower) return -1;
    for (int32_t cp = 0; cp < 0x110000; cp++) {
        if (t->lower[cp] < 0 || t->lower[cp] >= 0x110000 || (cp < 0x80 && t->lower[cp] >= 0x80)) {
            PyErr_SetString(PyExc_ValueError, "lower: a code point maps outside Unicode (or ASCII outside ASCII)");
            return -1;
        }
    }
    for (int c = 0; c < 128; c++) t->ascii_word[c] = (t->flags[c] & 1) ? (uint8_t)t->lower[c] : 0;
    t->char_mode = 0;
    return 0;
}

static int check_offsets(const int64_t *off, Py_ssize_t n_off, Py_ssize_t n_data, size_t *longest) {
    *longest = 0;
    for (Py_ssize_t d = 0; d + 1 < n_off; d++) {
        if (off[d] < 0 || off[d + 1] < off[d] || off[d + 1] > n_data) {
            PyErr_SetString(PyExc_ValueError, "offsets do not fit the data buffer");
            return -1;
        }
        size_t len = (size_t)(off[d + 1] - off[d]);
        if (len > *longest) *longest = len;
    }
    return 0;
}

typedef struct {
    uint64_t *hash, *prefix;
    int64_t *start, *end;
} TokenScratch;

static int scratch_alloc(TokenScratch *s, size_t longest) {
    size_t cap = longest + 2;
    s->hash = malloc(cap * sizeof(uint64_t));
    s->prefix = malloc(cap * sizeof(uint64_t));
    s->start = malloc(cap * sizeof(int64_t));
    s->end = malloc(cap * sizeof(int64_t));
    return (s->hash && s->prefix && s->start && s->end) ? 0 : -1;
}

static void scratch_free(TokenScratch *s) { free(s->hash), free(s->prefix), free(s->start), free(s->end); }

/* prefix[k] = sum(hash[j] * BASE**(k-1-j), j < k) mod 2**64; a window's polynomial is
 * prefix[i + L] - prefix[i] * BASE**L. */
static void prefix_sums(const uint64_t *hash, size_t nt, uint64_t *prefix) {
    prefix[0] = 0;
    for (size_t k = 0; k < nt; k++) prefix[k + 1] = prefix[k] * GRAM_BASE + hash[k];
}

static uint64_t pow_base(int len) {
    uint64_t p = 1;
    for (int k = 0; k < len; k++) p *= GRAM_BASE;
    return p;
}

/* ngram_items(offsets, data, flags, lower, n, min_len) -> (hashes, items, words) as bytes of int64:
 * every n-gram hash of every text (texts of fewer than n but at least min_len tokens give one gram,
 * the whole text), the text each gram comes from, and each text's token count. */
static PyObject *py_ngram_items(PyObject *self, PyObject *args) {
    PyObject *o_off, *o_data, *o_flags, *o_lower;
    int n, min_len;
    if (!PyArg_ParseTuple(args, "OOOOii", &o_off, &o_data, &o_flags, &o_lower, &n, &min_len)) return NULL;
    Held held = {.n = 0};
    Tables t;
    Py_ssize_t n_off, n_data;
    size_t longest;
    const int64_t *off = take(&held, o_off, 8, 0, 1, &n_off, "offsets");
    if (!off) goto fail;
    const uint8_t *data = take(&held, o_data, 1, 0, 0, &n_data, "data");
    if (!data || text_tables(&held, o_flags, o_lower, &t) < 0 || check_offsets(off, n_off, n_data, &longest) < 0) goto fail;
    if (n < 1 || min_len < 1 || min_len > n) {
        PyErr_SetString(PyExc_ValueError, "need 1 <= min_len <= n");
        goto fail;
    }
    TokenScratch s;
    Out grams = {.ncol = 2}, words = {.ncol = 1};
    int rc = scratch_alloc(&s, longest);
    Py_BEGIN_ALLOW_THREADS
    uint64_t pow_n = pow_base(n);
    for (Py_ssize_t d = 0; rc == 0 && d + 1 < n_off; d++) {
        size_t nt = word_tokens(data + off[d], (size_t)(off[d + 1] - off[d]), &t, s.hash, s.start, s.end);
        int64_t wv = (int64_t)nt;
        if (out_push(&words, &wv) < 0) rc = -1;
        prefix_sums(s.hash, nt, s.prefix);
        if (nt >= (size_t)n) {
            for (size_t i = 0; rc == 0 && i + (size_t)n <= nt; i++) {
                int64_t v[2] = {(int64_t)gram_final(s.prefix[i + n] - s.prefix[i] * pow_n, n), (int64_t)d};
                if (out_push(&grams, v) < 0) rc = -1;
            }
        } else if (nt >= (size_t)min_len) {
            int64_t v[2] = {(int64_t)gram_final(s.prefix[nt], (int)nt), (int64_t)d};
            if (out_push(&grams, v) < 0) rc = -1;
        }
    }
    Py_END_ALLOW_THREADS
    scratch_free(&s);
    release_all(&held);
    PyObject *result = NULL;
    if (rc < 0)
        PyErr_NoMemory();
    else {
        PyObject *g = out_result(&grams), *w = out_result(&words);
        if (g && w) result = Py_BuildValue("(OOO)", PyTuple_GET_ITEM(g, 0), PyTuple_GET_ITEM(g, 1), PyTuple_GET_ITEM(w, 0));
        Py_XDECREF(g), Py_XDECREF(w);
    }
    out_free(&grams), out_free(&words);
    return result;
fail:
    release_all(&held);
    return NULL;
}

/* ngram_scan(offsets, data, flags, lower, lengths, table, bitmap, bits) -> (doc, index, start, end)
 * as bytes of int64: every occurrence in the texts of a gram (of any length in `lengths`) whose
 * hash is in `table` (sorted ascending, unique): the text, the gram's position in `table`, and the
 * byte range of the occurrence in its text. `bitmap` (2**bits bits) has bit (hash >> (64 - bits))
 * set for every table entry: most windows are rejected by one load, the rest by binary search. */
static PyObject *py_ngram_scan(PyObject *self, PyObject *args) {
    PyObject *o_off, *o_data, *o_flags, *o_lower, *o_len, *o_table, *o_bitmap;
    int bits;
    if (!PyArg_ParseTuple(args, "OOOOOOOi", &o_off, &o_data, &o_flags, &o_lower, &o_len, &o_table, &o_bitmap, &bits))
        return NULL;
    Held held = {.n = 0};
    Tables t;
    Py_ssize_t n_off, n_data, n_len, n_table, n_bitmap;
    size_t longest;
    const int64_t *off = take(&held, o_off, 8, 0, 1, &n_off, "offsets");
    if (!off) goto fail;
    const uint8_t *data = take(&held, o_data, 1, 0, 0, &n_data, "data");
    if (!data || text_tables(&held, o_flags, o_lower, &t) < 0 || check_offsets(off, n_off, n_data, &longest) < 0) goto fail;
    const int32_t *lengths = take(&held, o_len, 4, 0, 0, &n_len, "lengths");
    if (!lengths) goto fail;
    const uint64_t *table = take(&held, o_table, 8, 0, 0, &n_table, "table");
    if (!table) goto fail;
    if (bits < 6 || bits > 40) {
        PyErr_SetString(PyExc_ValueError, "bits must be in [6, 40]");
        goto fail;
    }
    const uint64_t *bitmap = take(&held, o_bitmap, 8, 0, (Py_ssize_t)1 << (bits - 6), &n_bitmap, "bitmap");
    if (!bitmap) goto fail;
    if (n_len > 64) {
        PyErr_SetString(PyExc_ValueError, "at most 64 gram lengths");
        goto fail;
    }
    uint64_t pows[64];
    for (Py_ssize_t k = 0; k < n_len; k++) {
        if (lengths[k] < 1) {
            PyErr_SetString(PyExc_ValueError, "lengths must be >= 1");
            goto fail;
        }
        pows[k] = pow_base(lengths[k]);
    }
    for (Py_ssize_t k = 1; k < n_table; k++) {
        if (table[k - 1] >= table[k]) {
            PyErr_SetString(PyExc_ValueError, "table must be sorted ascending without repeats");
            goto fail;
        }
    }
    TokenScratch s;
    Out hits = {.ncol = 4};
    int rc = scratch_alloc(&s, longest);
    const int shift = 64 - bits;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t d = 0; rc == 0 && d + 1 < n_off; d++) {
        size_t nt = word_tokens(data + off[d], (size_t)(off[d + 1] - off[d]), &t, s.hash, s.start, s.end);
        prefix_sums(s.hash, nt, s.prefix);
        for (Py_ssize_t k = 0; k < n_len; k++) {
            size_t len = (size_t)lengths[k];
            uint64_t pw = pows[k];
            for (size_t i = 0; rc == 0 && i + len <= nt; i++) {
                uint64_t h = gram_final(s.prefix[i + len] - s.prefix[i] * pw, (int)len);
                uint64_t slot = h >> shift;
                if (!((bitmap[slot >> 6] >> (slot & 63)) & 1)) continue;
                Py_ssize_t lo = 0, hi = n_table;
                while (lo < hi) {
                    Py_ssize_t mid = lo + ((hi - lo) >> 1);
                    if (table[mid] < h) lo = mid + 1;
                    else hi = mid;
                }
                if (lo < n_table && table[lo] == h) {
                    int64_t v[4] = {(int64_t)d, (int64_t)lo, s.start[i], s.end[i + len - 1]};
                    if (out_push(&hits, v) < 0) rc = -1;
                }
            }
        }
    }
    Py_END_ALLOW_THREADS
    scratch_free(&s);
    release_all(&held);
    PyObject *result = rc < 0 ? PyErr_NoMemory() : out_result(&hits);
    out_free(&hits);
    return result;
fail:
    release_all(&held);
    return NULL;
}

/* ------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"signatures", py_signatures, METH_VARARGS,
     "signatures(offsets, data, ngram, char_mode, datasketch, flags, lower, a, b, out, nshingles, set_cap=0)"
     " -> None, or (sets, set_offsets) as bytes of uint32 / int64 when set_cap > 0"},
    {"xxh32", py_xxh32, METH_VARARGS, "xxh32(data, seed=0) -> int"},
    {"xxh64", py_xxh64, METH_VARARGS, "xxh64(data, seed=0) -> int"},
    {"band_hashes", py_band_hashes, METH_VARARGS, "band_hashes(sig, nshingles, num_perm, bands, rows, out)"},
    {"bucket_order", py_bucket_order, METH_VARARGS, "bucket_order(hashes, order, verify, max_checks) -> pair bound"},
    {"bucket_candidates", py_bucket_candidates, METH_VARARGS,
     "bucket_candidates(hashes, order, verify, max_checks, n_fixed, out) -> (pairs, paired)"},
    {"join_candidates", py_join_candidates, METH_VARARGS,
     "join_candidates(pairs, parent, sig, num_perm, row_of, verify, min_agree, stats, edges=None) -> joined"},
    {"join_jaccard", py_join_jaccard, METH_VARARGS,
     "join_jaccard(pairs, parent, sets, set_off, row_of, threshold, stats, edges=None) -> joined; "
     "or (views, (buffer addresses, sizes)) in place of (sets, set_off)"},
    {"set_jaccard", py_set_jaccard, METH_VARARGS, "set_jaccard(sets, set_off, r, q) -> float"},
    {"hash_strings", py_hash_strings, METH_VARARGS, "hash_strings(offsets, data, seed, out); a string column is (offsets, data) or (views, (addresses, sizes))"},
    {"flagged_rows", py_flagged_rows, METH_VARARGS, "flagged_rows(offsets, data, table, mask, out)"},
    {"byte_positions", py_byte_positions, METH_VARARGS, "byte_positions(buf, byte, fold) -> offsets as int64 bytes"},
    {"count_byte", py_count_byte, METH_VARARGS, "count_byte(buf, byte) -> int"},
    {"hash_collapsed", py_hash_collapsed, METH_VARARGS, "hash_collapsed(offsets, data, flags, seed1, seed2, out1, out2)"},
    {"union_pairs", py_union_pairs, METH_VARARGS, "union_pairs(parent, left, right) -> joined"},
    {"flatten", py_flatten, METH_VARARGS, "flatten(parent)"},
    {"ngram_items", py_ngram_items, METH_VARARGS,
     "ngram_items(offsets, data, flags, lower, n, min_len) -> (hashes, items, words) as int64 bytes"},
    {"ngram_scan", py_ngram_scan, METH_VARARGS,
     "ngram_scan(offsets, data, flags, lower, lengths, table, bitmap, bits) -> (doc, index, start, end) as int64 bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_native", .m_doc = "Compiled dedup kernels.", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }

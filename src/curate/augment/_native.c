/* The compiled kernel behind curate.augment.operators: one noise operator over a batch of texts.
 *
 * One loop over the documents of a batch; each document gets a splitmix64 stream seeded with its
 * own seed, and only ASCII bytes are edited, inserted or moved as units delimited by ASCII space,
 * so multi-byte characters are never split. Output never exceeds twice the input: each step
 * writes at most two bytes per input byte it consumes (the caller passes 2 * input + 1 bytes).
 *
 * C rather than numba for the reason given in curate/quality/_native.c: numba compiled this loop
 * on first use (seconds), and in every process where it had no writable cache folder. The
 * algorithm is line-for-line the numba kernel it replaces (tests/augment/_reference_kernel.py
 * keeps that as plain Python; a property test pins this file to it). Buffer sizes, offsets and
 * the tables are checked, so a wrong call raises instead of reading or writing past a buffer; the
 * GIL is released while it loops.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef struct {
    Py_buffer views[10];
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

/* ------------------------------------------------------------------ random stream (splitmix64) */

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define C1 0xBF58476D1CE4E5B9ULL
#define C2 0x94D049BB133111EBULL
#define INV53 (1.0 / 9007199254740992.0)

static inline uint64_t next(uint64_t *s) {
    *s += GOLDEN;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * C1;
    z = (z ^ (z >> 27)) * C2;
    return z ^ (z >> 31);
}

static inline double uniform(uint64_t *s) { return (double)(next(s) >> 11) * INV53; }

static inline int64_t pick(uint64_t *s, int64_t n) { return (int64_t)(next(s) % (uint64_t)n); }

/* ------------------------------------------------------------------ bytes */

static inline int is_space(uint8_t c) { return c == 32 || (c >= 9 && c <= 13); }

static inline int letter(uint8_t c) {
    if (c >= 97 && c <= 122) return c - 97;
    if (c >= 65 && c <= 90) return c - 65;
    return -1;
}

static inline int is_punct(uint8_t c, const uint8_t *marks, int64_t n_marks) {
    for (int64_t k = 0; k < n_marks; k++)
        if (c == marks[k]) return 1;
    return 0;
}

/* End of the unit starting at non-space `i`: a word, or a sentence (after . ! ? + space). */
static inline int64_t unit_end(const uint8_t *data, int64_t i, int64_t b, int sentence) {
    int64_t j = i;
    if (!sentence) {
        while (j < b && !is_space(data[j])) j++;
        return j;
    }
    while (j < b) {
        uint8_t c = data[j];
        if (c == 10) return j;
        j++;
        if ((c == 46 || c == 33 || c == 63) && (j >= b || is_space(data[j]))) return j;
    }
    return b;
}

static inline int64_t copy(const uint8_t *data, int64_t a, int64_t b, uint8_t *out, int64_t o) {
    for (int64_t k = a; k < b; k++) out[o++] = data[k];
    return o;
}

typedef struct {
    const uint8_t *data;
    const int64_t *offsets;
    int64_t n;
    const uint64_t *seeds;
    double rate;
    int op;
    const int64_t *kinds;
    int64_t n_kinds;
    const uint8_t *keys; /* (26, key_width) keyboard neighbours */
    int64_t key_width;
    const int64_t *key_counts;
    const uint8_t *ocr1; /* 128 single-character confusions */
    const uint8_t *marks;
    int64_t n_marks;
    uint8_t *out;
    int64_t *out_off;
} Op;

static int64_t apply(const Op *p) {
    const uint8_t *data = p->data;
    uint8_t *out = p->out;
    const double rate = p->rate;
    int64_t o = 0;
    p->out_off[0] = 0;
    for (int64_t d = 0; d < p->n; d++) {
        uint64_t s = p->seeds[d];
        int64_t a = p->offsets[d], b = p->offsets[d + 1], i = a;
        switch (p->op) {
        case 0: /* keyboard typos */
            while (i < b) {
                uint8_t c = data[i];
                int li = letter(c);
                if (li >= 0 && uniform(&s) < rate) {
                    int64_t kind = p->kinds[pick(&s, p->n_kinds)];
                    int upper = c < 97;
                    if (kind == 0 || kind == 1) {
                        uint8_t nb = p->keys[li * p->key_width + pick(&s, p->key_counts[li])];
                        if (upper) nb = (uint8_t)(nb - 32);
                        if (kind == 0) {
                            out[o++] = nb;
                        } else {
                            out[o++] = c;
                            out[o++] = nb;
                        }
                        i++;
                        continue;
                    }
                    if (kind == 2) {
                        i++;
                        continue;
                    }
                    if (i + 1 < b && letter(data[i + 1]) >= 0 && data[i + 1] != c) {
                        out[o++] = data[i + 1];
                        out[o++] = c;
                        i += 2;
                        continue;
                    }
                }
                out[o++] = c;
                i++;
            }
            break;
        case 1: /* OCR confusions */
            while (i < b) {
                uint8_t c = data[i];
                if (i + 1 < b) {
                    uint8_t c2 = data[i + 1], merged = 0;
                    if (c == 114 && c2 == 110) merged = 109; /* rn -> m */
                    else if (c == 99 && c2 == 108) merged = 100; /* cl -> d */
                    else if (c == 118 && c2 == 118) merged = 119; /* vv -> w */
                    if (merged != 0 && uniform(&s) < rate) {
                        out[o++] = merged;
                        i += 2;
                        continue;
                    }
                }
                if (c == 109) { /* m -> rn */
                    if (uniform(&s) < rate) {
                        out[o++] = 114;
                        out[o++] = 110;
                        i++;
                        continue;
                    }
                } else if (c < 128 && p->ocr1[c] != 0) {
                    if (uniform(&s) < rate) {
                        out[o++] = p->ocr1[c];
                        i++;
                        continue;
                    }
                }
                out[o++] = c;
                i++;
            }
            break;
        case 2: /* casing: flip ASCII letters */
            while (i < b) {
                uint8_t c = data[i];
                if (letter(c) >= 0 && uniform(&s) < rate) c ^= 32;
                out[o++] = c;
                i++;
            }
            break;
        case 3: /* whitespace: drop or double a space; split a word (rate / 4 per letter) */
            while (i < b) {
                uint8_t c = data[i];
                if (c == 32) {
                    if (uniform(&s) < rate) {
                        if (pick(&s, 2) == 0) {
                            i++;
                            continue;
                        }
                        out[o++] = 32;
                    }
                } else if (letter(c) >= 0 && i > a && letter(data[i - 1]) >= 0) {
                    if (uniform(&s) < rate * 0.25) out[o++] = 32;
                }
                out[o++] = c;
                i++;
            }
            break;
        case 4: /* punctuation: drop or replace a mark; add one after a word (rate / 4) */
            while (i < b) {
                uint8_t c = data[i];
                if (is_punct(c, p->marks, p->n_marks)) {
                    if (uniform(&s) < rate) {
                        if (pick(&s, 2) == 0) {
                            i++;
                            continue;
                        }
                        c = p->marks[pick(&s, p->n_marks)];
                    }
                    out[o++] = c;
                    i++;
                    continue;
                }
                out[o++] = c;
                if (letter(c) >= 0 && i + 1 < b && data[i + 1] == 32) {
                    if (uniform(&s) < rate * 0.25) out[o++] = p->marks[pick(&s, p->n_marks)];
                }
                i++;
            }
            break;
        case 5: /* word dropout: a word and the spaces after it */
            while (i < b) {
                if (is_space(data[i])) {
                    out[o++] = data[i++];
                    continue;
                }
                int64_t j = unit_end(data, i, b, 0);
                if (uniform(&s) < rate) {
                    while (j < b && is_space(data[j])) j++;
                } else {
                    o = copy(data, i, j, out, o);
                }
                i = j;
            }
            break;
        default: { /* 6: swap a word with the next; 7: the same for sentences */
            int sentence = p->op == 7;
            while (i < b) {
                if (is_space(data[i])) {
                    out[o++] = data[i++];
                    continue;
                }
                int64_t j = unit_end(data, i, b, sentence), k = j;
                while (k < b && is_space(data[k])) k++;
                if (uniform(&s) < rate && k < b) {
                    int64_t m = unit_end(data, k, b, sentence);
                    o = copy(data, k, m, out, o);
                    o = copy(data, j, k, out, o);
                    o = copy(data, i, j, out, o);
                    i = m;
                } else {
                    o = copy(data, i, j, out, o);
                    i = j;
                }
            }
        }
        }
        p->out_off[d + 1] = o;
    }
    return o;
}

static PyObject *py_apply_op(PyObject *self, PyObject *args) {
    PyObject *o_data, *o_off, *o_seeds, *o_kinds, *o_keys, *o_kc, *o_ocr, *o_marks, *o_out, *o_out_off;
    Op p;
    if (!PyArg_ParseTuple(args, "OOOdiOOOOOOO", &o_data, &o_off, &o_seeds, &p.rate, &p.op, &o_kinds, &o_keys, &o_kc,
                          &o_ocr, &o_marks, &o_out, &o_out_off))
        return NULL;
    Held held = {.n = 0};
    PyObject *result = NULL;
    Py_ssize_t n_data, n_off, n_seeds, n_keys, n_kc, n_ocr, n_out, n_out_off;
    if (!(p.data = take(&held, o_data, 1, 0, &n_data, "data"))) goto done;
    if (!(p.offsets = take(&held, o_off, 8, 0, &n_off, "offsets"))) goto done;
    if (!(p.seeds = take(&held, o_seeds, 8, 0, &n_seeds, "seeds"))) goto done;
    if (!(p.kinds = take(&held, o_kinds, 8, 0, &p.n_kinds, "kinds"))) goto done;
    if (!(p.keys = take(&held, o_keys, 1, 0, &n_keys, "keys"))) goto done;
    if (!(p.key_counts = take(&held, o_kc, 8, 0, &n_kc, "key_counts"))) goto done;
    if (!(p.ocr1 = take(&held, o_ocr, 1, 0, &n_ocr, "ocr1"))) goto done;
    if (!(p.marks = take(&held, o_marks, 1, 0, &p.n_marks, "marks"))) goto done;
    if (!(p.out = take(&held, o_out, 1, 1, &n_out, "out"))) goto done;
    if (!(p.out_off = take(&held, o_out_off, 8, 1, &n_out_off, "out_offsets"))) goto done;
    if (n_off < 1) {
        PyErr_SetString(PyExc_ValueError, "offsets: expected at least 1 item");
        goto done;
    }
    p.n = n_off - 1;
    if (p.offsets[0] < 0 || p.offsets[p.n] > n_data) {
        PyErr_SetString(PyExc_IndexError, "offsets: outside the data");
        goto done;
    }
    for (int64_t d = 0; d < p.n; d++) {
        if (p.offsets[d + 1] < p.offsets[d]) {
            PyErr_Format(PyExc_ValueError, "offsets: decrease at %lld", (long long)d + 1);
            goto done;
        }
    }
    if (p.op < 0 || p.op > 7) {
        PyErr_Format(PyExc_ValueError, "unknown operator code %d", p.op);
        goto done;
    }
    if (n_seeds < p.n || n_out_off < p.n + 1 || n_out < 2 * (p.offsets[p.n] - p.offsets[0]) + 1) {
        PyErr_SetString(PyExc_ValueError, "seeds, out or out_offsets too short");
        goto done;
    }
    if (p.n_kinds < 1 || p.n_marks < 1 || n_ocr < 128 || n_kc < 26 || n_keys < 26 || n_keys % 26 != 0) {
        PyErr_SetString(PyExc_ValueError, "kinds, marks, ocr1, keys or key_counts too short");
        goto done;
    }
    p.key_width = n_keys / 26;
    for (int64_t k = 0; k < p.n_kinds; k++) {
        if (p.kinds[k] < 0 || p.kinds[k] > 3) {
            PyErr_SetString(PyExc_ValueError, "kinds: expected typo kinds 0..3");
            goto done;
        }
    }
    for (int k = 0; k < 26; k++) {
        if (p.key_counts[k] < 1 || p.key_counts[k] > p.key_width) {
            PyErr_SetString(PyExc_ValueError, "key_counts: expected 1..row width");
            goto done;
        }
    }
    int64_t written;
    Py_BEGIN_ALLOW_THREADS
    written = apply(&p);
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong(written);
done:
    release_all(&held);
    return result;
}

static PyMethodDef methods[] = {
    {"apply_op", py_apply_op, METH_VARARGS,
     "apply_op(data, offsets, seeds, rate, op, kinds, keys, key_counts, ocr1, marks, out, out_offsets)"
     " -> bytes written (out_offsets start at 0)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_native", .m_doc = "Compiled augment operator kernel.", .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }

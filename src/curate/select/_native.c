/* Compiled kernels of the hashed n-gram language models (curate.select.ngram_lm): counting a
 * batch of documents into the tables, and the log2 probability of every word.
 *
 * Why C: both are one pass over the words with a few random table reads per word; in numpy the
 * same work is a dozen passes over word-sized temporaries (hash, mask, gather, where per order)
 * and ran at ~0.5 M words/s; here it is one loop without temporaries. The arrays come in
 * through the buffer protocol and the loops release the GIL. The typed wrapper in ngram_lm.py
 * checks dtypes; this file checks sizes so a wrong call raises instead of reading past a buffer.
 *
 * Hashes (not persisted anywhere; a change only changes collisions): a context of k-1 words is a
 * polynomial over its word ids, newest word first, wrapping in uint64; a bucket is the top
 * `table_bits` bits of (value * K2). Tables are [order-1][2**table_bits] int64, C-contiguous.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define K1 0x9E3779B97F4A7C15ULL
#define K2 0xFF51AFD7ED558CCDULL
#define K3 0xC4CEB9FE1A85EC53ULL
#define JOINT_SALT 0x2545F4914F6CDD1DULL
#define MAX_ORDER 6

typedef struct {
    Py_buffer views[8];
    int n;
} Held;

static void release_all(Held *held) {
    for (int i = 0; i < held->n; i++) PyBuffer_Release(&held->views[i]);
    held->n = 0;
}

/* A C-contiguous buffer of 8-byte items, exactly `want` long (-1: any length). */
static void *take8(Held *held, PyObject *obj, int writable, Py_ssize_t want, Py_ssize_t *count, const char *name) {
    Py_buffer *v = &held->views[held->n];
    if (PyObject_GetBuffer(obj, v, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) return NULL;
    held->n++;
    if (v->itemsize != 8) {
        PyErr_Format(PyExc_TypeError, "%s: expected 8-byte items, got %zd", name, v->itemsize);
        return NULL;
    }
    Py_ssize_t items = v->len / 8;
    if (want >= 0 && items != want) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items, got %zd", name, want, items);
        return NULL;
    }
    if (count) *count = items;
    return v->buf;
}

typedef struct {
    const uint64_t *ids;
    const int64_t *off;
    Py_ssize_t n_ids, n_docs;
    int order, table_bits, vocab_bits;
    int64_t *uni, *joint, *context, *followers;
} Model;

/* Parse (ids, offsets, order, vocab_bits, table_bits, unigrams, joint, context, followers). */
static int parse_model(PyObject *args, Held *held, Model *m, int writable, PyObject **rest) {
    PyObject *o_ids, *o_off, *o_uni, *o_joint, *o_ctx, *o_fol;
    if (!PyArg_ParseTuple(args, "OOiiiOOOO|O", &o_ids, &o_off, &m->order, &m->vocab_bits, &m->table_bits, &o_uni, &o_joint,
                          &o_ctx, &o_fol, rest))
        return -1;
    if (m->order < 1 || m->order > MAX_ORDER || m->table_bits < 1 || m->table_bits > 40 || m->vocab_bits < 1 || m->vocab_bits > 40) {
        PyErr_SetString(PyExc_ValueError, "order must be 1..6 and table_bits, vocab_bits 1..40");
        return -1;
    }
    Py_ssize_t n_off;
    m->ids = take8(held, o_ids, 0, -1, &m->n_ids, "ids");
    if (!m->ids) return -1;
    m->off = take8(held, o_off, 0, -1, &n_off, "offsets");
    if (!m->off) return -1;
    if (n_off < 1) {
        PyErr_SetString(PyExc_ValueError, "offsets: expected at least 1 item");
        return -1;
    }
    m->n_docs = n_off - 1;
    if (m->off[0] != 0 || m->off[m->n_docs] != m->n_ids) {
        PyErr_SetString(PyExc_ValueError, "offsets: must start at 0 and end at len(ids)");
        return -1;
    }
    for (Py_ssize_t d = 0; d < m->n_docs; d++)
        if (m->off[d + 1] < m->off[d]) {
            PyErr_SetString(PyExc_ValueError, "offsets: must not decrease");
            return -1;
        }
    Py_ssize_t table = (Py_ssize_t)(m->order - 1) << m->table_bits;
    if (!(m->uni = take8(held, o_uni, writable, (Py_ssize_t)1 << m->vocab_bits, NULL, "unigrams"))) return -1;
    if (!(m->joint = take8(held, o_joint, writable, table, NULL, "joint"))) return -1;
    if (!(m->context = take8(held, o_ctx, writable, table, NULL, "context"))) return -1;
    if (!(m->followers = take8(held, o_fol, writable, table, NULL, "followers"))) return -1;
    return 0;
}

/* Buckets of word i's contexts and k-grams for orders 2..N (those it has words for). */
static inline int grams(const Model *m, Py_ssize_t start, Py_ssize_t i, uint64_t *cb, uint64_t *jb) {
    int shift = 64 - m->table_bits, have = 0;
    uint64_t ctx = (uint64_t)m->order * K3;
    for (int k = 2; k <= m->order; k++) {
        Py_ssize_t back = k - 1;
        if (i - back < start) break;
        ctx = ctx * K1 + m->ids[i - back];
        cb[k - 2] = (ctx * K2) >> shift;
        jb[k - 2] = (((ctx + JOINT_SALT) * K1 + m->ids[i]) * K2) >> shift;
        have++;
    }
    return have;
}

static PyObject *py_ngram_add(PyObject *self, PyObject *args) {
    Held held = {.n = 0};
    Model m;
    if (parse_model(args, &held, &m, 1, NULL) < 0) {
        release_all(&held);
        return NULL;
    }
    uint64_t vmask = ((uint64_t)1 << m.vocab_bits) - 1;
    Py_ssize_t tsize = (Py_ssize_t)1 << m.table_bits;
    Py_BEGIN_ALLOW_THREADS
    uint64_t cb[MAX_ORDER], jb[MAX_ORDER];
    for (Py_ssize_t d = 0; d < m.n_docs; d++) {
        for (Py_ssize_t i = m.off[d]; i < m.off[d + 1]; i++) {
            m.uni[m.ids[i] & vmask]++;
            int have = grams(&m, m.off[d], i, cb, jb);
            for (int k = 0; k < have; k++) {
                Py_ssize_t base = (Py_ssize_t)k * tsize;
                /* N1+(h): a k-gram bucket seen for the first time is a new follower of its context */
                if (m.joint[base + jb[k]]++ == 0) m.followers[base + cb[k]]++;
                m.context[base + cb[k]]++;
            }
        }
    }
    Py_END_ALLOW_THREADS
    release_all(&held);
    Py_RETURN_NONE;
}

static PyObject *py_ngram_log2_probs(PyObject *self, PyObject *args) {
    Held held = {.n = 0};
    Model m;
    PyObject *rest = NULL;
    if (parse_model(args, &held, &m, 0, &rest) < 0) {
        release_all(&held);
        return NULL;
    }
    double discount, total, seen;
    PyObject *o_out;
    if (!rest || !PyArg_ParseTuple(rest, "dddO", &discount, &total, &seen, &o_out)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "expected (discount, total, seen, out) after the tables");
        release_all(&held);
        return NULL;
    }
    double *out = take8(&held, o_out, 1, m.n_ids, NULL, "out");
    if (!out) {
        release_all(&held);
        return NULL;
    }
    uint64_t vmask = ((uint64_t)1 << m.vocab_bits) - 1;
    double vsize = (double)((uint64_t)1 << m.vocab_bits);
    Py_ssize_t tsize = (Py_ssize_t)1 << m.table_bits;
    Py_BEGIN_ALLOW_THREADS
    uint64_t cb[MAX_ORDER], jb[MAX_ORDER];
    double base_mass = total > 0 ? discount * seen / vsize : 0.0;
    for (Py_ssize_t d = 0; d < m.n_docs; d++) {
        for (Py_ssize_t i = m.off[d]; i < m.off[d + 1]; i++) {
            double p;
            if (total > 0) {
                double cw = (double)m.uni[m.ids[i] & vmask] - discount;
                p = ((cw > 0 ? cw : 0.0) + base_mass) / total;
            } else {
                p = 1.0 / vsize;
            }
            int have = grams(&m, m.off[d], i, cb, jb);
            for (int k = 0; k < have; k++) {
                Py_ssize_t base = (Py_ssize_t)k * tsize;
                double c = (double)m.context[base + cb[k]];
                if (c <= 0) continue;
                double cw = (double)m.joint[base + jb[k]] - discount;
                double n1 = (double)m.followers[base + cb[k]];
                if (n1 < 1) n1 = 1; /* a context whose follower collided with another's still backs off */
                p = ((cw > 0 ? cw : 0.0) + discount * n1 * p) / c;
            }
            out[i] = log2(p);
        }
    }
    Py_END_ALLOW_THREADS
    release_all(&held);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"ngram_add", py_ngram_add, METH_VARARGS,
     "ngram_add(ids, offsets, order, vocab_bits, table_bits, unigrams, joint, context, followers)"},
    {"ngram_log2_probs", py_ngram_log2_probs, METH_VARARGS,
     "ngram_log2_probs(ids, offsets, order, vocab_bits, table_bits, unigrams, joint, context, followers, "
     "(discount, total, seen, out))"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_native", .m_doc = "Compiled n-gram language model kernels.", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }

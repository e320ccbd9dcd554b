/* bazaar.bloom._native: the whole batch add / contains in C, bit-for-bit the Python path.
 *
 * The layout is the one fixed in _hashing.py and _bits.py (and docs/bloom.md):
 *   key bytes: str as UTF-8, bytes / bytearray as they are (anything else: TypeError, and the
 *              Python caller falls back to the numpy path, which knows ints and raises
 *              InvalidKeyError for the rest);
 *   h1, h2:    low and high 64 bits of XXH3-128 (seed 0), from the system libxxhash;
 *   probe i:   g = h1 + i * h2 mod 2^64, bit ((g >> 32) * m) >> 32;
 *   bit b:     byte b >> 3, mask 0x80 >> (b & 7) (Redis's SETBIT order).
 *
 * Every key is hashed first, with the GIL held (the keys are Python objects); the bit work
 * runs with the GIL released. A bad key therefore raises before a single bit changes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <xxhash.h>

#define PREFETCH_AHEAD 8

/* h[2 i] = h1, h[2 i + 1] = h2 of keys[i]. -1 with an exception set on failure. */
static int hash_into(PyObject *const *keys, Py_ssize_t n, uint64_t *h) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = keys[i];
        XXH128_hash_t d;
        if (PyUnicode_Check(key)) {
            if (PyUnicode_IS_ASCII(key)) {
                /* Compact ASCII: the UTF-8 bytes are the characters themselves. */
                d = XXH3_128bits(PyUnicode_DATA(key), (size_t)PyUnicode_GET_LENGTH(key));
            } else {
                /* A temporary, as str.encode makes (PyUnicode_AsUTF8AndSize would keep a
                 * UTF-8 copy attached to the caller's string for its lifetime). */
                PyObject *utf8 = PyUnicode_AsUTF8String(key);
                if (utf8 == NULL) {
                    return -1;
                }
                d = XXH3_128bits(PyBytes_AS_STRING(utf8), (size_t)PyBytes_GET_SIZE(utf8));
                Py_DECREF(utf8);
            }
        } else if (PyBytes_Check(key)) {
            d = XXH3_128bits(PyBytes_AS_STRING(key), (size_t)PyBytes_GET_SIZE(key));
        } else if (PyByteArray_Check(key)) {
            d = XXH3_128bits(PyByteArray_AS_STRING(key), (size_t)PyByteArray_GET_SIZE(key));
        } else {
            PyErr_Format(PyExc_TypeError, "native path takes str, bytes or bytearray keys, "
                         "not %.100s", Py_TYPE(key)->tp_name);
            return -1;
        }
        h[2 * i] = d.low64;
        h[2 * i + 1] = d.high64;
    }
    return 0;
}

/* A fresh array of every key's (h1, h2); NULL with an exception set on failure. */
static uint64_t *hash_keys(PyObject *const *keys, Py_ssize_t n) {
    uint64_t *h = PyMem_RawMalloc((size_t)(n > 0 ? n : 1) * 2 * sizeof(uint64_t));
    if (h == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (hash_into(keys, n, h) < 0) {
        PyMem_RawFree(h);
        return NULL;
    }
    return h;
}

static inline uint64_t probe(uint64_t h1, uint64_t h2, uint64_t i, uint64_t m) {
    return (((h1 + i * h2) >> 32) * m) >> 32;
}

static void set_all(uint8_t *vec, const uint64_t *h, Py_ssize_t n, int k, uint64_t m) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) {
            const uint64_t *a = h + 2 * (i + PREFETCH_AHEAD);
            for (int j = 0; j < k; j++) {
                __builtin_prefetch(vec + (probe(a[0], a[1], (uint64_t)j, m) >> 3), 1);
            }
        }
        uint64_t h1 = h[2 * i], h2 = h[2 * i + 1];
        for (int j = 0; j < k; j++) {
            uint64_t b = probe(h1, h2, (uint64_t)j, m);
            vec[b >> 3] |= (uint8_t)(0x80u >> (b & 7));
        }
    }
}

static void test_all(const uint8_t *vec, const uint64_t *h, Py_ssize_t n, int k, uint64_t m,
                     uint8_t *out) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) {
            const uint64_t *a = h + 2 * (i + PREFETCH_AHEAD);
            for (int j = 0; j < k; j++) {
                __builtin_prefetch(vec + (probe(a[0], a[1], (uint64_t)j, m) >> 3), 0);
            }
        }
        uint64_t h1 = h[2 * i], h2 = h[2 * i + 1];
        uint8_t found = 1;
        for (int j = 0; j < k; j++) {
            uint64_t b = probe(h1, h2, (uint64_t)j, m);
            if (!(vec[b >> 3] & (0x80u >> (b & 7)))) {
                found = 0;
                break;
            }
        }
        out[i] = found;
    }
}

/* Shared argument handling: keys as a fast sequence, the vector buffer, m and k checked
 * against the buffer so that no write can land outside it. */
typedef struct {
    PyObject *seq;
    Py_buffer vec;
    uint64_t m;
    int k;
} batch_args;

static int parse_batch(PyObject *keys, PyObject *vector, unsigned long long bits, int hashes,
                       int writable, batch_args *a) {
    if (bits < 1 || bits > (1ULL << 32)) {
        PyErr_SetString(PyExc_ValueError, "bits must be in [1, 2**32]");
        return -1;
    }
    if (hashes < 1 || hashes > 64) {
        PyErr_SetString(PyExc_ValueError, "hashes must be in [1, 64]");
        return -1;
    }
    if (PyObject_GetBuffer(vector, &a->vec, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if ((unsigned long long)a->vec.len < (bits + 7) / 8) {
        PyErr_SetString(PyExc_ValueError, "vector is shorter than bits / 8");
        PyBuffer_Release(&a->vec);
        return -1;
    }
    a->seq = PySequence_Fast(keys, "keys must be a list or tuple");
    if (a->seq == NULL) {
        PyBuffer_Release(&a->vec);
        return -1;
    }
    a->m = (uint64_t)bits;
    a->k = hashes;
    return 0;
}

static void release_batch(batch_args *a) {
    Py_DECREF(a->seq);
    PyBuffer_Release(&a->vec);
}

PyDoc_STRVAR(add_many_doc,
"add_many(keys, vector, bits, hashes, /)\n--\n\n"
"Set the k bits of every key (xxh3_128 layout) in the writable buffer ``vector``.");

static PyObject *add_many(PyObject *self, PyObject *args) {
    PyObject *keys, *vector;
    unsigned long long bits;
    int hashes;
    batch_args a;
    if (!PyArg_ParseTuple(args, "OOKi:add_many", &keys, &vector, &bits, &hashes)) {
        return NULL;
    }
    if (parse_batch(keys, vector, bits, hashes, 1, &a) < 0) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(a.seq);
    uint64_t *h = hash_keys(PySequence_Fast_ITEMS(a.seq), n);
    if (h == NULL) {
        release_batch(&a);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    set_all((uint8_t *)a.vec.buf, h, n, a.k, a.m);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(h);
    release_batch(&a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(contains_many_doc,
"contains_many(keys, vector, bits, hashes, out, /)\n--\n\n"
"Write 1 to out[i] if all k bits of keys[i] are set in ``vector``, else 0.");

static PyObject *contains_many(PyObject *self, PyObject *args) {
    PyObject *keys, *vector, *out_obj;
    unsigned long long bits;
    int hashes;
    batch_args a;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "OOKiO:contains_many", &keys, &vector, &bits, &hashes,
                          &out_obj)) {
        return NULL;
    }
    if (parse_batch(keys, vector, bits, hashes, 0, &a) < 0) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(a.seq);
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_WRITABLE) < 0) {
        release_batch(&a);
        return NULL;
    }
    if (out.len < n) {
        PyErr_SetString(PyExc_ValueError, "out is shorter than keys");
        PyBuffer_Release(&out);
        release_batch(&a);
        return NULL;
    }
    uint64_t *h = hash_keys(PySequence_Fast_ITEMS(a.seq), n);
    if (h == NULL) {
        PyBuffer_Release(&out);
        release_batch(&a);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    test_all((const uint8_t *)a.vec.buf, h, n, a.k, a.m, (uint8_t *)out.buf);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(h);
    PyBuffer_Release(&out);
    release_batch(&a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hash_pairs_doc,
"hash_pairs(keys, out, /)\n--\n\n"
"Write h1, h2 of every key (XXH3-128 low, high) as native uint64 pairs into ``out``.");

static PyObject *hash_pairs(PyObject *self, PyObject *args) {
    PyObject *keys, *out_obj;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "OO:hash_pairs", &keys, &out_obj)) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(keys, "keys must be a list or tuple");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_WRITABLE) < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    if ((size_t)out.len < (size_t)n * 2 * sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "out is shorter than 16 bytes per key");
        PyBuffer_Release(&out);
        Py_DECREF(seq);
        return NULL;
    }
    /* out may be misaligned for uint64_t only if the caller passes an odd buffer; numpy's
     * uint64 arrays are aligned. Check rather than assume. */
    int rc;
    if (((uintptr_t)out.buf % _Alignof(uint64_t)) != 0) {
        PyErr_SetString(PyExc_ValueError, "out must be aligned for uint64");
        rc = -1;
    } else {
        rc = hash_into(PySequence_Fast_ITEMS(seq), n, (uint64_t *)out.buf);
    }
    PyBuffer_Release(&out);
    Py_DECREF(seq);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"add_many", add_many, METH_VARARGS, add_many_doc},
    {"contains_many", contains_many, METH_VARARGS, contains_many_doc},
    {"hash_pairs", hash_pairs, METH_VARARGS, hash_pairs_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "bazaar.bloom._native",
    .m_doc = "Batch Bloom filter operations in C over the system libxxhash (XXH3-128).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(mod, "XXHASH_VERSION", (long)XXH_versionNumber()) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}

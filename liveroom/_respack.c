/* liveroom._respack: a Redis command's arguments packed into RESP in one call.
 *
 * ``liveroom.engine.packing.FastPacking.pack_command`` in C, for the arguments it meets on the
 * hot paths: exact bytes, exact str (UTF-8, strict) and exact int. A comment's ``publish.lua``
 * call has 23 arguments and a pulse's call for a hundred rooms several hundred; in Python the
 * loop costs about 9 us for the comment's, here under 1.
 *
 * pack(args, cutoff) -> list[bytes] | None
 *   args:   a tuple, the command's words first (already split, as FastPacking splits them);
 *   cutoff: an argument longer than this goes out as a chunk of its own, not copied into the
 *           command's buffer (redis-py's ``_buffer_cutoff``); a bytes argument is that chunk.
 * Returns the chunks, whose concatenation is the command in RESP. Returns None, having done
 * nothing, when an argument is of any other type (a float, a memoryview, a bool, a subclass)
 * or an int outside 64 bits: the caller then packs in Python, through redis-py's encoder, so
 * those values are encoded, or refused, exactly as redis-py does. A str that is not valid
 * UTF-8 (a lone surrogate) raises UnicodeEncodeError, as ``str.encode`` does.
 *
 * The chunks are the ones FastPacking's Python loop makes, byte for byte
 * (tests/engine/test_packing.py compares both with redis-py's own).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} buffer_t;

static int
reserve(buffer_t *b, Py_ssize_t more)
{
    if (b->len + more <= b->cap) {
        return 0;
    }
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) {
        cap *= 2;
    }
    char *data = PyMem_Realloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

/* the decimal digits of n into out (at least 21 bytes); returns their count */
static Py_ssize_t
digits(long long n, char *out)
{
    char tmp[24];
    Py_ssize_t k = 0;
    unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    do {
        tmp[k++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    Py_ssize_t len = 0;
    if (n < 0) {
        out[len++] = '-';
    }
    while (k) {
        out[len++] = tmp[--k];
    }
    return len;
}

/* "<mark><n>\r\n" at the end of the buffer, which has room for it (24 bytes) */
static void
put_header(buffer_t *b, char mark, Py_ssize_t n)
{
    b->data[b->len++] = mark;
    b->len += digits((long long)n, b->data + b->len);
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}

/* the buffer's bytes as a chunk appended to out; the buffer is emptied */
static int
flush(buffer_t *b, PyObject *out)
{
    PyObject *chunk = PyBytes_FromStringAndSize(b->data, b->len);
    if (chunk == NULL) {
        return -1;
    }
    int failed = PyList_Append(out, chunk);
    Py_DECREF(chunk);
    b->len = 0;
    return failed;
}

static PyObject *
pack(PyObject *module, PyObject *const *argv, Py_ssize_t argc)
{
    (void)module;
    if (argc != 2 || !PyTuple_Check(argv[0])) {
        PyErr_SetString(PyExc_TypeError, "pack(args: tuple, cutoff: int) takes 2 arguments");
        return NULL;
    }
    PyObject *args = argv[0];
    Py_ssize_t cutoff = PyLong_AsSsize_t(argv[1]);
    if (cutoff == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(args);
    /* every argument checked before any work, so that None means nothing was done */
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *arg = PyTuple_GET_ITEM(args, i);
        if (PyBytes_CheckExact(arg) || PyUnicode_CheckExact(arg)) {
            continue;
        }
        if (!PyLong_CheckExact(arg)) {
            Py_RETURN_NONE;
        }
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow(arg, &overflow);
        if (overflow) {
            Py_RETURN_NONE;
        }
        if (value == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }

    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    buffer_t b = {NULL, 0, 0};
    if (reserve(&b, 24) < 0) {
        goto fail;
    }
    put_header(&b, '*', count);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *arg = PyTuple_GET_ITEM(args, i);
        const char *data;
        Py_ssize_t size;
        char number[24];
        if (PyBytes_CheckExact(arg)) {
            data = PyBytes_AS_STRING(arg);
            size = PyBytes_GET_SIZE(arg);
        } else if (PyUnicode_CheckExact(arg)) {
            data = PyUnicode_AsUTF8AndSize(arg, &size);
            if (data == NULL) {
                goto fail;
            }
        } else {
            size = digits(PyLong_AsLongLong(arg), number);
            data = number;
        }
        if (reserve(&b, 24 + 2) < 0) {
            goto fail;
        }
        put_header(&b, '$', size);
        if (size > cutoff) {
            /* a chunk of its own: the bytes object itself, or the text's or number's bytes */
            if (flush(&b, out) < 0) {
                goto fail;
            }
            PyObject *chunk;
            if (PyBytes_CheckExact(arg)) {
                chunk = Py_NewRef(arg);
            } else {
                chunk = PyBytes_FromStringAndSize(data, size);
                if (chunk == NULL) {
                    goto fail;
                }
            }
            int failed = PyList_Append(out, chunk);
            Py_DECREF(chunk);
            if (failed) {
                goto fail;
            }
            b.data[b.len++] = '\r';
            b.data[b.len++] = '\n';
            continue;
        }
        if (reserve(&b, size + 2) < 0) {
            goto fail;
        }
        memcpy(b.data + b.len, data, (size_t)size);
        b.len += size;
        b.data[b.len++] = '\r';
        b.data[b.len++] = '\n';
    }
    if (flush(&b, out) < 0) {
        goto fail;
    }
    PyMem_Free(b.data);
    return out;

fail:
    PyMem_Free(b.data);
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"pack", (PyCFunction)(void (*)(void))pack, METH_FASTCALL,
     "pack(args, cutoff) -> list[bytes] | None: a Redis command in RESP, as chunks; None when "
     "an argument is not an exact bytes, str or 64-bit int (pack it in Python then)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "liveroom._respack",
    .m_doc = "A Redis command's arguments packed into RESP in one call.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__respack(void)
{
    return PyModule_Create(&module);
}

/* liveroom._sendall: one frame to many sockets, in one call.
 *
 * The fan-out's hot loop. Python's ``for sock in socks: sock.send(wire)`` costs, per viewer, a
 * method lookup, a call, argument parsing, the socket's timeout logic, a GIL release and
 * reacquire and an int object; on a heap of thousands of viewers, every socket object it
 * touches is also a cache miss. Here the loop reads descriptor numbers from a packed array and
 * calls send(2) on each with the GIL released once for the whole list.
 *
 * send_all(fds, data) -> None | list[tuple[int, int]]
 *   fds:  a buffer of C ints (array.array("i")), the descriptors, in order;
 *   data: a bytes-like object, sent to every descriptor.
 * Returns None when every descriptor took all of ``data``. Otherwise a list of
 * (position in fds, result) for the others: result >= 0 is the byte count the kernel took
 * (0 when it would block), result < 0 is -errno of a send that failed.
 *
 * The caller owns descriptor lifetimes: a number in ``fds`` must still be the connection it was
 * taken from (in liveroom's fan-out, a released socket blanks its own slot in the array).
 * A negative number is skipped (reported as -EBADF), so a slot can be blanked in place.
 *
 * Its twin in Python, liveroom/sendall.py, takes the same arguments and gives the same answers.
 *
 * ws_text_frame(payload) -> bytes, below, frames one payload for that loop (and for a reply);
 * its twin is liveroom.protocol's ``ws_text_frame``.
 *
 * Flags: MSG_DONTWAIT (never block the event loop, whatever the descriptor's mode) and
 * MSG_NOSIGNAL (a peer that went away is EPIPE, not SIGPIPE). EINTR is retried.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif
#ifndef MSG_DONTWAIT
#define MSG_DONTWAIT 0
#endif

typedef struct {
    Py_ssize_t index;
    Py_ssize_t result;
} miss_t;

static PyObject *
send_all(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "send_all(fds, data) takes exactly 2 arguments");
        return NULL;
    }
    Py_buffer fds, data;
    if (PyObject_GetBuffer(args[0], &fds, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        return NULL;
    }
    if (fds.itemsize != (Py_ssize_t)sizeof(int) || fds.format == NULL ||
        (fds.format[0] != 'i' || fds.format[1] != '\0')) {
        PyBuffer_Release(&fds);
        PyErr_SetString(PyExc_TypeError, "fds must be a buffer of C ints (array.array('i'))");
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&fds);
        return NULL;
    }

    const int *fd = (const int *)fds.buf;
    Py_ssize_t count = fds.len / (Py_ssize_t)sizeof(int);
    const char *bytes = (const char *)data.buf;
    size_t size = (size_t)data.len;
    /* room for every descriptor to miss, taken before the first send: running out of memory
     * halfway would lose what the kernel already took of a frame */
    miss_t *misses = PyMem_Malloc((size_t)(count ? count : 1) * sizeof(miss_t));
    if (misses == NULL) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&fds);
        return PyErr_NoMemory();
    }
    Py_ssize_t nmisses = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t result;
        if (fd[i] < 0) {
            result = -EBADF;
        } else {
            ssize_t taken;
            do {
                taken = send(fd[i], bytes, size, MSG_DONTWAIT | MSG_NOSIGNAL);
            } while (taken < 0 && errno == EINTR);
            if (taken == (ssize_t)size) {
                continue;
            }
            if (taken >= 0) {
                result = (Py_ssize_t)taken;
            } else if (errno == EAGAIN) {
                result = 0;
#if EAGAIN != EWOULDBLOCK
            } else if (errno == EWOULDBLOCK) {
                result = 0;
#endif
            } else {
                result = -(Py_ssize_t)errno;
            }
        }
        misses[nmisses].index = i;
        misses[nmisses].result = result;
        nmisses++;
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&data);
    PyBuffer_Release(&fds);
    if (nmisses == 0) {
        PyMem_Free(misses);
        Py_RETURN_NONE;
    }
    PyObject *list = PyList_New(nmisses);
    if (list == NULL) {
        PyMem_Free(misses);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < nmisses; k++) {
        PyObject *pair = Py_BuildValue("(nn)", misses[k].index, misses[k].result);
        if (pair == NULL) {
            Py_DECREF(list);
            PyMem_Free(misses);
            return NULL;
        }
        PyList_SET_ITEM(list, k, pair);
    }
    PyMem_Free(misses);
    return list;
}

/* ws_text_frame(payload) -> bytes: the wire bytes of one unmasked, unfragmented WebSocket text
 * frame carrying ``payload`` (RFC 6455 section 5.2): 0x81, the length in 7, 16 or 64 bits,
 * then the payload. One allocation and one copy, where the Python twin (liveroom.protocol's
 * ``ws_text_frame``) joins three pieces; the same bytes for the same payload. */
static PyObject *
ws_text_frame(PyObject *module, PyObject *payload)
{
    (void)module;
    Py_buffer view;
    const char *data;
    Py_ssize_t n;
    int held = 0;
    if (PyBytes_CheckExact(payload)) {
        data = PyBytes_AS_STRING(payload);
        n = PyBytes_GET_SIZE(payload);
    } else {
        if (PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        held = 1;
        data = (const char *)view.buf;
        n = view.len;
    }
    Py_ssize_t head = n < 126 ? 2 : (n < 65536 ? 4 : 10);
    PyObject *out = n > PY_SSIZE_T_MAX - head ? PyErr_NoMemory()
                                              : PyBytes_FromStringAndSize(NULL, head + n);
    if (out != NULL) {
        unsigned char *p = (unsigned char *)PyBytes_AS_STRING(out);
        p[0] = 0x81;
        if (head == 2) {
            p[1] = (unsigned char)n;
        } else if (head == 4) {
            p[1] = 126;
            p[2] = (unsigned char)(n >> 8);
            p[3] = (unsigned char)n;
        } else {
            unsigned long long length = (unsigned long long)n;
            p[1] = 127;
            for (int i = 0; i < 8; i++) {
                p[2 + i] = (unsigned char)(length >> (56 - 8 * i));
            }
        }
        memcpy(p + head, data, (size_t)n);
    }
    if (held) {
        PyBuffer_Release(&view);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"send_all", (PyCFunction)(void (*)(void))send_all, METH_FASTCALL,
     "send_all(fds, data) -> None | list[(index, result)]: send data to every descriptor in "
     "fds (array.array('i')) with MSG_DONTWAIT | MSG_NOSIGNAL, the GIL released once. None when "
     "all took the whole of data; else, for each other, the bytes taken (>= 0) or -errno."},
    {"ws_text_frame", (PyCFunction)ws_text_frame, METH_O,
     "ws_text_frame(payload) -> bytes: payload as one unmasked, final WebSocket text frame."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "liveroom._sendall",
    .m_doc = "One frame to many sockets in one call: the fan-out's send loop in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__sendall(void)
{
    return PyModule_Create(&module);
}

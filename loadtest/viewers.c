/*
 * A compiled client process for `python -m loadtest platform --clients native`: many simulated
 * viewers on one epoll loop, doing what `loadtest.worker`'s rooms ops do with Python viewers
 * (`loadtest.rooms`, `loadtest.viewer`), in a small part of their user time a frame. On 2
 * shared cores the Python clients took about a core for the platform mix's 19,000 viewers, and
 * the mix's p99 then measured them; what this one still costs is mostly the kernel's receive,
 * which a viewer's own machine would run.
 *
 * Started as `viewers --host IPV4 --port N [--nice N] [--netns PATH] [--index I]` (it lowers
 * its own priority and enters the network namespace itself), it says `{"op":"ready","nice":N}`
 * and is then driven over its standard input by `loadtest.native`, one command a line; each op
 * answers one JSON line on standard output (`"op"` names it). The parent mints the tokens and
 * numbers the rooms and classes. Standard input closed: it exits.
 *
 *   v ROOM CLASS TARGET       a viewer of room ROOM (an index) in class CLASS (an index),
 *                             connecting on TARGET (path and query)
 *   connect CONCURRENCY TIMEOUT_S
 *                             open the viewers added since the last connect, CONCURRENCY
 *                             handshakes at a time; answer once each has its snapshot or failed
 *   pub ROOM RATE             this process posts RATE comments a second in ROOM ...
 *   traffic DURATION_S        ... for DURATION_S seconds, then waits up to 10 s for replies
 *   head ROOM OFFSET          a room's head, for the next drain and report
 *   drain TIMEOUT_S           wait until every live viewer holds its room's head and no reply
 *                             is owed
 *   report                    the counts per class
 *   close                     close every connection and exit
 *
 * What a viewer checks is what `SimViewer.on_message` checks: each room event's offset against
 * the last one (a repeat is a duplicate, a jump a gap; a snapshot or `resync` moves the viewer
 * to its epoch and offset), the publish -> receive latency of events that carry `ts`, in 0.1 ms
 * steps. RFC 6455 as `loadtest.wsclient` does it: masked sends with a zero key, pong on ping,
 * a close answered, no extensions.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_N 1200000 /* latency steps of 0.1 ms: 120 s; later ones count in the last */
#define RECV_SIZE (256 * 1024)
#define MAX_HANDSHAKE 16384
#define MAX_NAMES 64
#define STDIN_TAG UINT32_MAX
#define MAX_TARGET 4096

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };
enum { S_NEW, S_CONNECTING, S_HANDSHAKE, S_OPEN, S_DONE };
enum { IDLE, CONNECTING_OP, TRAFFIC_OP, SETTLING_OP, DRAIN_OP };

/* ------------------------------------------------------------------ counts */

typedef struct {
    uint32_t *counts; /* HIST_N entries, touched pages only */
} Hist;

typedef struct {
    char name[80];
    uint64_t n;
} Named;

typedef struct {
    Named items[MAX_NAMES];
    int len;
} Names;

typedef struct {
    int used;
    uint64_t delivered, duplicated, gaps, skipped, resets, frames, bad_frames, snapshots;
    uint64_t pending, sent;
    int64_t max_offset;
    Hist latency, join, reply;
    Names connect_errors, closes, answers, private_;
} Class;

static void hist_add(Hist *h, double seconds) {
    double steps = seconds * 10000.0;
    int64_t key;
    if (!(steps >= 0.0)) key = 0; /* negative, or not a number: results.histogram's floor */
    else if (steps >= HIST_N - 1) key = HIST_N - 1;
    else key = (int64_t)steps; /* truncated, as Python's int() */
    if (!h->counts) {
        h->counts = calloc(HIST_N, sizeof(uint32_t));
        if (!h->counts) abort();
    }
    h->counts[key]++;
}

static void names_add(Names *t, const char *name, size_t len) {
    if (len >= sizeof t->items[0].name) {
        len = sizeof t->items[0].name - 1;
        while (len && ((unsigned char)name[len] & 0xC0) == 0x80) len--; /* whole characters */
    }
    for (int i = 0; i < t->len; i++) {
        if (strlen(t->items[i].name) == len && memcmp(t->items[i].name, name, len) == 0) {
            t->items[i].n++;
            return;
        }
    }
    if (t->len == MAX_NAMES) { /* full: the last name counts the rest too */
        t->items[MAX_NAMES - 1].n++;
        return;
    }
    Named *item = &t->items[t->len++];
    memcpy(item->name, name, len);
    item->name[len] = 0;
    item->n = 1;
}

static void names_addz(Names *t, const char *name) { names_add(t, name, strlen(name)); }

/* ------------------------------------------------------------------ state */

typedef struct {
    int fd;
    int room, cls;
    char *target;
    int state;
    int live, upgraded, closed;
    int close_code; /* -1: none given */
    int64_t last, start;
    char epoch[64];
    double began;
    int inflight;
    unsigned char *buf; /* bytes not yet parsed */
    size_t len, cap;
    unsigned char *msg; /* a fragmented message so far */
    size_t msglen, msgcap;
    int in_msg;
    unsigned char *out; /* bytes the socket did not take yet */
    size_t outlen, outcap;
} Conn;

typedef struct {
    int *viewers; /* indices into conns */
    int count;
    size_t cap;
    int64_t head;  /* newest offset a reply named */
    int64_t given; /* the head the parent gave (head lines) */
    int turn;
} Room;

typedef struct {
    double sent;
    int room, conn, cls;
    int open;
} Ask;

static Conn *conns;
static int nconns;
static size_t capconns;
static Room *rooms;
static int nrooms;
static Class classes[16];
static Ask *asks;
static int64_t nasks;
static size_t capasks;
static uint64_t pending_total;

static int ep;
static struct sockaddr_in server;
static char host_header[128];
static unsigned char recvbuf[RECV_SIZE + 1];

static int op = IDLE;
static int next_new;      /* first conn of the batch not yet started */
static int batch_first;   /* first conn of the current connect batch */
static int handshaking;   /* conns in S_CONNECTING or S_HANDSHAKE */
static int concurrency;
static double op_started, op_deadline, traffic_end;
static double cpu_started, traffic_cpu;
static int64_t serial;
static int my_index;

typedef struct {
    double at;
    int room;
    double period;
} Due;
static Due *heap;
static int nheap;
static size_t capheap;

/* ------------------------------------------------------------------ helpers */

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *grow(void *p, size_t want, size_t *cap, size_t size) {
    if (want <= *cap) return p;
    size_t n = *cap ? *cap : 16;
    while (n < want) n *= 2;
    p = realloc(p, n * size);
    if (!p) abort();
    *cap = n;
    return p;
}

static void die(const char *what) {
    fprintf(stderr, "viewers: %s: %s\n", what, strerror(errno));
    exit(2);
}

static Class *class_of(int cls) {
    if (cls < 0 || cls >= (int)(sizeof classes / sizeof classes[0])) {
        fprintf(stderr, "viewers: class %d out of range\n", cls);
        exit(2);
    }
    classes[cls].used = 1;
    return &classes[cls];
}

static Room *room_of(int room) {
    if (room < 0) {
        fprintf(stderr, "viewers: room %d out of range\n", room);
        exit(2);
    }
    if (room >= nrooms) {
        int n = nrooms ? nrooms : 64;
        while (n <= room) n *= 2;
        rooms = realloc(rooms, (size_t)n * sizeof(Room));
        if (!rooms) abort();
        memset(rooms + nrooms, 0, (size_t)(n - nrooms) * sizeof(Room));
        nrooms = n;
    }
    return &rooms[room];
}

/* ------------------------------------------------------------------ output */

static void out_names(FILE *f, const char *key, const Names *t) {
    fprintf(f, "\"%s\":{", key);
    for (int i = 0; i < t->len; i++) {
        fputs(i ? ",\"" : "\"", f);
        for (const char *p = t->items[i].name; *p; p++) {
            unsigned char ch = (unsigned char)*p;
            if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
            else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
            else fputc(ch, f);
        }
        fprintf(f, "\":%llu", (unsigned long long)t->items[i].n);
    }
    fputc('}', f);
}

static void out_hist(FILE *f, const char *key, const Hist *h) {
    fprintf(f, "\"%s\":{", key);
    int first = 1;
    if (h->counts) {
        for (int i = 0; i < HIST_N; i++) {
            if (!h->counts[i]) continue;
            fprintf(f, "%s\"%d\":%u", first ? "" : ",", i, h->counts[i]);
            first = 0;
        }
    }
    fputc('}', f);
}

static void out_heads(FILE *f) {
    fputs("\"heads\":{", f);
    int first = 1;
    for (int r = 0; r < nrooms; r++) {
        if (!rooms[r].head) continue;
        fprintf(f, "%s\"%d\":%lld", first ? "" : ",", r, (long long)rooms[r].head);
        first = 0;
    }
    fputc('}', f);
}

/* ------------------------------------------------------------------ sending */

static void watch(Conn *c, int out) {
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl");
}

static void flush_out(Conn *c) {
    while (c->outlen) {
        ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            c->outlen = 0; /* the read side sees the end */
            return;
        }
        memmove(c->out, c->out + n, c->outlen - (size_t)n);
        c->outlen -= (size_t)n;
    }
    watch(c, c->outlen != 0);
}

static void send_bytes(Conn *c, const void *data, size_t len) {
    if (c->fd < 0) return;
    if (!c->outlen) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n == (ssize_t)len) return;
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) return;
            n = 0;
        }
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    c->out = grow(c->out, c->outlen + len, &c->outcap, 1);
    memcpy(c->out + c->outlen, data, len);
    c->outlen += len;
    watch(c, 1);
}

static void send_frame(Conn *c, int opcode, const void *payload, size_t len) {
    unsigned char head[14];
    size_t h = 0;
    head[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        head[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        head[h++] = 0x80 | 126;
        head[h++] = (unsigned char)(len >> 8);
        head[h++] = (unsigned char)len;
    } else {
        head[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) head[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    memset(head + h, 0, 4); /* the zero mask key: the payload goes as it is */
    h += 4;
    unsigned char frame[256];
    if (h + len <= sizeof frame) {
        memcpy(frame, head, h);
        memcpy(frame + h, payload, len);
        send_bytes(c, frame, h + len);
    } else {
        send_bytes(c, head, h);
        send_bytes(c, payload, len);
    }
}

/* ------------------------------------------------------------------ closing */

/* what Python names the OSError of ``errno`` (the Python viewers' connect errors) */
static const char *error_name(int err) {
    switch (err) {
    case ECONNREFUSED: return "ConnectionRefusedError";
    case ECONNRESET: return "ConnectionResetError";
    case ECONNABORTED: return "ConnectionAbortedError";
    case EPIPE: return "BrokenPipeError";
    case ETIMEDOUT: return "TimeoutError";
    default: return "OSError";
    }
}

static void on_close(Conn *c) {
    Class *k = class_of(c->cls);
    if (c->start < 0) {
        char why[64];
        if (c->close_code >= 0) snprintf(why, sizeof why, "closed before snapshot (%d)", c->close_code);
        else snprintf(why, sizeof why, "closed before snapshot (None)");
        names_addz(&k->connect_errors, why);
    }
    if (c->live) {
        char code[16];
        if (c->close_code >= 0) snprintf(code, sizeof code, "%d", c->close_code);
        else snprintf(code, sizeof code, "None");
        names_addz(&k->closes, code);
    }
    c->live = 0;
}

static void drop(Conn *c) {
    if (c->fd >= 0) {
        if (c->outlen) send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT); /* a close */
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (c->state == S_CONNECTING || c->state == S_HANDSHAKE) handshaking--;
    c->state = S_DONE;
    c->closed = 1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    free(c->msg);
    c->msg = NULL;
    c->msglen = c->msgcap = 0;
    free(c->out);
    c->out = NULL;
    c->outlen = c->outcap = 0;
}

/* The connection ended: an upgraded one tells the viewer, one still opening counts an error. */
static void ended(Conn *c, const char *error) {
    if (c->upgraded) on_close(c);
    else names_addz(&class_of(c->cls)->connect_errors, error);
    drop(c);
}

static void close_conn(Conn *c, int code) {
    if (c->closed) return;
    unsigned char body[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    send_frame(c, OP_CLOSE, body, 2);
    c->closed = 1;
}

/* ------------------------------------------------------------------ JSON
 *
 * Strict, as orjson is: a frame that is not one JSON array of objects, whole, with nothing
 * after it, is a bad frame and none of its events count. The server builds frames by splicing
 * bytes, and a splice gone wrong must show here as a bad frame, not as events delivered.
 */

#define MAX_DEPTH 64

static const unsigned char *ws(const unsigned char *p, const unsigned char *e) {
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

static int hex(unsigned char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* p at '"'; returns past the closing quote, NULL when not a valid string; its raw contents
 * (escapes as they are) in s/n */
static const unsigned char *string(const unsigned char *p, const unsigned char *e,
                                   const unsigned char **s, size_t *n) {
    const unsigned char *q = ++p;
    while (q < e && *q != '"') {
        if (*q < 0x20) return NULL;
        if (*q == '\\') {
            if (q + 1 >= e) return NULL;
            unsigned char x = q[1];
            if (x == 'u') {
                if (e - q < 6 || !hex(q[2]) || !hex(q[3]) || !hex(q[4]) || !hex(q[5])) return NULL;
                q += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", x) || !x) return NULL;
            q += 2;
            continue;
        }
        q++;
    }
    if (q >= e) return NULL;
    if (s) *s = p;
    if (n) *n = (size_t)(q - p);
    return q + 1;
}

/* a number as JSON writes one; returns past it, NULL when it is not one */
static const unsigned char *number(const unsigned char *p, const unsigned char *e) {
    if (p < e && *p == '-') p++;
    if (p >= e) return NULL;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (p < e && *p >= '0' && *p <= '9') p++;
    else return NULL;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || *p < '0' || *p > '9') return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || *p < '0' || *p > '9') return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    return p;
}

static const unsigned char *word(const unsigned char *p, const unsigned char *e, const char *w) {
    size_t n = strlen(w);
    return (size_t)(e - p) >= n && memcmp(p, w, n) == 0 ? p + n : NULL;
}

static const unsigned char *value(const unsigned char *p, const unsigned char *e, int depth);

/* p at '{' or '['; the whole object or array, checked */
static const unsigned char *compound(const unsigned char *p, const unsigned char *e, int depth) {
    if (depth > MAX_DEPTH) return NULL;
    unsigned char close = *p == '{' ? '}' : ']';
    int object = *p == '{';
    p = ws(p + 1, e);
    if (p < e && *p == close) return p + 1;
    for (;;) {
        if (object) {
            if (p >= e || *p != '"' || !(p = string(p, e, NULL, NULL))) return NULL;
            p = ws(p, e);
            if (p >= e || *p != ':') return NULL;
            p++;
        }
        if (!(p = value(p, e, depth + 1))) return NULL;
        p = ws(p, e);
        if (p < e && *p == close) return p + 1;
        if (p >= e || *p != ',') return NULL;
        p = ws(p + 1, e);
    }
}

/* any JSON value, checked; returns past it */
static const unsigned char *value(const unsigned char *p, const unsigned char *e, int depth) {
    p = ws(p, e);
    if (p >= e) return NULL;
    switch (*p) {
    case '"': return string(p, e, NULL, NULL);
    case '{':
    case '[': return compound(p, e, depth);
    case 't': return word(p, e, "true");
    case 'f': return word(p, e, "false");
    case 'n': return word(p, e, "null");
    default: return number(p, e);
    }
}

typedef struct {
    const unsigned char *type, *epoch, *id, *code;
    size_t type_n, epoch_n, id_n, code_n;
    int has_offset, has_ts, has_type, has_epoch, has_id, ok, shed, reset;
    int64_t offset, count;
    double ts;
} Event;

static int key_is(const unsigned char *k, size_t n, const char *name) {
    return strlen(name) == n && memcmp(k, name, n) == 0;
}

/* Python's truth of a JSON value: true, or a number other than 0 (what the server sends is a
 * boolean) */
static int truthy(const unsigned char *v, const unsigned char *end) {
    if (end - v == 4 && memcmp(v, "true", 4) == 0) return 1;
    if (*v == '-' || (*v >= '0' && *v <= '9')) return strtod((const char *)v, NULL) != 0.0;
    return 0;
}

/* a value read as a number when it is one (v..end checked by ``value``) */
static int is_number(const unsigned char *v) { return *v == '-' || (*v >= '0' && *v <= '9'); }

/* the "code" of an error object (checked already) */
static void error_code(const unsigned char *p, const unsigned char *e, Event *ev) {
    p = ws(p + 1, e);
    while (p < e && *p == '"') {
        const unsigned char *k, *v;
        size_t kn;
        p = string(p, e, &k, &kn);
        p = ws(p, e) + 1; /* the ':' */
        v = ws(p, e);
        p = value(v, e, 1);
        if (key_is(k, kn, "code") && *v == '"') string(v, e, &ev->code, &ev->code_n);
        p = ws(p, e);
        if (p < e && *p == ',') p = ws(p + 1, e);
    }
}

/* one event object; returns past it, NULL on bad JSON */
static const unsigned char *object(const unsigned char *p, const unsigned char *e, Event *ev) {
    memset(ev, 0, sizeof *ev);
    p = ws(p, e);
    if (p >= e || *p != '{') return NULL;
    p = ws(p + 1, e);
    if (p < e && *p == '}') return p + 1;
    for (;;) {
        const unsigned char *k, *v, *end;
        size_t kn;
        if (p >= e || *p != '"' || !(p = string(p, e, &k, &kn))) return NULL;
        p = ws(p, e);
        if (p >= e || *p != ':') return NULL;
        v = ws(p + 1, e);
        if (!(end = value(v, e, 1))) return NULL;
        if (key_is(k, kn, "type")) {
            ev->has_type = *v == '"';
            if (ev->has_type) string(v, e, &ev->type, &ev->type_n);
        } else if (key_is(k, kn, "offset")) {
            ev->has_offset = is_number(v);
            if (ev->has_offset) ev->offset = (int64_t)strtod((const char *)v, NULL);
        } else if (key_is(k, kn, "ts")) {
            ev->has_ts = is_number(v);
            if (ev->has_ts) ev->ts = strtod((const char *)v, NULL);
        } else if (key_is(k, kn, "epoch")) {
            ev->has_epoch = *v == '"';
            if (ev->has_epoch) string(v, e, &ev->epoch, &ev->epoch_n);
        } else if (key_is(k, kn, "id")) {
            ev->has_id = *v == '"';
            if (ev->has_id) string(v, e, &ev->id, &ev->id_n);
        } else if (key_is(k, kn, "count")) {
            ev->count = is_number(v) ? (int64_t)strtod((const char *)v, NULL) : 0;
        } else if (key_is(k, kn, "ok")) {
            ev->ok = truthy(v, end);
        } else if (key_is(k, kn, "shed")) {
            ev->shed = truthy(v, end);
        } else if (key_is(k, kn, "reset")) {
            ev->reset = truthy(v, end);
        } else if (key_is(k, kn, "error")) {
            ev->code = NULL;
            if (*v == '{') error_code(v, end, ev);
        }
        p = ws(end, e);
        if (p < e && *p == '}') return p + 1;
        if (p >= e || *p != ',') return NULL;
        p = ws(p + 1, e);
    }
}

/* A frame's events, all parsed before any is applied: NULL when the frame is bad. */
static Event *events_of(const unsigned char *p, size_t len, int *count) {
    static Event *buf;
    static size_t cap;
    const unsigned char *e = p + len;
    int n = 0;
    p = ws(p, e);
    if (p >= e || *p != '[') return NULL;
    p = ws(p + 1, e);
    if (p < e && *p == ']') {
        p++;
    } else {
        for (;;) {
            buf = grow(buf, (size_t)n + 1, &cap, sizeof(Event));
            if (!(p = object(p, e, &buf[n]))) return NULL;
            n++;
            p = ws(p, e);
            if (p < e && *p == ']') {
                p++;
                break;
            }
            if (p >= e || *p != ',') return NULL;
            p++;
        }
    }
    if (ws(p, e) != e) return NULL; /* anything after the array */
    *count = n;
    return buf;
}

static int type_is(const Event *ev, const char *name) {
    return ev->has_type && key_is(ev->type, ev->type_n, name);
}

static int not_room(const Event *ev) {
    return type_is(ev, "snapshot") || type_is(ev, "reply") || type_is(ev, "resumed") ||
           type_is(ev, "skipped") || type_is(ev, "resync") || type_is(ev, "welcome") ||
           type_is(ev, "error");
}

static void set_epoch(Conn *c, const Event *ev) {
    size_t n = ev->has_epoch ? ev->epoch_n : 0;
    if (n >= sizeof c->epoch) n = sizeof c->epoch - 1;
    if (n) memcpy(c->epoch, ev->epoch, n);
    c->epoch[n] = 0;
}

static int same_epoch(const Conn *c, const Event *ev) {
    size_t n = ev->has_epoch ? ev->epoch_n : 0;
    if (n >= sizeof c->epoch) n = sizeof c->epoch - 1;
    return strlen(c->epoch) == n && memcmp(c->epoch, ev->epoch, n) == 0;
}

/* ------------------------------------------------------------------ a viewer's events */

static void on_reply(Conn *c, Class *k, const Event *ev, double now) {
    if (!ev->has_id) return;
    char idbuf[32];
    size_t n = ev->id_n < sizeof idbuf - 1 ? ev->id_n : sizeof idbuf - 1;
    memcpy(idbuf, ev->id, n);
    idbuf[n] = 0;
    char *end;
    long long id = strtoll(idbuf, &end, 10);
    if (*end || id < 1 || id > nasks) return;
    Ask *a = &asks[id - 1];
    if (!a->open || a->conn != (int)(c - conns)) return;
    a->open = 0;
    c->inflight--;
    pending_total--;
    Class *owner = class_of(a->cls);
    owner->pending--;
    hist_add(&k->reply, now - a->sent);
    char outcome[96];
    if (ev->ok) {
        snprintf(outcome, sizeof outcome, "comment:%s", ev->shed ? "shed" : "ok");
        if (ev->has_offset) {
            if (ev->offset > k->max_offset) k->max_offset = ev->offset;
            Room *r = room_of(a->room);
            if (ev->offset > r->head) r->head = ev->offset;
        }
    } else if (ev->code) {
        snprintf(outcome, sizeof outcome, "comment:%.*s", (int)(ev->code_n > 80 ? 80 : ev->code_n),
                 ev->code);
    } else {
        snprintf(outcome, sizeof outcome, "comment:error");
    }
    names_addz(&k->answers, outcome);
}

static void on_snapshot(Conn *c, Class *k, const Event *ev, double now) {
    int64_t offset = ev->has_offset ? ev->offset : 0;
    if (c->start < 0) {
        c->start = offset;
        k->snapshots++;
        hist_add(&k->join, now - c->began);
    } else if (ev->reset) {
        k->resets++;
        if (same_epoch(c, ev) && offset > c->last) k->skipped += (uint64_t)(offset - c->last);
    }
    if (!same_epoch(c, ev)) c->last = offset;
    else if (offset > c->last) c->last = offset;
    set_epoch(c, ev);
    c->live = 1;
}

static void on_message(Conn *c, const unsigned char *p, size_t len, double now) {
    Class *k = &classes[c->cls];
    int n, room_frame = 0;
    Event *evs = events_of(p, len, &n);
    if (!evs) {
        k->bad_frames++;
        return;
    }
    for (int i = 0; i < n; i++) {
        Event *ev = &evs[i];
        if (ev->has_offset && !not_room(ev)) {
            room_frame = 1;
            if (ev->offset <= c->last) {
                k->duplicated++;
                continue;
            }
            if (ev->offset > c->last + 1) k->gaps += (uint64_t)(ev->offset - c->last - 1);
            c->last = ev->offset;
            k->delivered++;
            if (ev->has_ts) hist_add(&k->latency, now - ev->ts);
        } else if (type_is(ev, "reply")) {
            on_reply(c, k, ev, now);
        } else if (type_is(ev, "snapshot")) {
            on_snapshot(c, k, ev, now);
        } else if (type_is(ev, "skipped")) {
            k->skipped += (uint64_t)ev->count;
        } else if (type_is(ev, "resync")) {
            k->resets++;
            c->last = ev->has_offset ? ev->offset : 0;
            set_epoch(c, ev);
        } else if (type_is(ev, "resumed")) {
            if (!same_epoch(c, ev)) k->bad_frames++;
            c->live = 1;
        } else if (ev->has_type) {
            names_add(&k->private_, (const char *)ev->type, ev->type_n);
        } else {
            names_addz(&k->private_, "None");
        }
    }
    if (room_frame) k->frames++;
}

/* ------------------------------------------------------------------ frames */

/* Parse whole frames of data[0..size); returns the bytes used, or -1 when the connection ended. */
static long frames(Conn *c, unsigned char *data, size_t size, double now) {
    size_t pos = 0;
    while (size - pos >= 2) {
        unsigned char b0 = data[pos];
        uint64_t length = data[pos + 1] & 0x7F;
        size_t head = 2;
        if (length == 126) {
            if (size - pos < 4) break;
            length = ((uint64_t)data[pos + 2] << 8) | data[pos + 3];
            head = 4;
        } else if (length == 127) {
            if (size - pos < 10) break;
            length = 0;
            for (int i = 0; i < 8; i++) length = (length << 8) | data[pos + 2 + i];
            head = 10;
        }
        if (length > size - pos - head) break;
        unsigned char *payload = data + pos + head;
        pos += head + length;
        int opcode = b0 & 0x0F;
        if (opcode == OP_TEXT || opcode == OP_BINARY) {
            if (b0 & 0x80) {
                on_message(c, payload, length, now);
            } else {
                c->msg = grow(c->msg, length + 1, &c->msgcap, 1);
                memcpy(c->msg, payload, length);
                c->msglen = length;
                c->in_msg = 1;
            }
        } else if (opcode == OP_CONT && c->in_msg) {
            c->msg = grow(c->msg, c->msglen + length + 1, &c->msgcap, 1);
            memcpy(c->msg + c->msglen, payload, length);
            c->msglen += length;
            if (b0 & 0x80) {
                c->in_msg = 0;
                c->msg[c->msglen] = 0;
                on_message(c, c->msg, c->msglen, now);
            }
        } else if (opcode == OP_PING) {
            send_frame(c, OP_PONG, payload, length);
        } else if (opcode == OP_CLOSE) {
            if (length >= 2) c->close_code = (payload[0] << 8) | payload[1];
            close_conn(c, 1000);
            ended(c, "ConnectionResetError");
            return -1;
        }
    }
    return (long)pos;
}

static void handshake_reply(Conn *c, unsigned char *data, size_t size, double now) {
    unsigned char *end = memmem(data, size, "\r\n\r\n", 4);
    if (!end) {
        if (size > MAX_HANDSHAKE) {
            ended(c, "HandshakeError");
            return;
        }
        c->buf = grow(c->buf, size + 1, &c->cap, 1);
        memmove(c->buf, data, size);
        c->len = size;
        return;
    }
    unsigned char *eol = memmem(data, size, "\r\n", 2);
    unsigned char *code = memmem(data, (size_t)(eol - data), " 101", 4);
    if (!code || (code + 4 < eol && code[4] != ' ')) { /* " 101 " in the status line + " " */
        ended(c, "HandshakeError");
        return;
    }
    c->upgraded = 1;
    c->state = S_OPEN;
    handshaking--;
    unsigned char *rest = end + 4;
    size_t left = size - (size_t)(rest - data);
    long used = frames(c, rest, left, now);
    if (used < 0) return;
    c->len = left - (size_t)used;
    if (c->len) {
        unsigned char *tmp = malloc(c->len + 1);
        if (!tmp) abort();
        memcpy(tmp, rest + used, c->len);
        free(c->buf);
        c->buf = tmp;
        c->cap = c->len + 1;
    }
}

static void readable(Conn *c) {
    double now = wall();
    unsigned char *data;
    size_t size;
    ssize_t n;
    if (c->len == 0) {
        n = recv(c->fd, recvbuf, RECV_SIZE, 0);
        data = recvbuf;
        size = n > 0 ? (size_t)n : 0;
    } else {
        c->buf = grow(c->buf, c->len + 65536 + 1, &c->cap, 1);
        n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
        data = c->buf;
        size = c->len + (n > 0 ? (size_t)n : 0);
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        ended(c, n == 0 ? "ConnectionResetError" : error_name(errno));
        return;
    }
    data[size] = 0; /* a number at a frame's end never reads past it */
    if (!c->upgraded) {
        c->len = 0;
        handshake_reply(c, data, size, now);
        return;
    }
    long used = frames(c, data, size, now);
    if (used < 0) return;
    size_t left = size - (size_t)used;
    if (!left) {
        c->len = 0;
        return;
    }
    if (data == recvbuf) {
        c->buf = grow(c->buf, left + 1, &c->cap, 1);
        memcpy(c->buf, recvbuf + used, left);
    } else {
        memmove(c->buf, c->buf + used, left);
    }
    c->len = left;
}

/* ------------------------------------------------------------------ connecting */

static void start_connect(Conn *c) {
    c->began = wall();
    c->state = S_CONNECTING;
    handshaking++;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        names_addz(&class_of(c->cls)->connect_errors, "OSError");
        c->state = S_DONE;
        handshaking--;
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl add");
    if (connect(c->fd, (struct sockaddr *)&server, sizeof server) != 0 && errno != EINPROGRESS) {
        ended(c, error_name(errno));
    }
}

static void connected(Conn *c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        ended(c, error_name(err));
        return;
    }
    c->state = S_HANDSHAKE;
    unsigned char key[16];
    for (int i = 0; i < 16; i++) key[i] = (unsigned char)(rand() & 0xFF);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char k64[25];
    int j = 0;
    for (int i = 0; i < 15; i += 3) {
        uint32_t v = ((uint32_t)key[i] << 16) | ((uint32_t)key[i + 1] << 8) | key[i + 2];
        k64[j++] = b64[(v >> 18) & 63];
        k64[j++] = b64[(v >> 12) & 63];
        k64[j++] = b64[(v >> 6) & 63];
        k64[j++] = b64[v & 63];
    }
    uint32_t v = (uint32_t)key[15] << 16;
    k64[j++] = b64[(v >> 18) & 63];
    k64[j++] = b64[(v >> 12) & 63];
    k64[j++] = '=';
    k64[j++] = '=';
    k64[j] = 0;
    char req[8192]; /* targets are at most MAX_TARGET bytes (command "v") */
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     c->target, host_header, k64);
    watch(c, 0);
    send_bytes(c, req, (size_t)n);
}

/* ------------------------------------------------------------------ the ops */

static void answer(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void connect_step(void) {
    while (next_new < nconns && handshaking < concurrency) {
        Conn *c = &conns[next_new++];
        if (mono() > op_deadline) { /* never started: as rooms.py names it */
            names_addz(&class_of(c->cls)->connect_errors, "timeout");
            c->state = S_DONE;
            continue;
        }
        start_connect(c);
    }
    int waiting = next_new < nconns || handshaking > 0;
    if (!waiting) {
        for (int i = batch_first; i < nconns; i++) {
            Conn *c = &conns[i];
            if (c->start < 0 && c->state == S_OPEN && !c->closed) {
                waiting = 1;
                break;
            }
        }
    }
    if (waiting && mono() < op_deadline) return;
    /* the deadline: what is still opening failed by timeout */
    for (int i = batch_first; i < nconns; i++) {
        Conn *c = &conns[i];
        if (c->state == S_CONNECTING || c->state == S_HANDSHAKE) ended(c, "TimeoutError");
        else if (c->state == S_NEW) {
            names_addz(&class_of(c->cls)->connect_errors, "timeout");
            c->state = S_DONE;
        }
    }
    next_new = nconns;
    int opened = 0, snaps = 0;
    for (int i = batch_first; i < nconns; i++) {
        opened += conns[i].upgraded;
        snaps += conns[i].start >= 0;
    }
    op = IDLE;
    answer("{\"op\":\"connect\",\"opened\":%d,\"snapshots\":%d,\"all_s\":%.4f}\n", opened, snaps,
           mono() - op_started);
}

static void heap_push(Due d) {
    heap = grow(heap, (size_t)nheap + 1, &capheap, sizeof(Due));
    int i = nheap++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (heap[parent].at <= d.at) break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = d;
}

static void heap_fix_top(void) {
    int i = 0;
    Due d = heap[0];
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        double at = d.at;
        if (l < nheap && heap[l].at < at) m = l;
        if (r < nheap && heap[r].at < (m == i ? at : heap[m].at)) m = r;
        if (m == i) break;
        heap[i] = heap[m];
        i = m;
    }
    heap[i] = d;
}

static void post(int room, double now) {
    Room *r = room_of(room);
    if (!r->count) return;
    Conn *c = &conns[r->viewers[r->turn++ % r->count]];
    serial++; /* an attempt, sent or not, as rooms.py counts them */
    asks = grow(asks, (size_t)serial, &capasks, sizeof(Ask));
    nasks = serial;
    Ask *a = &asks[serial - 1];
    a->open = 0;
    if (c->closed || c->state != S_OPEN) return;
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"type\":\"comment\",\"id\":\"%lld\",\"text\":\"room %d says %lld at %.3f\"}",
                     (long long)serial, room, (long long)serial, now);
    a->sent = wall();
    a->room = room;
    a->conn = (int)(c - conns);
    a->cls = c->cls;
    a->open = 1;
    send_frame(c, OP_TEXT, body, (size_t)n);
    c->inflight++;
    pending_total++;
    Class *k = class_of(c->cls);
    k->pending++;
    k->sent++;
}

static void traffic_step(double now) {
    if (op == TRAFFIC_OP) {
        /* what came due, up to and including the end (as rooms.py counts it): a wake-up after the
         * end still posts what it owes */
        while (nheap && heap[0].at <= now && heap[0].at <= traffic_end) {
            post(heap[0].room, now);
            heap[0].at += heap[0].period;
            heap_fix_top();
        }
        if (now < traffic_end) return;
        traffic_cpu = cpu_now() - cpu_started;
        op = SETTLING_OP;
        op_deadline = now + 10.0;
        nheap = 0;
    }
    if (pending_total && now < op_deadline) return;
    op = IDLE;
    FILE *f = stdout;
    fputs("{\"op\":\"traffic\",", f);
    out_heads(f);
    fprintf(f, ",\"sent\":%lld,\"cpu_s\":%.4f}\n", (long long)serial, traffic_cpu);
    fflush(f);
}

static int behind(int64_t *missing) {
    int n = 0;
    for (int i = 0; i < nconns; i++) {
        Conn *c = &conns[i];
        int64_t head = rooms[c->room].given;
        if (c->live && c->last < head) {
            n++;
            if (missing) *missing += head - c->last;
        }
    }
    return n;
}

static int owed(void) {
    for (int i = 0; i < nconns; i++)
        if (conns[i].live && conns[i].inflight) return 1;
    return 0;
}

static void drain_step(double now) {
    if ((behind(NULL) || owed()) && now < op_deadline) return;
    int64_t missing = 0;
    int late = behind(&missing);
    op = IDLE;
    FILE *f = stdout;
    fprintf(f, "{\"op\":\"drain\",\"behind\":%d,\"missing\":%lld,", late, (long long)missing);
    out_heads(f);
    fputs("}\n", f);
    fflush(f);
}

static void report(void) {
    uint64_t expected[16] = {0}, lost[16] = {0}, viewers[16] = {0}, live[16] = {0};
    for (int i = 0; i < nconns; i++) {
        Conn *c = &conns[i];
        int64_t head = rooms[c->room].given;
        viewers[c->cls]++;
        live[c->cls] += c->live ? 1 : 0;
        if (c->start >= 0) {
            if (head > c->start) expected[c->cls] += (uint64_t)(head - c->start);
            if (head > c->last) lost[c->cls] += (uint64_t)(head - c->last);
        }
    }
    FILE *f = stdout;
    fputs("{\"op\":\"report\",\"classes\":{", f);
    int first = 1;
    for (int k = 0; k < 16; k++) {
        Class *t = &classes[k];
        if (!t->used) continue;
        fprintf(f, "%s\"%d\":{", first ? "" : ",", k);
        first = 0;
        fprintf(f,
                "\"delivered\":%llu,\"duplicated\":%llu,\"gaps\":%llu,\"skipped\":%llu,"
                "\"resets\":%llu,\"frames\":%llu,\"bad_frames\":%llu,\"snapshots\":%llu,"
                "\"max_offset\":%lld,\"unanswered\":%llu,\"expected\":%llu,\"lost\":%llu,"
                "\"viewers\":%llu,\"live\":%llu,\"sent\":{\"comment\":%llu},",
                (unsigned long long)t->delivered, (unsigned long long)t->duplicated,
                (unsigned long long)t->gaps, (unsigned long long)t->skipped,
                (unsigned long long)t->resets, (unsigned long long)t->frames,
                (unsigned long long)t->bad_frames, (unsigned long long)t->snapshots,
                (long long)t->max_offset, (unsigned long long)t->pending,
                (unsigned long long)expected[k], (unsigned long long)lost[k],
                (unsigned long long)viewers[k], (unsigned long long)live[k],
                (unsigned long long)t->sent);
        const char *names[] = {"connect_errors", "closes", "answers", "private"};
        const Names *tables[] = {&t->connect_errors, &t->closes, &t->answers, &t->private_};
        for (int i = 0; i < 4; i++) {
            out_names(f, names[i], tables[i]);
            fputc(',', f);
        }
        const char *hists[] = {"latency", "join_latency", "reply_latency"};
        const Hist *counts[] = {&t->latency, &t->join, &t->reply};
        for (int i = 0; i < 3; i++) {
            out_hist(f, hists[i], counts[i]);
            fputc(i < 2 ? ',' : '}', f);
        }
    }
    fputs("}}\n", f);
    fflush(f);
}

/* ------------------------------------------------------------------ commands */

static void command(char *line) {
    char word[16];
    if (sscanf(line, "%15s", word) != 1) return;
    if (!strcmp(word, "v")) {
        int room, cls, at = 0;
        if (sscanf(line, "v %d %d %n", &room, &cls, &at) != 2 || !at || !line[at] ||
            strlen(line + at) > MAX_TARGET || strchr(line + at, ' ')) {
            fprintf(stderr, "viewers: bad viewer line (a target of at most %d bytes, no spaces): %.200s\n",
                    MAX_TARGET, line);
            exit(2);
        }
        const char *target = line + at;
        conns = grow(conns, (size_t)nconns + 1, &capconns, sizeof(Conn));
        Conn *c = &conns[nconns];
        memset(c, 0, sizeof *c);
        c->fd = -1;
        c->room = room;
        c->cls = cls;
        class_of(cls);
        c->target = strdup(target);
        c->last = -1;
        c->start = -1;
        c->close_code = -1;
        Room *r = room_of(room);
        r->viewers = grow(r->viewers, (size_t)r->count + 1, &r->cap, sizeof(int));
        r->viewers[r->count++] = nconns;
        nconns++;
    } else if (!strcmp(word, "connect")) {
        double timeout;
        if (sscanf(line, "connect %d %lf", &concurrency, &timeout) != 2) exit(2);
        if (concurrency < 1) concurrency = 1;
        batch_first = next_new;
        op_started = mono();
        op_deadline = op_started + timeout;
        op = CONNECTING_OP;
    } else if (!strcmp(word, "pub")) {
        int room;
        double rate;
        if (sscanf(line, "pub %d %lf", &room, &rate) != 2) exit(2);
        room_of(room);
        double period = 1.0 / rate; /* 0 for an infinite rate, inf for one too small: no posts */
        if (rate > 0 && period > 0 && isfinite(period) && rooms[room].count) {
            heap_push((Due){.at = (1.0 - drand48()) * period, .room = room, .period = period});
        }
    } else if (!strcmp(word, "traffic")) {
        double duration;
        if (sscanf(line, "traffic %lf", &duration) != 1) exit(2);
        double start = mono();
        for (int i = 0; i < nheap; i++) heap[i].at += start; /* phases were relative */
        traffic_end = start + duration;
        cpu_started = cpu_now();
        op = TRAFFIC_OP;
    } else if (!strcmp(word, "head")) {
        int room;
        long long head;
        if (sscanf(line, "head %d %lld", &room, &head) != 2) exit(2);
        room_of(room)->given = head;
    } else if (!strcmp(word, "drain")) {
        double timeout;
        if (sscanf(line, "drain %lf", &timeout) != 1) exit(2);
        op_deadline = mono() + timeout;
        op = DRAIN_OP;
    } else if (!strcmp(word, "report")) {
        report();
    } else if (!strcmp(word, "close")) {
        for (int i = 0; i < nconns; i++) {
            Conn *c = &conns[i];
            c->live = 0;
            if (c->fd >= 0) {
                close_conn(c, 1000);
                drop(c);
            }
        }
        answer("{\"op\":\"close\"}\n");
        exit(0);
    } else {
        fprintf(stderr, "viewers: unknown command: %s\n", line);
        exit(2);
    }
}

static char inbuf[1 << 20];
static size_t inlen;

static void read_commands(void) {
    ssize_t n = read(0, inbuf + inlen, sizeof inbuf - 1 - inlen);
    if (n <= 0) exit(n == 0 ? 0 : 2); /* the parent is gone */
    inlen += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < inlen; i++) {
        if (inbuf[i] != '\n') continue;
        inbuf[i] = 0;
        command(inbuf + start);
        start = i + 1;
    }
    memmove(inbuf, inbuf + start, inlen - start);
    inlen -= start;
    if (inlen >= sizeof inbuf - 1) {
        fprintf(stderr, "viewers: command line too long\n");
        exit(2);
    }
}

/* ------------------------------------------------------------------ main */

static void enter_netns(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    if (setns(fd, CLONE_NEWNET) != 0) die("setns");
    close(fd);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *netns = NULL;
    int port = 0, niceness = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--nice")) niceness = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--netns")) netns = argv[i + 1];
        else if (!strcmp(argv[i], "--index")) my_index = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "viewers: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if (!port) {
        fprintf(stderr, "viewers: --port is required\n");
        return 2;
    }
    if (niceness) {
        errno = 0;
        if (nice(niceness) == -1 && errno) die("nice");
    }
    if (netns) enter_netns(netns);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    memset(&server, 0, sizeof server);
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1) {
        fprintf(stderr, "viewers: --host must be an IPv4 address\n");
        return 2;
    }
    snprintf(host_header, sizeof host_header, "%s:%d", host, port);
    srand48(my_index + 1);
    srand((unsigned)(my_index + 1) * 2654435761u);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event in = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in) != 0) die("epoll_ctl stdin");
    errno = 0;
    answer("{\"op\":\"ready\",\"nice\":%d}\n", getpriority(PRIO_PROCESS, 0));

    static struct epoll_event evs[1024];
    for (;;) {
        int timeout = -1;
        double now = mono();
        if (op == TRAFFIC_OP && nheap) {
            double wait = heap[0].at - now;
            if (traffic_end - now < wait) wait = traffic_end - now;
            if (wait > 0.01) wait = 0.01;
            timeout = wait > 0 ? (int)ceil(wait * 1000) : 0;
        } else if (op == TRAFFIC_OP) {
            double wait = traffic_end - now;
            timeout = wait > 0 ? (int)ceil((wait < 0.05 ? wait : 0.05) * 1000) : 0;
        } else if (op == CONNECTING_OP) {
            timeout = 20;
        } else if (op == SETTLING_OP) {
            timeout = 50;
        } else if (op == DRAIN_OP) {
            timeout = 100;
        }
        int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            uint32_t tag = evs[i].data.u32;
            if (tag == STDIN_TAG) {
                read_commands();
                continue;
            }
            Conn *c = &conns[tag];
            if (c->fd < 0) continue;
            uint32_t what = evs[i].events;
            if (c->state == S_CONNECTING) {
                if (what & (EPOLLOUT | EPOLLERR | EPOLLHUP)) connected(c);
                continue;
            }
            if ((what & EPOLLOUT) && c->outlen) flush_out(c);
            if (c->fd >= 0 && (what & (EPOLLIN | EPOLLERR | EPOLLHUP))) readable(c);
        }
        now = mono();
        if (op == CONNECTING_OP) connect_step();
        else if (op == TRAFFIC_OP || op == SETTLING_OP) traffic_step(now);
        else if (op == DRAIN_OP) drain_step(now);
    }
}

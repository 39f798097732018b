/*
 * local.c - local (AF_UNIX) sockets (cio/local.h): what the local protocols
 * add to the socket every object embeds (cio/socket.h), over the shared
 * socket operations of socket.c.
 *
 * The four object types share one set of helpers over struct cio_socket,
 * given the socket type (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET); each
 * public function is a thin wrapper that reports under its own name. A
 * stream's reads and writes are socket.c's transfers, as TCP's are. Every
 * message transfer (datagram and seqpacket, and whatever carries a name or
 * descriptors) is socket.c's message core: synchronously cio__socket_message
 * over a msghdr on the stack, asynchronously a local_op (a cio__msg_op with
 * the storage its name and control data point into) whose finish step turns
 * the kernel's result into the caller's (truncation, eof, the sender, the
 * descriptors received) or, when the op is destroyed without running,
 * closes the descriptors it received.
 *
 * A receive that may meet descriptors or message boundaries runs in
 * CIO__MSG_DATAGRAM mode even on a stream: Linux ends a stream's recvmsg at
 * the bytes descriptors came with, so a short read there says nothing of
 * what is queued behind (the readiness cache must not be cleared), and the
 * finish step restores eof for a stream's or seqpacket's 0 bytes.
 *
 * Order: the endpoint; the shared helpers (life cycle, names, message
 * transfers, descriptors); the stream socket; the stream acceptor; the
 * datagram socket; the seqpacket socket and acceptor.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SO_PEERCRED, struct ucred, MSG_CMSG_CLOEXEC */
#endif

#include "cio/local.h"

#include "cio/executor.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core/op.h"
#include "core/report.h"
#include "core/syscall.h"
#include "net/socket.h"

/* ---- The endpoint. ---- */

/* The offset of the name in a sockaddr_un: an unnamed endpoint's length. */
#define LOCAL_NAME_OFFSET ((socklen_t)offsetof(struct sockaddr_un, sun_path))

static cio_error local_endpoint_fill(struct cio_local_endpoint *out, const void *name, size_t len,
                                     bool abstract)
{
    size_t room = sizeof out->addr.sun_path - 1;
    if (len > room)
        return cio_error_system(ENAMETOOLONG);
    memset(out, 0, sizeof *out);
    out->addr.sun_family = AF_UNIX;
    if (len)
        memcpy(out->addr.sun_path + abstract, name, len);
    /* A path's length counts its terminator; an abstract name's its NUL. */
    out->len = LOCAL_NAME_OFFSET + (socklen_t)(len ? len + 1 : abstract);
    return cio_error_none();
}

int cio_local_endpoint_make(const char *path, struct cio_local_endpoint *out, cio_error *ec)
{
    if (!path || !out)
        return cio__report(ec, __func__, cio_error_system(EINVAL));
    size_t len = strnlen(path, sizeof out->addr.sun_path);
    return cio__report(ec, __func__, local_endpoint_fill(out, path, len, false));
}

int cio_local_endpoint_make_abstract(const void *name, size_t len, struct cio_local_endpoint *out,
                                     cio_error *ec)
{
    if (!out || (!name && len))
        return cio__report(ec, __func__, cio_error_system(EINVAL));
    return cio__report(ec, __func__, local_endpoint_fill(out, name, len, true));
}

bool cio_local_endpoint_is_abstract(const struct cio_local_endpoint *ep)
{
    return ep && ep->len > LOCAL_NAME_OFFSET && ep->addr.sun_path[0] == '\0';
}

const char *cio_local_endpoint_path(const struct cio_local_endpoint *ep)
{
    if (!ep)
        return NULL;
    if (ep->len <= LOCAL_NAME_OFFSET || ep->addr.sun_path[0] == '\0')
        return "";
    size_t room = sizeof ep->addr.sun_path;
    return memchr(ep->addr.sun_path, '\0', room) ? ep->addr.sun_path : NULL;
}

/* A name the kernel gave (len bytes at addr) as an endpoint. */
static void local_endpoint_store(struct cio_local_endpoint *out, const struct sockaddr_un *addr,
                                 socklen_t len)
{
    memset(out, 0, sizeof *out);
    if (len > sizeof out->addr)
        len = sizeof out->addr;
    memcpy(&out->addr, addr, len);
    out->addr.sun_family = AF_UNIX;
    out->len = len < sizeof(sa_family_t) ? (socklen_t)sizeof(sa_family_t) : len;
}

/* The length of ep the kernel may be given, or 0 for a NULL ep or one whose
 * length is out of range or whose family is not AF_UNIX (a caller's struct
 * filled by hand: a connect would open a socket of that family). */
static socklen_t local_endpoint_len(const struct cio_local_endpoint *ep)
{
    if (!ep || ep->len < sizeof(sa_family_t) || ep->len > sizeof ep->addr ||
        ep->addr.sun_family != AF_UNIX)
        return 0;
    return ep->len;
}

/* ---- Shared helpers: life cycle. ---- */

static cio_error local_null_or(const struct cio_socket *s, cio_error e)
{
    return s ? e : cio__null_object();
}

static void local_init(struct cio_socket *s, cio_executor ex, const char *operation)
{
    cio__socket_object_init(s, ex, operation);
}

static cio_error local_open(struct cio_socket *s, int type)
{
    if (!s)
        return cio__null_object();
    return cio__socket_open(s->ctx, &s->impl_, AF_UNIX, type, 0);
}

static cio_error local_assign(struct cio_socket *s, int fd)
{
    if (!s)
        return cio__null_object();
    if (s->impl_.slot) /* already_open comes before anything about fd */
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    cio_error e = cio__fd_check(fd, true);
    if (cio_failed(e))
        return e;
    return cio__socket_assign(s->ctx, &s->impl_, AF_UNIX, fd);
}

static cio_error local_bind(struct cio_socket *s, const struct cio_local_endpoint *ep)
{
    if (!s)
        return cio__null_object();
    if (!local_endpoint_len(ep))
        return cio_error_system(s->impl_.slot ? EINVAL : EBADF);
    return cio__socket_bind_addr(&s->impl_, (const struct sockaddr *)&ep->addr, ep->len);
}

static cio_error local_connect(struct cio_socket *s, const struct cio_local_endpoint *ep, int type)
{
    if (!s)
        return cio__null_object();
    if (!local_endpoint_len(ep))
        return cio_error_system(EINVAL);
    return cio__socket_connect_addr(s->ctx, &s->impl_, (const struct sockaddr *)&ep->addr, ep->len,
                                    type, 0);
}

static void local_async_connect(struct cio_socket *s, const struct cio_local_endpoint *ep, int type,
                                cio_handler h, const char *operation)
{
    if (!s) {
        cio_throw(operation, cio__null_object());
        return;
    }
    const struct sockaddr *sa = ep ? (const struct sockaddr *)&ep->addr : NULL;
    cio__socket_async_connect_addr(s->ctx, &s->impl_, sa, local_endpoint_len(ep), type, 0, h,
                                   operation);
}

static cio_error local_pair(struct cio_socket *a, struct cio_socket *b, int type)
{
    if (!a || !b)
        return cio__null_object();
    return cio__socket_pair(a->ctx, &a->impl_, b->ctx, &b->impl_, AF_UNIX, type, 0);
}

static cio_error local_listen_at(struct cio_socket *a, const struct cio_local_endpoint *ep,
                                 int type)
{
    if (!a)
        return cio__null_object();
    if (!local_endpoint_len(ep))
        return cio_error_system(EINVAL);
    cio_error e = cio__socket_open(a->ctx, &a->impl_, AF_UNIX, type, 0);
    if (cio_failed(e))
        return e;
    e = local_bind(a, ep);
    if (!cio_failed(e))
        e = cio__socket_listen(&a->impl_, SOMAXCONN);
    if (cio_failed(e))
        cio__socket_close(a->ctx, &a->impl_);
    return e;
}

static cio_error local_accept(struct cio_socket *a, struct cio_socket *peer)
{
    if (!a)
        return cio__null_object();
    return cio__socket_accept(&a->impl_, peer ? peer->ctx : NULL, peer ? &peer->impl_ : NULL, NULL);
}

static void local_async_accept(struct cio_socket *a, struct cio_socket *peer, cio_handler h,
                               const char *operation)
{
    if (!a) {
        cio_throw(operation, cio__null_object());
        return;
    }
    cio__socket_async_accept(a->ctx, &a->impl_, peer ? peer->ctx : NULL, peer ? &peer->impl_ : NULL,
                             NULL, h, operation);
}

/* ---- Shared helpers: names and credentials. ---- */

static cio_error local_name(const struct cio_socket *s, bool peer, struct cio_local_endpoint *out)
{
    if (!s)
        return cio__null_object();
    if (!out)
        return cio_error_system(s->impl_.slot ? EINVAL : EBADF);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    socklen_t len = sizeof addr;
    cio_error e = cio__socket_name(&s->impl_, peer, (struct sockaddr *)&addr, &len);
    if (!cio_failed(e))
        local_endpoint_store(out, &addr, len);
    return e;
}

static cio_error local_credentials(const struct cio_socket *s, struct cio_local_credentials *out)
{
    if (!s)
        return cio__null_object();
    if (!out)
        return cio_error_system(s->impl_.slot ? EINVAL : EBADF);
    struct ucred cred;
    memset(&cred, 0, sizeof cred);
    socklen_t len = sizeof cred;
    cio_error e = cio__socket_get_option(&s->impl_, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    if (cio_failed(e))
        return e;
    /* Linux gives an unconnected socket pid 0 and ids of -1 (overflow ids). */
    if (cred.pid == 0)
        return cio_error_system(ENOTCONN);
    *out = (struct cio_local_credentials){cred.pid, cred.uid, cred.gid};
    return cio_error_none();
}

/* ---- Shared helpers: descriptors and control data. ---- */

/* Room for the control data of the most descriptors one transfer carries,
 * aligned for a struct cmsghdr. */
union local_control {
    struct cmsghdr align;
    unsigned char bytes[CMSG_SPACE(sizeof(int) * CIO_LOCAL_MAX_FDS)];
};

/* What a receive asks for beside its bytes. */
struct local_recv {
    struct cio_local_endpoint *sender; /* the caller's, or NULL: the sender's name */
    int *fds;                          /* the caller's array (NULL when max_fds is 0) */
    size_t max_fds;                    /* its room */
    size_t *nfds;                      /* the caller's, or NULL: how many fds holds */
    bool takes_fds;                    /* a receive_with_fds: descriptors are taken, and
                                          more than max_fds is message_size */
    bool eof_on_zero;                  /* a stream or seqpacket: 0 bytes is the peer's close */
};

/* Checks a descriptor count for a transfer's control data. */
static cio_error local_check_fds(const void *fds, size_t nfds)
{
    if (nfds > CIO_LOCAL_MAX_FDS || (!fds && nfds))
        return cio_error_system(EINVAL);
    return cio_error_none();
}

/* Points m's control data at c, holding the nfds descriptors at fds. */
static void local_put_fds(struct msghdr *m, union local_control *c, const int *fds, size_t nfds)
{
    if (!nfds)
        return;
    memset(c, 0, sizeof *c);
    m->msg_control = c->bytes;
    m->msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *h = CMSG_FIRSTHDR(m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
}

/* Takes the descriptors of m's SCM_RIGHTS control messages: the first room
 * of them into fds (none for a NULL fds), closing the rest. Returns how many
 * it stored; *lost says some did not fit (closed, or cut off: MSG_CTRUNC). */
static size_t local_take_fds(struct msghdr *m, int *fds, size_t room, bool *lost)
{
    size_t stored = 0;
    *lost = (m->msg_flags & MSG_CTRUNC) != 0;
    if (!m->msg_control)
        return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
            if (fds && stored < room) {
                fds[stored++] = fd;
                continue;
            }
            cio__sys.close(fd);
            *lost = true;
        }
    }
    return stored;
}

/* What a finished recvmsg m (result e, n bytes of `asked`) comes to for the
 * caller of rq: the descriptors delivered (when deliver and e is success)
 * or closed, the sender stored, and the result: eof, message_size or e. */
static cio_error local_recv_result(const struct local_recv *rq, struct msghdr *m, cio_error e,
                                   size_t n, size_t asked)
{
    bool lost = false;
    size_t got = local_take_fds(m, cio_failed(e) ? NULL : rq->fds, rq->max_fds, &lost);
    if (rq->nfds)
        *rq->nfds = got;
    if (cio_failed(e))
        return e;
    if (rq->sender)
        local_endpoint_store(rq->sender, m->msg_name, m->msg_namelen);
    if (rq->eof_on_zero && n == 0 && asked > 0)
        return cio_error_misc(CIO_MISC_EOF);
    if ((m->msg_flags & MSG_TRUNC) || (rq->takes_fds && lost))
        return cio_error_system(EMSGSIZE);
    return cio_error_none();
}

/* The recvmsg flags of a receive: received descriptors are close-on-exec. */
static int local_recv_flags(const struct local_recv *rq)
{
    return rq->takes_fds ? MSG_CMSG_CLOEXEC : 0;
}

/* Checks what a transfer asks beside its socket: a buffer, descriptors, and
 * at least one byte on a stream when descriptors may go with it. */
static cio_error local_check_transfer(const void *buf, size_t len, const void *fds, size_t nfds,
                                      bool with_fds, int type)
{
    if (!buf && len)
        return cio_error_system(EINVAL);
    if (!with_fds)
        return cio_error_none();
    if (type == SOCK_STREAM && len == 0)
        return cio_error_system(EINVAL);
    return local_check_fds(fds, nfds);
}

/* Checks a send: its transfer, and its destination when it has one. */
static cio_error local_check_send(const void *buf, size_t len, const struct cio_local_endpoint *to,
                                  const int *fds, size_t nfds, bool with_fds, int type)
{
    cio_error e = local_check_transfer(buf, len, fds, nfds, with_fds, type);
    if (!cio_failed(e) && to && !local_endpoint_len(to))
        e = cio_error_system(EINVAL);
    return e;
}

/* A send's message mode: a stream's send may be short, a message's may not. */
static unsigned local_send_mode(int type)
{
    return CIO__MSG_SEND | (type == SOCK_STREAM ? 0 : CIO__MSG_DATAGRAM);
}

/* Points m (its buffers set) at what a send gives beside its bytes: the
 * destination to (copied into *name) and the nfds descriptors (into *c). */
static void local_send_msg(struct msghdr *m, const struct cio_local_endpoint *to,
                           struct sockaddr_un *name, union local_control *c, const int *fds,
                           size_t nfds)
{
    if (to) {
        memcpy(name, &to->addr, to->len);
        m->msg_name = name;
        m->msg_namelen = to->len;
    }
    local_put_fds(m, c, fds, nfds);
}

/* Points m (its buffers set) at the storage a receive of rq fills: *name
 * for the sender's name, *c (zeroed) for control data. */
static void local_recv_msg(struct msghdr *m, const struct local_recv *rq, struct sockaddr_un *name,
                           union local_control *c)
{
    if (rq->sender) {
        m->msg_name = name;
        m->msg_namelen = sizeof *name;
    }
    if (rq->takes_fds) {
        memset(c, 0, sizeof *c);
        m->msg_control = c->bytes;
        m->msg_controllen = sizeof c->bytes;
    }
}

/* ---- Shared helpers: synchronous message transfers. ---- */

/* Sends buf (len bytes) as one sendmsg, to `to` when not NULL, with nfds
 * descriptors. type says the socket's (a stream's send may be short). */
static cio_error local_send_sync(struct cio_socket *s, const void *buf, size_t len,
                                 const struct cio_local_endpoint *to, const int *fds, size_t nfds,
                                 bool with_fds, int type, size_t *n)
{
    *n = 0;
    if (!s)
        return cio__null_object();
    if (!s->impl_.slot)
        return cio_error_system(EBADF);
    cio_error e = local_check_send(buf, len, to, fds, nfds, with_fds, type);
    if (cio_failed(e))
        return e;
    struct iovec v = {cio__send_buffer(buf), len};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
    struct sockaddr_un name;
    union local_control c;
    local_send_msg(&m, to, &name, &c, fds, nfds);
    return cio__socket_message(&s->impl_, &m, 0, local_send_mode(type), n);
}

/* Receives into buf (len bytes) as one recvmsg, with what rq asks. */
static cio_error local_recv_sync(struct cio_socket *s, void *buf, size_t len,
                                 const struct local_recv *rq, int type, size_t *n)
{
    *n = 0;
    if (rq->nfds)
        *rq->nfds = 0;
    if (!s)
        return cio__null_object();
    if (!s->impl_.slot)
        return cio_error_system(EBADF);
    cio_error e = local_check_transfer(buf, len, rq->fds, rq->max_fds, rq->takes_fds, type);
    if (cio_failed(e))
        return e;
    struct iovec v = {buf, len};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
    struct sockaddr_un name;
    union local_control c;
    local_recv_msg(&m, rq, &name, &c);
    e = cio__socket_message(&s->impl_, &m, local_recv_flags(rq), CIO__MSG_DATAGRAM, n);
    e = local_recv_result(rq, &m, e, *n, len);
    if (cio_failed(e) && !cio_error_equal(e, cio_error_system(EMSGSIZE)))
        *n = 0;
    return e;
}

/* ---- Shared helpers: asynchronous message transfers. ---- */

/* A local message transfer in flight. */
struct local_op {
    struct cio__msg_op msg;      /* must be first */
    struct local_recv rq;        /* a receive's outputs (all NULL for a send) */
    struct sockaddr_un name;     /* the name sent to, or the sender's */
    union local_control control; /* descriptors sent or received */
};

_Static_assert(sizeof(struct local_op) <= CIO__OP_CACHE_MAX,
               "a local op comes from the per-thread cache");

/* A receive's finish step: the result for the handler, or (no ctx: the op
 * is destroyed without running) the release of the descriptors it got. */
static void local_recv_finish(struct cio_context *ctx, struct cio__msg_op *base)
{
    struct local_op *op = (struct local_op *)base;
    struct cio__op *o = &base->io.base;
    if (!ctx) {
        bool lost = false;
        local_take_fds(&base->msg, NULL, 0, &lost);
        return;
    }
    o->ec = local_recv_result(&op->rq, &base->msg, o->ec, o->n, base->io.len);
    if (cio_failed(o->ec) && !cio_error_equal(o->ec, cio_error_system(EMSGSIZE)))
        o->n = 0;
}

/* Allocates a local op over buf (len bytes), or posts the failure (or
 * raises it) and returns NULL. */
static struct local_op *local_op_new(struct cio_socket *s, void *buf, size_t len, cio_error bad,
                                     unsigned mode, cio_handler h, cio__msg_finish_fn finish,
                                     int flags, const char *operation)
{
    if (!s) {
        cio_throw(operation, cio__null_object());
        return NULL;
    }
    cio_mutable_buffer one = {buf, len};
    bool closed = !s->impl_.slot;
    if (!closed && cio_failed(bad)) {
        if (s->ctx && h.fn)
            cio__socket_post(s->ctx, &s->impl_, h, bad, operation);
        else
            cio_throw(operation, cio_error_system(EINVAL));
        return NULL;
    }
    /* A closed socket is bad_descriptor: cio__socket_msg_op_new posts it. */
    struct cio__msg_op *m = cio__socket_msg_op_new(s->ctx, &s->impl_, sizeof(struct local_op), &one,
                                                   1, flags, mode, h, finish, operation);
    if (!m)
        return NULL;
    struct local_op *op = (struct local_op *)m;
    memset(&op->rq, 0, sizeof op->rq);
    return op;
}

static void local_send_async(struct cio_socket *s, const void *buf, size_t len,
                             const struct cio_local_endpoint *to, const int *fds, size_t nfds,
                             bool with_fds, int type, cio_handler h, const char *operation)
{
    cio_error bad = local_check_send(buf, len, to, fds, nfds, with_fds, type);
    struct local_op *op = local_op_new(s, cio__send_buffer(buf), len, bad, local_send_mode(type), h,
                                       NULL, 0, operation);
    if (!op)
        return;
    local_send_msg(&op->msg.msg, to, &op->name, &op->control, fds, nfds);
    cio__socket_msg_start(s->ctx, &s->impl_, &op->msg);
}

static void local_recv_async(struct cio_socket *s, void *buf, size_t len,
                             const struct local_recv *rq, int type, cio_handler h,
                             const char *operation)
{
    /* 0 until the op says otherwise: a failure posted at once is 0 too. */
    if (rq->nfds)
        *rq->nfds = 0;
    cio_error bad = local_check_transfer(buf, len, rq->fds, rq->max_fds, rq->takes_fds, type);
    struct local_op *op = local_op_new(s, buf, len, bad, CIO__MSG_DATAGRAM, h, local_recv_finish,
                                       local_recv_flags(rq), operation);
    if (!op)
        return;
    op->rq = *rq;
    local_recv_msg(&op->msg.msg, rq, &op->name, &op->control);
    cio__socket_msg_start(s->ctx, &s->impl_, &op->msg);
}

/* The request of a receive of descriptors (eof_on_zero for a connection). */
static struct local_recv local_fds_request(int *fds, size_t max_fds, size_t *nfds, int type)
{
    return (struct local_recv){.fds = fds,
                               .max_fds = max_fds,
                               .nfds = nfds,
                               .takes_fds = true,
                               .eof_on_zero = type != SOCK_DGRAM};
}

/* A receive's byte count, reported under operation. */
static size_t local_report_n(cio_error *ec, const char *operation, cio_error e, size_t n)
{
    cio__report(ec, operation, e);
    return n;
}

/* ---- The stream socket. ---- */

#define LOCAL_STREAM(s) ((s) ? &(s)->socket : NULL)

void cio_local_stream_socket_init(struct cio_local_stream_socket *s, struct cio_context *ctx)
{
    local_init(LOCAL_STREAM(s), cio_context_executor(ctx), __func__);
}

void cio_local_stream_socket_init_executor(struct cio_local_stream_socket *s, cio_executor ex)
{
    local_init(LOCAL_STREAM(s), ex, __func__);
}

int cio_local_stream_socket_open(struct cio_local_stream_socket *s, cio_error *ec)
{
    return cio__report(ec, __func__, local_open(LOCAL_STREAM(s), SOCK_STREAM));
}

int cio_local_stream_socket_assign(struct cio_local_stream_socket *s, int fd, cio_error *ec)
{
    return cio__report(ec, __func__, local_assign(LOCAL_STREAM(s), fd));
}

int cio_local_stream_socket_bind(struct cio_local_stream_socket *s,
                                 const struct cio_local_endpoint *ep, cio_error *ec)
{
    return cio__report(ec, __func__, local_bind(LOCAL_STREAM(s), ep));
}

int cio_local_stream_socket_connect(struct cio_local_stream_socket *s,
                                    const struct cio_local_endpoint *ep, cio_error *ec)
{
    return cio__report(ec, __func__, local_connect(LOCAL_STREAM(s), ep, SOCK_STREAM));
}

void cio_local_stream_socket_async_connect(struct cio_local_stream_socket *s,
                                           const struct cio_local_endpoint *ep, cio_handler h)
{
    local_async_connect(LOCAL_STREAM(s), ep, SOCK_STREAM, h, __func__);
}

int cio_local_stream_socket_local_endpoint(const struct cio_local_stream_socket *s,
                                           struct cio_local_endpoint *out, cio_error *ec)
{
    return cio__report(ec, __func__, local_name(s ? &s->socket : NULL, false, out));
}

int cio_local_stream_socket_remote_endpoint(const struct cio_local_stream_socket *s,
                                            struct cio_local_endpoint *out, cio_error *ec)
{
    return cio__report(ec, __func__, local_name(s ? &s->socket : NULL, true, out));
}

int cio_local_stream_socket_peer_credentials(const struct cio_local_stream_socket *s,
                                             struct cio_local_credentials *out, cio_error *ec)
{
    return cio__report(ec, __func__, local_credentials(s ? &s->socket : NULL, out));
}

int cio_local_stream_connect_pair(struct cio_local_stream_socket *a,
                                  struct cio_local_stream_socket *b, cio_error *ec)
{
    return cio__report(ec, __func__, local_pair(LOCAL_STREAM(a), LOCAL_STREAM(b), SOCK_STREAM));
}

size_t cio_local_stream_socket_read_some(struct cio_local_stream_socket *s, void *buf, size_t len,
                                         cio_error *ec)
{
    size_t n = 0;
    cio_error e = s ? cio__socket_recv(&s->socket.impl_, buf, len, 0, &n) : cio__null_object();
    return local_report_n(ec, __func__, e, n);
}

size_t cio_local_stream_socket_write_some(struct cio_local_stream_socket *s, const void *buf,
                                          size_t len, cio_error *ec)
{
    size_t n = 0;
    cio_error e = s ? cio__socket_send(&s->socket.impl_, buf, len, 0, &n) : cio__null_object();
    return local_report_n(ec, __func__, e, n);
}

/* The start of a stream read or write off the inline path. */
static void __attribute__((noinline))
local_transfer_checked(struct cio_local_stream_socket *s, void *buf, size_t len, cio_handler h,
                       enum cio__io_kind kind)
{
    const char *operation = kind == CIO__IO_SEND ? "cio_local_stream_socket_async_write_some"
                                                 : "cio_local_stream_socket_async_read_some";
    if (!s)
        cio_throw(operation, cio__null_object());
    else
        cio__socket_start_transfer_checked(s->socket.ctx, &s->socket.impl_, buf, len, 0, h, kind,
                                           operation);
}

void cio_local_stream_socket_async_read_some(struct cio_local_stream_socket *s, void *buf,
                                             size_t len, cio_handler h)
{
    if (!s ||
        !cio__socket_start_transfer(s->socket.ctx, &s->socket.impl_, buf, len, 0, h, CIO__IO_RECV))
        local_transfer_checked(s, buf, len, h, CIO__IO_RECV);
}

void cio_local_stream_socket_async_write_some(struct cio_local_stream_socket *s, const void *buf,
                                              size_t len, cio_handler h)
{
    void *out = cio__send_buffer(buf);
    if (!s ||
        !cio__socket_start_transfer(s->socket.ctx, &s->socket.impl_, out, len, 0, h, CIO__IO_SEND))
        local_transfer_checked(s, out, len, h, CIO__IO_SEND);
}

static size_t local_buffers_sync(struct cio_local_stream_socket *s, const void *bufs, size_t count,
                                 enum cio__io_kind kind, cio_error *ec, const char *operation)
{
    size_t n = 0;
    cio_error e = s ? cio__socket_transfer_buffers(&s->socket.impl_, bufs, count, 0, kind, &n)
                    : cio__null_object();
    return local_report_n(ec, operation, e, n);
}

size_t cio_local_stream_socket_read_some_buffers(struct cio_local_stream_socket *s,
                                                 const cio_mutable_buffer *bufs, size_t count,
                                                 cio_error *ec)
{
    return local_buffers_sync(s, bufs, count, CIO__IO_RECV, ec, __func__);
}

size_t cio_local_stream_socket_write_some_buffers(struct cio_local_stream_socket *s,
                                                  const cio_const_buffer *bufs, size_t count,
                                                  cio_error *ec)
{
    return local_buffers_sync(s, bufs, count, CIO__IO_SEND, ec, __func__);
}

static void local_buffers_async(struct cio_local_stream_socket *s, const void *bufs, size_t count,
                                cio_handler h, enum cio__io_kind kind, const char *operation)
{
    if (!s)
        cio_throw(operation, cio__null_object());
    else
        cio__socket_start_buffers(s->socket.ctx, &s->socket.impl_, bufs, count, 0, h, kind,
                                  operation);
}

void cio_local_stream_socket_async_read_some_buffers(struct cio_local_stream_socket *s,
                                                     const cio_mutable_buffer *bufs, size_t count,
                                                     cio_handler h)
{
    local_buffers_async(s, bufs, count, h, CIO__IO_RECV, __func__);
}

void cio_local_stream_socket_async_write_some_buffers(struct cio_local_stream_socket *s,
                                                      const cio_const_buffer *bufs, size_t count,
                                                      cio_handler h)
{
    local_buffers_async(s, bufs, count, h, CIO__IO_SEND, __func__);
}

static size_t local_stream_read(void *obj, const cio_mutable_buffer *bufs, size_t count,
                                cio_error *ec)
{
    return cio_local_stream_socket_read_some_buffers(obj, bufs, count, ec);
}

static size_t local_stream_write(void *obj, const cio_const_buffer *bufs, size_t count,
                                 cio_error *ec)
{
    return cio_local_stream_socket_write_some_buffers(obj, bufs, count, ec);
}

static void local_stream_async_read(void *obj, const cio_mutable_buffer *bufs, size_t count,
                                    cio_handler h)
{
    cio_local_stream_socket_async_read_some_buffers(obj, bufs, count, h);
}

static void local_stream_async_write(void *obj, const cio_const_buffer *bufs, size_t count,
                                     cio_handler h)
{
    cio_local_stream_socket_async_write_some_buffers(obj, bufs, count, h);
}

static cio_executor local_stream_executor(const void *obj)
{
    return cio_socket_executor(&((const struct cio_local_stream_socket *)obj)->socket);
}

static const struct cio_stream_ops local_stream_ops = {
    .read_some = local_stream_read,
    .write_some = local_stream_write,
    .async_read_some = local_stream_async_read,
    .async_write_some = local_stream_async_write,
    .executor = local_stream_executor,
};

cio_stream cio_local_stream_socket_stream(struct cio_local_stream_socket *s)
{
    return cio_stream_make(&local_stream_ops, s);
}

size_t cio_local_stream_socket_send_with_fds(struct cio_local_stream_socket *s, const void *buf,
                                             size_t len, const int *fds, size_t nfds, cio_error *ec)
{
    size_t n = 0;
    cio_error e =
        local_send_sync(LOCAL_STREAM(s), buf, len, NULL, fds, nfds, true, SOCK_STREAM, &n);
    return local_report_n(ec, __func__, e, n);
}

void cio_local_stream_socket_async_send_with_fds(struct cio_local_stream_socket *s, const void *buf,
                                                 size_t len, const int *fds, size_t nfds,
                                                 cio_handler h)
{
    local_send_async(LOCAL_STREAM(s), buf, len, NULL, fds, nfds, true, SOCK_STREAM, h, __func__);
}

size_t cio_local_stream_socket_receive_with_fds(struct cio_local_stream_socket *s, void *buf,
                                                size_t len, int *fds, size_t max_fds, size_t *nfds,
                                                cio_error *ec)
{
    size_t n = 0;
    struct local_recv rq = local_fds_request(fds, max_fds, nfds, SOCK_STREAM);
    cio_error e = local_recv_sync(LOCAL_STREAM(s), buf, len, &rq, SOCK_STREAM, &n);
    return local_report_n(ec, __func__, e, n);
}

void cio_local_stream_socket_async_receive_with_fds(struct cio_local_stream_socket *s, void *buf,
                                                    size_t len, int *fds, size_t max_fds,
                                                    size_t *nfds, cio_handler h)
{
    struct local_recv rq = local_fds_request(fds, max_fds, nfds, SOCK_STREAM);
    local_recv_async(LOCAL_STREAM(s), buf, len, &rq, SOCK_STREAM, h, __func__);
}

/* ---- The stream acceptor. ---- */

#define LOCAL_ACCEPTOR(a) ((a) ? &(a)->socket : NULL)

void cio_local_stream_acceptor_init(struct cio_local_stream_acceptor *a, struct cio_context *ctx)
{
    local_init(LOCAL_ACCEPTOR(a), cio_context_executor(ctx), __func__);
}

void cio_local_stream_acceptor_init_executor(struct cio_local_stream_acceptor *a, cio_executor ex)
{
    local_init(LOCAL_ACCEPTOR(a), ex, __func__);
}

int cio_local_stream_acceptor_open(struct cio_local_stream_acceptor *a, cio_error *ec)
{
    return cio__report(ec, __func__, local_open(LOCAL_ACCEPTOR(a), SOCK_STREAM));
}

int cio_local_stream_acceptor_assign(struct cio_local_stream_acceptor *a, int fd, cio_error *ec)
{
    return cio__report(ec, __func__, local_assign(LOCAL_ACCEPTOR(a), fd));
}

int cio_local_stream_acceptor_bind(struct cio_local_stream_acceptor *a,
                                   const struct cio_local_endpoint *ep, cio_error *ec)
{
    return cio__report(ec, __func__, local_bind(LOCAL_ACCEPTOR(a), ep));
}

int cio_local_stream_acceptor_listen(struct cio_local_stream_acceptor *a, int backlog,
                                     cio_error *ec)
{
    cio_error e = a ? cio__socket_listen(&a->socket.impl_, backlog) : cio__null_object();
    return cio__report(ec, __func__, e);
}

int cio_local_stream_acceptor_listen_at(struct cio_local_stream_acceptor *a,
                                        const struct cio_local_endpoint *ep, cio_error *ec)
{
    return cio__report(ec, __func__, local_listen_at(LOCAL_ACCEPTOR(a), ep, SOCK_STREAM));
}

int cio_local_stream_acceptor_local_endpoint(const struct cio_local_stream_acceptor *a,
                                             struct cio_local_endpoint *out, cio_error *ec)
{
    return cio__report(ec, __func__, local_name(a ? &a->socket : NULL, false, out));
}

int cio_local_stream_acceptor_accept(struct cio_local_stream_acceptor *a,
                                     struct cio_local_stream_socket *peer, cio_error *ec)
{
    return cio__report(ec, __func__, local_accept(LOCAL_ACCEPTOR(a), LOCAL_STREAM(peer)));
}

void cio_local_stream_acceptor_async_accept(struct cio_local_stream_acceptor *a,
                                            struct cio_local_stream_socket *peer, cio_handler h)
{
    local_async_accept(LOCAL_ACCEPTOR(a), LOCAL_STREAM(peer), h, __func__);
}

/* ---- The datagram socket. ---- */

#define LOCAL_DGRAM(s) ((s) ? &(s)->socket : NULL)

void cio_local_datagram_socket_init(struct cio_local_datagram_socket *s, struct cio_context *ctx)
{
    local_init(LOCAL_DGRAM(s), cio_context_executor(ctx), __func__);
}

void cio_local_datagram_socket_init_executor(struct cio_local_datagram_socket *s, cio_executor ex)
{
    local_init(LOCAL_DGRAM(s), ex, __func__);
}

int cio_local_datagram_socket_open(struct cio_local_datagram_socket *s, cio_error *ec)
{
    return cio__report(ec, __func__, local_open(LOCAL_DGRAM(s), SOCK_DGRAM));
}

int cio_local_datagram_socket_assign(struct cio_local_datagram_socket *s, int fd, cio_error *ec)
{
    return cio__report(ec, __func__, local_assign(LOCAL_DGRAM(s), fd));
}

int cio_local_datagram_socket_bind(struct cio_local_datagram_socket *s,
                                   const struct cio_local_endpoint *ep, cio_error *ec)
{
    return cio__report(ec, __func__, local_bind(LOCAL_DGRAM(s), ep));
}

int cio_local_datagram_socket_connect(struct cio_local_datagram_socket *s,
                                      const struct cio_local_endpoint *ep, cio_error *ec)
{
    return cio__report(ec, __func__, local_connect(LOCAL_DGRAM(s), ep, SOCK_DGRAM));
}

int cio_local_datagram_socket_local_endpoint(const struct cio_local_datagram_socket *s,
                                             struct cio_local_endpoint *out, cio_error *ec)
{
    return cio__report(ec, __func__, local_name(s ? &s->socket : NULL, false, out));
}

int cio_local_datagram_socket_remote_endpoint(const struct cio_local_datagram_socket *s,
                                              struct cio_local_endpoint *out, cio_error *ec)
{
    return cio__report(ec, __func__, local_name(s ? &s->socket : NULL, true, out));
}

int cio_local_datagram_connect_pair(struct cio_local_datagram_socket *a,
                                    struct cio_local_datagram_socket *b, cio_error *ec)
{
    return cio__report(ec, __func__, local_pair(LOCAL_DGRAM(a), LOCAL_DGRAM(b), SOCK_DGRAM));
}

size_t cio_local_datagram_socket_send(struct cio_local_datagram_socket *s, const void *buf,
                                      size_t len, cio_error *ec)
{
    size_t n = 0;
    cio_error e = local_send_sync(LOCAL_DGRAM(s), buf, len, NULL, NULL, 0, false, SOCK_DGRAM, &n);
    return local_report_n(ec, __func__, e, n);
}

size_t cio_local_datagram_socket_send_to(struct cio_local_datagram_socket *s, const void *buf,
                                         size_t len, const struct cio_local_endpoint *ep,
                                         cio_error *ec)
{
    size_t n = 0;
    cio_error e = ep ? local_send_sync(LOCAL_DGRAM(s), buf, len, ep, NULL, 0, false, SOCK_DGRAM, &n)
                     : local_null_or(LOCAL_DGRAM(s), cio_error_system(EINVAL));
    return local_report_n(ec, __func__, e, n);
}

void cio_local_datagram_socket_async_send(struct cio_local_datagram_socket *s, const void *buf,
                                          size_t len, cio_handler h)
{
    local_send_async(LOCAL_DGRAM(s), buf, len, NULL, NULL, 0, false, SOCK_DGRAM, h, __func__);
}

void cio_local_datagram_socket_async_send_to(struct cio_local_datagram_socket *s, const void *buf,
                                             size_t len, const struct cio_local_endpoint *ep,
                                             cio_handler h)
{
    if (!ep && s && s->socket.impl_.slot && s->socket.ctx && h.fn) {
        cio__socket_post(s->socket.ctx, &s->socket.impl_, h, cio_error_system(EINVAL), __func__);
        return;
    }
    local_send_async(LOCAL_DGRAM(s), buf, len, ep, NULL, 0, false, SOCK_DGRAM, h, __func__);
}

size_t cio_local_datagram_socket_receive(struct cio_local_datagram_socket *s, void *buf, size_t len,
                                         cio_error *ec)
{
    size_t n = 0;
    struct local_recv rq = {.sender = NULL};
    cio_error e = local_recv_sync(LOCAL_DGRAM(s), buf, len, &rq, SOCK_DGRAM, &n);
    return local_report_n(ec, __func__, e, n);
}

size_t cio_local_datagram_socket_receive_from(struct cio_local_datagram_socket *s, void *buf,
                                              size_t len, struct cio_local_endpoint *sender,
                                              cio_error *ec)
{
    size_t n = 0;
    struct local_recv rq = {.sender = sender};
    cio_error e = sender ? local_recv_sync(LOCAL_DGRAM(s), buf, len, &rq, SOCK_DGRAM, &n)
                         : local_null_or(LOCAL_DGRAM(s), cio_error_system(EINVAL));
    return local_report_n(ec, __func__, e, n);
}

void cio_local_datagram_socket_async_receive(struct cio_local_datagram_socket *s, void *buf,
                                             size_t len, cio_handler h)
{
    struct local_recv rq = {.sender = NULL};
    local_recv_async(LOCAL_DGRAM(s), buf, len, &rq, SOCK_DGRAM, h, __func__);
}

void cio_local_datagram_socket_async_receive_from(struct cio_local_datagram_socket *s, void *buf,
                                                  size_t len, struct cio_local_endpoint *sender,
                                                  cio_handler h)
{
    if (!sender && s && s->socket.impl_.slot && s->socket.ctx && h.fn) {
        cio__socket_post(s->socket.ctx, &s->socket.impl_, h, cio_error_system(EINVAL), __func__);
        return;
    }
    struct local_recv rq = {.sender = sender};
    local_recv_async(LOCAL_DGRAM(s), buf, len, &rq, SOCK_DGRAM, h, __func__);
}

size_t cio_local_datagram_socket_send_with_fds(struct cio_local_datagram_socket *s, const void *buf,
                                               size_t len, const int *fds, size_t nfds,
                                               cio_error *ec)
{
    size_t n = 0;
    cio_error e = local_send_sync(LOCAL_DGRAM(s), buf, len, NULL, fds, nfds, true, SOCK_DGRAM, &n);
    return local_report_n(ec, __func__, e, n);
}

void cio_local_datagram_socket_async_send_with_fds(struct cio_local_datagram_socket *s,
                                                   const void *buf, size_t len, const int *fds,
                                                   size_t nfds, cio_handler h)
{
    local_send_async(LOCAL_DGRAM(s), buf, len, NULL, fds, nfds, true, SOCK_DGRAM, h, __func__);
}

size_t cio_local_datagram_socket_receive_with_fds(struct cio_local_datagram_socket *s, void *buf,
                                                  size_t len, int *fds, size_t max_fds,
                                                  size_t *nfds, cio_error *ec)
{
    size_t n = 0;
    struct local_recv rq = local_fds_request(fds, max_fds, nfds, SOCK_DGRAM);
    cio_error e = local_recv_sync(LOCAL_DGRAM(s), buf, len, &rq, SOCK_DGRAM, &n);
    return local_report_n(ec, __func__, e, n);
}

void cio_local_datagram_socket_async_receive_with_fds(struct cio_local_datagram_socket *s,
                                                      void *buf, size_t len, int *fds,
                                                      size_t max_fds, size_t *nfds, cio_handler h)
{
    struct local_recv rq = local_fds_request(fds, max_fds, nfds, SOCK_DGRAM);
    local_recv_async(LOCAL_DGRAM(s), buf, len, &rq, SOCK_DGRAM, h, __func__);
}

/* ---- The seqpacket socket. ---- */

#define LOCAL_SEQ(s) ((s) ? &(s)->socket : NULL)

void cio_local_seqpacket_socket_init(struct cio_local_seqpacket_socket *s, struct cio_context *ctx)
{
    local_init(LOCAL_SEQ(s), cio_context_executor(ctx), __func__);
}

void cio_local_seqpacket_socket_init_executor(struct cio_local_seqpacket_socket *s, cio_executor ex)
{
    local_init(LOCAL_SEQ(s), ex, __func__);
}

int cio_local_seqpacket_socket_open(struct cio_local_seqpacket_socket *s, cio_error *ec)
{
    return cio__report(ec, __func__, local_open(LOCAL_SEQ(s), SOCK_SEQPACKET));
}

int cio_local_seqpacket_socket_assign(struct cio_local_seqpacket_socket *s, int fd, cio_error *ec)
{
    return cio__report(ec, __func__, local_assign(LOCAL_SEQ(s), fd));
}

int cio_local_seqpacket_socket_bind(struct cio_local_seqpacket_socket *s,
                                    const struct cio_local_endpoint *ep, cio_error *ec)
{
    return cio__report(ec, __func__, local_bind(LOCAL_SEQ(s), ep));
}

int cio_local_seqpacket_socket_connect(struct cio_local_seqpacket_socket *s,
                                       const struct cio_local_endpoint *ep, cio_error *ec)
{
    return cio__report(ec, __func__, local_connect(LOCAL_SEQ(s), ep, SOCK_SEQPACKET));
}

void cio_local_seqpacket_socket_async_connect(struct cio_local_seqpacket_socket *s,
                                              const struct cio_local_endpoint *ep, cio_handler h)
{
    local_async_connect(LOCAL_SEQ(s), ep, SOCK_SEQPACKET, h, __func__);
}

int cio_local_seqpacket_socket_local_endpoint(const struct cio_local_seqpacket_socket *s,
                                              struct cio_local_endpoint *out, cio_error *ec)
{
    return cio__report(ec, __func__, local_name(s ? &s->socket : NULL, false, out));
}

int cio_local_seqpacket_socket_remote_endpoint(const struct cio_local_seqpacket_socket *s,
                                               struct cio_local_endpoint *out, cio_error *ec)
{
    return cio__report(ec, __func__, local_name(s ? &s->socket : NULL, true, out));
}

int cio_local_seqpacket_socket_peer_credentials(const struct cio_local_seqpacket_socket *s,
                                                struct cio_local_credentials *out, cio_error *ec)
{
    return cio__report(ec, __func__, local_credentials(s ? &s->socket : NULL, out));
}

int cio_local_seqpacket_connect_pair(struct cio_local_seqpacket_socket *a,
                                     struct cio_local_seqpacket_socket *b, cio_error *ec)
{
    return cio__report(ec, __func__, local_pair(LOCAL_SEQ(a), LOCAL_SEQ(b), SOCK_SEQPACKET));
}

size_t cio_local_seqpacket_socket_send(struct cio_local_seqpacket_socket *s, const void *buf,
                                       size_t len, cio_error *ec)
{
    size_t n = 0;
    cio_error e = local_send_sync(LOCAL_SEQ(s), buf, len, NULL, NULL, 0, false, SOCK_SEQPACKET, &n);
    return local_report_n(ec, __func__, e, n);
}

size_t cio_local_seqpacket_socket_receive(struct cio_local_seqpacket_socket *s, void *buf,
                                          size_t len, cio_error *ec)
{
    size_t n = 0;
    struct local_recv rq = {.eof_on_zero = true};
    cio_error e = local_recv_sync(LOCAL_SEQ(s), buf, len, &rq, SOCK_SEQPACKET, &n);
    return local_report_n(ec, __func__, e, n);
}

void cio_local_seqpacket_socket_async_send(struct cio_local_seqpacket_socket *s, const void *buf,
                                           size_t len, cio_handler h)
{
    local_send_async(LOCAL_SEQ(s), buf, len, NULL, NULL, 0, false, SOCK_SEQPACKET, h, __func__);
}

void cio_local_seqpacket_socket_async_receive(struct cio_local_seqpacket_socket *s, void *buf,
                                              size_t len, cio_handler h)
{
    struct local_recv rq = {.eof_on_zero = true};
    local_recv_async(LOCAL_SEQ(s), buf, len, &rq, SOCK_SEQPACKET, h, __func__);
}

size_t cio_local_seqpacket_socket_send_with_fds(struct cio_local_seqpacket_socket *s,
                                                const void *buf, size_t len, const int *fds,
                                                size_t nfds, cio_error *ec)
{
    size_t n = 0;
    cio_error e =
        local_send_sync(LOCAL_SEQ(s), buf, len, NULL, fds, nfds, true, SOCK_SEQPACKET, &n);
    return local_report_n(ec, __func__, e, n);
}

void cio_local_seqpacket_socket_async_send_with_fds(struct cio_local_seqpacket_socket *s,
                                                    const void *buf, size_t len, const int *fds,
                                                    size_t nfds, cio_handler h)
{
    local_send_async(LOCAL_SEQ(s), buf, len, NULL, fds, nfds, true, SOCK_SEQPACKET, h, __func__);
}

size_t cio_local_seqpacket_socket_receive_with_fds(struct cio_local_seqpacket_socket *s, void *buf,
                                                   size_t len, int *fds, size_t max_fds,
                                                   size_t *nfds, cio_error *ec)
{
    size_t n = 0;
    struct local_recv rq = local_fds_request(fds, max_fds, nfds, SOCK_SEQPACKET);
    cio_error e = local_recv_sync(LOCAL_SEQ(s), buf, len, &rq, SOCK_SEQPACKET, &n);
    return local_report_n(ec, __func__, e, n);
}

void cio_local_seqpacket_socket_async_receive_with_fds(struct cio_local_seqpacket_socket *s,
                                                       void *buf, size_t len, int *fds,
                                                       size_t max_fds, size_t *nfds, cio_handler h)
{
    struct local_recv rq = local_fds_request(fds, max_fds, nfds, SOCK_SEQPACKET);
    local_recv_async(LOCAL_SEQ(s), buf, len, &rq, SOCK_SEQPACKET, h, __func__);
}

/* ---- The seqpacket acceptor. ---- */

void cio_local_seqpacket_acceptor_init(struct cio_local_seqpacket_acceptor *a,
                                       struct cio_context *ctx)
{
    local_init(LOCAL_ACCEPTOR(a), cio_context_executor(ctx), __func__);
}

void cio_local_seqpacket_acceptor_init_executor(struct cio_local_seqpacket_acceptor *a,
                                                cio_executor ex)
{
    local_init(LOCAL_ACCEPTOR(a), ex, __func__);
}

int cio_local_seqpacket_acceptor_open(struct cio_local_seqpacket_acceptor *a, cio_error *ec)
{
    return cio__report(ec, __func__, local_open(LOCAL_ACCEPTOR(a), SOCK_SEQPACKET));
}

int cio_local_seqpacket_acceptor_assign(struct cio_local_seqpacket_acceptor *a, int fd,
                                        cio_error *ec)
{
    return cio__report(ec, __func__, local_assign(LOCAL_ACCEPTOR(a), fd));
}

int cio_local_seqpacket_acceptor_bind(struct cio_local_seqpacket_acceptor *a,
                                      const struct cio_local_endpoint *ep, cio_error *ec)
{
    return cio__report(ec, __func__, local_bind(LOCAL_ACCEPTOR(a), ep));
}

int cio_local_seqpacket_acceptor_listen(struct cio_local_seqpacket_acceptor *a, int backlog,
                                        cio_error *ec)
{
    cio_error e = a ? cio__socket_listen(&a->socket.impl_, backlog) : cio__null_object();
    return cio__report(ec, __func__, e);
}

int cio_local_seqpacket_acceptor_listen_at(struct cio_local_seqpacket_acceptor *a,
                                           const struct cio_local_endpoint *ep, cio_error *ec)
{
    return cio__report(ec, __func__, local_listen_at(LOCAL_ACCEPTOR(a), ep, SOCK_SEQPACKET));
}

int cio_local_seqpacket_acceptor_local_endpoint(const struct cio_local_seqpacket_acceptor *a,
                                                struct cio_local_endpoint *out, cio_error *ec)
{
    return cio__report(ec, __func__, local_name(a ? &a->socket : NULL, false, out));
}

int cio_local_seqpacket_acceptor_accept(struct cio_local_seqpacket_acceptor *a,
                                        struct cio_local_seqpacket_socket *peer, cio_error *ec)
{
    return cio__report(ec, __func__, local_accept(LOCAL_ACCEPTOR(a), LOCAL_SEQ(peer)));
}

void cio_local_seqpacket_acceptor_async_accept(struct cio_local_seqpacket_acceptor *a,
                                               struct cio_local_seqpacket_socket *peer,
                                               cio_handler h)
{
    local_async_accept(LOCAL_ACCEPTOR(a), LOCAL_SEQ(peer), h, __func__);
}

#undef LOCAL_NAME_OFFSET
#undef LOCAL_STREAM
#undef LOCAL_ACCEPTOR
#undef LOCAL_DGRAM
#undef LOCAL_SEQ

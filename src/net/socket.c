/*
 * socket.c - the operations every socket object shares (see socket.h).
 *
 * A socket's descriptor is always non-blocking and close-on-exec. A
 * synchronous operation tries its system call and, when it would block,
 * either fails with would_block (the caller's non_blocking mode) or waits
 * with poll() and tries again, as Asio's socket_ops do. An asynchronous one
 * becomes an operation on the socket's descriptor slot: the backend performs
 * it (at once if it is speculative, else on readiness) and posts its
 * completion; results known at once are posted too.
 *
 * A read or write of several buffers is one recvmsg or sendmsg (never readv
 * or writev: a write to a socket whose peer is gone must not raise SIGPIPE,
 * and only sendmsg takes MSG_NOSIGNAL); a sequence with at most one buffer
 * that holds bytes takes the one-buffer path.
 *
 * Order: small helpers; transfers of one buffer or a sequence; life cycle;
 * state, endpoints and options; the synchronous operations; the perform
 * functions of the asynchronous ones; the accept operation's completion; the
 * asynchronous starters.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, MSG_NOSIGNAL under -std=c11 */
#endif

#include "net/socket.h"

#include "cio/buffer.h"
#include "cio/cancel.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/descriptor.h"
#include "core/op.h"
#include "core/scheduler.h"
#include "core/syscall.h"

/* ---- Small helpers. ---- */

static cio_error sys_error(int errno_value)
{
    return cio_error_system(errno_value);
}

static bool would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* The endpoint's sockaddr length, or 0 for NULL or an unknown family. */
static socklen_t endpoint_size(const struct cio_endpoint *ep)
{
    return ep ? cio_endpoint_size(ep) : 0;
}

/* Checks a socket and a buffer for a read or write: bad_descriptor first
 * (Asio), then invalid_argument for a NULL buffer of nonzero length. */
static cio_error check_io(const struct cio__socket *so, const void *buf, size_t len)
{
    if (!so->slot)
        return sys_error(EBADF);
    if (!buf && len)
        return sys_error(EINVAL);
    return cio_error_none();
}

/* The pending error of a socket (SO_ERROR): a finished connect's result. */
static cio_error pending_error(int fd)
{
    int value = 0;
    socklen_t len = sizeof value;
    if (cio__sys.getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) < 0)
        return sys_error(errno);
    return value ? sys_error(value) : cio_error_none();
}

/* Waits, without a time limit, until fd has one of `events` (or an error).
 * Returns 0 or an errno value. */
static int poll_wait(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    while (cio__sys.poll(&p, 1, -1) < 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

/* Polls fd for `events` without waiting: 1 when it has one (or an error),
 * 0 when not, or -errno. */
static int poll_now(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r;
    do
        r = cio__sys.poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r > 0;
}

/* After a would-block: EWOULDBLOCK in the caller's non_blocking mode, else
 * waits for readiness. Returns 0 (try again) or an errno value. */
static int wait_ready(const struct cio__socket *so, short events)
{
    if (so->user_non_blocking)
        return EWOULDBLOCK;
    return poll_wait(so->fd, events);
}

/* ---- Transfers: one buffer or a sequence. ---- */

/* A buffer sequence is an array of cio_mutable_buffer or cio_const_buffer,
 * both laid out as struct iovec (cio/buffer.h): the kernel is given it as
 * one. */
_Static_assert(sizeof(cio_mutable_buffer) == sizeof(struct iovec) &&
                   offsetof(cio_mutable_buffer, data) == offsetof(struct iovec, iov_base) &&
                   offsetof(cio_mutable_buffer, size) == offsetof(struct iovec, iov_len),
               "cio_mutable_buffer is laid out as struct iovec");
_Static_assert(sizeof(cio_const_buffer) == sizeof(struct iovec) &&
                   offsetof(cio_const_buffer, data) == offsetof(struct iovec, iov_base) &&
                   offsetof(cio_const_buffer, size) == offsetof(struct iovec, iov_len),
               "cio_const_buffer is laid out as struct iovec");

/* The i-th buffer of a sequence of either buffer type, copied out (so that
 * neither type is read through the other's). */
static struct iovec buffer_at(const void *bufs, size_t i)
{
    struct iovec v;
    memcpy(&v, (const struct iovec *)bufs + i, sizeof v);
    return v;
}

/* What a sequence comes to for one system call. */
struct sequence {
    size_t count;     /* the buffers one call takes: at most CIO_MAX_BUFFERS */
    size_t total;     /* their bytes */
    size_t filled;    /* how many of them hold at least one byte */
    struct iovec one; /* the first that does, or {NULL, 0} */
};

static struct sequence sequence_of(const void *bufs, size_t count)
{
    struct sequence q = {count < CIO_MAX_BUFFERS ? count : CIO_MAX_BUFFERS, 0, 0, {NULL, 0}};
    for (size_t i = 0; bufs && i < q.count; i++) {
        struct iovec v = buffer_at(bufs, i);
        if (v.iov_len == 0)
            continue;
        if (q.filled++ == 0)
            q.one = v;
        q.total += v.iov_len;
    }
    return q;
}

/* The message kind of a transfer's direction (RECV or SEND). */
static enum cio__io_kind message_kind(enum cio__io_kind kind)
{
    return kind == CIO__IO_RECV ? CIO__IO_RECVMSG : CIO__IO_SENDMSG;
}

/* A transfer's flags: a send never raises SIGPIPE. */
static int transfer_flags(enum cio__io_kind kind, int flags)
{
    return cio__io_kind_sends(kind) ? flags | MSG_NOSIGNAL : flags;
}

/* A msghdr over the first count buffers of a sequence, in place. */
static void msg_init(struct msghdr *m, const void *bufs, size_t count)
{
    memset(m, 0, sizeof *m);
    m->msg_iov = (struct iovec *)(uintptr_t)bufs;
    m->msg_iovlen = count;
}

/* One transfer's system call and what it moves: buf/len for RECV and SEND,
 * msg for RECVMSG and SENDMSG. */
struct transfer {
    enum cio__io_kind kind;
    void *buf;
    size_t len; /* the bytes asked for (a message's total) */
    struct msghdr *msg;
    int flags;     /* MSG_NOSIGNAL among them for a send */
    bool datagram; /* a message socket's: a recv of 0 bytes is an empty message */
};

/* Tries t once on fd: the system call's result (-1 and errno on failure). */
static ssize_t transfer_once(int fd, const struct transfer *t)
{
    switch (t->kind) {
    case CIO__IO_RECV:
        return cio__sys.recv(fd, t->buf, t->len, t->flags);
    case CIO__IO_SEND:
        return cio__sys.send(fd, t->buf, t->len, t->flags);
    case CIO__IO_RECVMSG:
        return cio__sys.recvmsg(fd, t->msg, t->flags);
    default:
        return cio__sys.sendmsg(fd, t->msg, t->flags);
    }
}

/* What a transfer call that returned r (errno set when r < 0) comes to: 0
 * when it finished, with *e and *n set (the bytes moved; eof for a recv's 0
 * unless zero_ok: a send's, or a datagram's; the error), else EINTR (try
 * again) or EWOULDBLOCK (wait, then try again). */
static int transfer_outcome(ssize_t r, bool zero_ok, cio_error *e, size_t *n)
{
    *n = r > 0 ? (size_t)r : 0;
    if (r > 0 || (r == 0 && zero_ok)) {
        *e = cio_error_none();
        return 0;
    }
    int err = r == 0 ? 0 : errno;
    if (err == EINTR)
        return EINTR;
    if (would_block(err))
        return EWOULDBLOCK;
    *e = err ? sys_error(err) : cio_error_misc(CIO_MISC_EOF);
    return 0;
}

/* A synchronous transfer: tries t until it finishes, waiting for readiness
 * with poll() when it would block, unless the non_blocking mode is set. */
static cio_error transfer_sync(struct cio__socket *so, const struct transfer *t, size_t *n)
{
    bool sends = cio__io_kind_sends(t->kind);
    for (;;) {
        cio_error e;
        int again = transfer_outcome(transfer_once(so->fd, t), sends || t->datagram, &e, n);
        if (again == 0)
            return e;
        if (again == EWOULDBLOCK && (again = wait_ready(so, sends ? POLLOUT : POLLIN)) != 0)
            return sys_error(again);
    }
}

/* ---- Life cycle. ---- */

/* Closed, keeping its executor. */
static void socket_reset(struct cio__socket *so)
{
    so->slot = NULL;
    so->fast = NULL;
    so->fd = -1;
    so->family = 0;
    so->user_non_blocking = false;
}

void cio__socket_init(struct cio__socket *so, cio_executor ex)
{
    so->ex = cio__object_executor(ex);
    socket_reset(so);
}

bool cio__socket_is_open(const struct cio__socket *so)
{
    return so->slot != NULL;
}

cio_error cio__socket_assign(struct cio_context *ctx, struct cio__socket *so, int family, int fd)
{
    if (so->slot)
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    if (!ctx)
        return sys_error(EINVAL);
    if (fd < 0)
        return sys_error(EBADF);
    cio_error e = cio_error_none();
    struct cio__slot *slot = cio__slot_open(ctx, fd, &e);
    if (!slot)
        return e;
    so->slot = slot;
    so->fast = so->ex.ops ? NULL : slot;
    so->fd = fd;
    so->family = family;
    so->user_non_blocking = false;
    /* A local stream's read stops at the bytes descriptors came with, short
     * with more queued behind, whether or not it takes them. */
    if (family == AF_UNIX)
        cio__socket_distrust_short_reads(so);
    return cio_error_none();
}

void cio__socket_distrust_short_reads(struct cio__socket *so)
{
    cio__lock(&so->slot->lock);
    so->slot->read_closed = true; /* never cleared while the slot is open */
    cio__unlock(&so->slot->lock);
}

cio_error cio__socket_open(struct cio_context *ctx, struct cio__socket *so, int family, int type,
                           int protocol)
{
    if (so->slot)
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    if (!ctx)
        return sys_error(EINVAL);
    int fd = cio__sys.socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return sys_error(errno);
    cio_error e = cio__socket_assign(ctx, so, family, fd);
    if (cio_failed(e))
        cio__sys.close(fd);
    return e;
}

cio_error cio__socket_release(struct cio_context *ctx, struct cio__socket *so, int *fd)
{
    *fd = -1;
    if (!so->slot)
        return sys_error(EBADF);
    int taken = so->fd;
    cio__slot_release(ctx, so->slot); /* returns the descriptor, which we hold already */
    socket_reset(so);
    *fd = taken;
    return cio_error_none();
}

cio_error cio__socket_close(struct cio_context *ctx, struct cio__socket *so)
{
    if (!so->slot)
        return cio_error_none();
    int err = cio__slot_close(ctx, so->slot);
    socket_reset(so);
    /* Linux releases the descriptor even when close() reports EINTR, and
     * EINPROGRESS means the same: neither is a failure to close. */
    if (err && err != EINTR && err != EINPROGRESS)
        return sys_error(err);
    return cio_error_none();
}

cio_error cio__socket_cancel(struct cio_context *ctx, struct cio__socket *so)
{
    if (!so->slot)
        return sys_error(EBADF);
    cio__slot_cancel(ctx, so->slot);
    return cio_error_none();
}

/* ---- State, endpoints and options. ---- */

cio_error cio__socket_shutdown(struct cio__socket *so, int how)
{
    if (!so->slot)
        return sys_error(EBADF);
    if (cio__sys.shutdown(so->fd, how) < 0)
        return sys_error(errno);
    return cio_error_none();
}

cio_error cio__socket_bind(struct cio__socket *so, const struct cio_endpoint *ep)
{
    if (!so->slot)
        return sys_error(EBADF);
    socklen_t len = endpoint_size(ep);
    if (!len)
        return sys_error(EINVAL);
    if (cio__sys.bind(so->fd, &ep->addr.sa, len) < 0)
        return sys_error(errno);
    return cio_error_none();
}

cio_error cio__socket_listen(struct cio__socket *so, int backlog)
{
    if (!so->slot)
        return sys_error(EBADF);
    if (cio__sys.listen(so->fd, backlog) < 0)
        return sys_error(errno);
    return cio_error_none();
}

/* getsockname or getpeername into *out. */
static cio_error get_endpoint(const struct cio__socket *so, struct cio_endpoint *out,
                              int (*get)(int, struct sockaddr *, socklen_t *))
{
    if (!so->slot)
        return sys_error(EBADF);
    if (!out)
        return sys_error(EINVAL);
    struct cio_endpoint ep;
    memset(&ep, 0, sizeof ep);
    socklen_t len = sizeof ep.addr;
    if (get(so->fd, &ep.addr.sa, &len) < 0)
        return sys_error(errno);
    cio_error e = cio_error_none();
    cio_endpoint_from_sockaddr(&ep.addr.sa, len, out, &e);
    return e;
}

cio_error cio__socket_local_endpoint(const struct cio__socket *so, struct cio_endpoint *out)
{
    return get_endpoint(so, out, cio__sys.getsockname);
}

cio_error cio__socket_remote_endpoint(const struct cio__socket *so, struct cio_endpoint *out)
{
    return get_endpoint(so, out, cio__sys.getpeername);
}

cio_error cio__socket_available(const struct cio__socket *so, size_t *n)
{
    *n = 0;
    if (!so->slot)
        return sys_error(EBADF);
    int count = 0;
    if (cio__sys.ioctl(so->fd, FIONREAD, &count) < 0)
        return sys_error(errno);
    *n = count > 0 ? (size_t)count : 0;
    return cio_error_none();
}

cio_error cio__socket_set_non_blocking(struct cio__socket *so, bool mode)
{
    if (!so->slot)
        return sys_error(EBADF);
    so->user_non_blocking = mode;
    return cio_error_none();
}

cio_error cio__socket_set_option(struct cio__socket *so, int level, int name, const void *value,
                                 socklen_t len)
{
    if (!so->slot)
        return sys_error(EBADF);
    if (!value)
        return sys_error(EINVAL);
    if (cio__sys.setsockopt(so->fd, level, name, value, len) < 0)
        return sys_error(errno);
    return cio_error_none();
}

cio_error cio__socket_get_option(const struct cio__socket *so, int level, int name, void *value,
                                 socklen_t *len)
{
    if (!so->slot)
        return sys_error(EBADF);
    if (!value || !len)
        return sys_error(EINVAL);
    if (cio__sys.getsockopt(so->fd, level, name, value, len) < 0)
        return sys_error(errno);
    return cio_error_none();
}

cio_error cio__socket_set_int(struct cio__socket *so, int level, int name, int value)
{
    return cio__socket_set_option(so, level, name, &value, sizeof value);
}

cio_error cio__socket_get_int(const struct cio__socket *so, int level, int name, int *value)
{
    if (!value)
        return sys_error(EINVAL);
    int v = 0;
    socklen_t len = sizeof v;
    cio_error e = cio__socket_get_option(so, level, name, &v, &len);
    if (!cio_failed(e))
        *value = v;
    return e;
}

cio_error cio__socket_get_bool(const struct cio__socket *so, int level, int name, bool *on)
{
    if (!on)
        return sys_error(EINVAL);
    int v = 0;
    cio_error e = cio__socket_get_int(so, level, name, &v);
    if (!cio_failed(e))
        *on = v != 0;
    return e;
}

/* ---- Synchronous operations. ---- */

cio_error cio__socket_wait(struct cio__socket *so, short events)
{
    if (!so->slot)
        return sys_error(EBADF);
    int r = poll_now(so->fd, events);
    if (r == 0)
        r = -wait_ready(so, events);
    return r < 0 ? sys_error(-r) : cio_error_none();
}

cio_error cio__socket_connect(struct cio_context *ctx, struct cio__socket *so,
                              const struct cio_endpoint *ep, int type, int protocol)
{
    socklen_t len = endpoint_size(ep);
    if (!len)
        return sys_error(EINVAL);
    if (!so->slot) {
        cio_error e = cio__socket_open(ctx, so, cio_endpoint_family(ep), type, protocol);
        if (cio_failed(e))
            return e;
    }
    if (cio__sys.connect(so->fd, &ep->addr.sa, len) == 0)
        return cio_error_none();
    /* EINTR: the connect goes on in the background, as EINPROGRESS. */
    if (errno != EINPROGRESS && errno != EINTR)
        return sys_error(errno);
    int err = poll_wait(so->fd, POLLOUT);
    return err ? sys_error(err) : pending_error(so->fd);
}

cio_error cio__socket_recv(struct cio__socket *so, void *buf, size_t len, int flags, size_t *n)
{
    *n = 0;
    cio_error e = check_io(so, buf, len);
    if (cio_failed(e) || len == 0)
        return e;
    struct transfer t = {CIO__IO_RECV, buf, len, NULL, flags, false};
    return transfer_sync(so, &t, n);
}

cio_error cio__socket_send(struct cio__socket *so, const void *buf, size_t len, int flags,
                           size_t *n)
{
    *n = 0;
    cio_error e = check_io(so, buf, len);
    if (cio_failed(e) || len == 0)
        return e;
    struct transfer t = {CIO__IO_SEND, cio__send_buffer(buf), len,
                         NULL,         flags | MSG_NOSIGNAL,   false};
    return transfer_sync(so, &t, n);
}

cio_error cio__socket_transfer_buffers(struct cio__socket *so, const void *bufs, size_t count,
                                       int flags, enum cio__io_kind kind, size_t *n)
{
    *n = 0;
    cio_error e = check_io(so, bufs, count);
    if (cio_failed(e))
        return e;
    struct sequence q = sequence_of(bufs, count);
    if (q.filled <= 1 && kind == CIO__IO_RECV)
        return cio__socket_recv(so, q.one.iov_base, q.one.iov_len, flags, n);
    if (q.filled <= 1)
        return cio__socket_send(so, q.one.iov_base, q.one.iov_len, flags, n);
    struct msghdr m;
    msg_init(&m, bufs, q.count);
    struct transfer t = {message_kind(kind), NULL, q.total, &m, transfer_flags(kind, flags),
                         false};
    return transfer_sync(so, &t, n);
}

/* accept4 errors that concern only the connection being dequeued: try the
 * next one (Asio skips connection_aborted and EPROTO; accept(2) asks the same
 * of the network errors Linux passes on from the new socket). */
cio_error cio__socket_message(struct cio__socket *so, struct msghdr *m, int flags, unsigned mode,
                              size_t *n)
{
    *n = 0;
    if (!so->slot)
        return sys_error(EBADF);
    bool sends = mode & CIO__MSG_SEND;
    size_t total = 0;
    for (size_t i = 0; i < m->msg_iovlen; i++)
        total += m->msg_iov[i].iov_len;
    struct transfer t = {sends ? CIO__IO_SENDMSG : CIO__IO_RECVMSG, NULL, total, m,
                         sends ? flags | MSG_NOSIGNAL : flags, (mode & CIO__MSG_DATAGRAM) != 0};
    return transfer_sync(so, &t, n);
}

static bool accept_skippable(int err)
{
    switch (err) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

/* accept4 errors that a later accept would meet too until a descriptor (or
 * kernel memory) frees up. */
static bool out_of_descriptors(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* Accepts one connection without blocking, its address into *addr. Returns
 * the new descriptor (non-blocking, close-on-exec), or -1 with the errno
 * value in *err (never a skippable one). */
static int accept_once(int fd, struct cio_endpoint *addr, socklen_t *addrlen, int *err)
{
    for (;;) {
        *addrlen = sizeof addr->addr;
        int nfd = cio__sys.accept4(fd, &addr->addr.sa, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (nfd >= 0)
            return nfd;
        if (!accept_skippable(errno)) {
            *err = errno;
            return -1;
        }
    }
}

/* Opens `peer` on `fd`, a connection accepted from a listener of `family`,
 * and stores its address in *peer_ep (if not NULL). Closes fd on failure. */
static cio_error adopt_peer(struct cio_context *peer_ctx, struct cio__socket *peer, int family,
                            int fd, const struct cio_endpoint *addr, socklen_t addrlen,
                            struct cio_endpoint *peer_ep)
{
    cio_error e = cio__socket_assign(peer_ctx, peer, family, fd);
    if (cio_failed(e)) {
        cio__sys.close(fd);
        return e;
    }
    if (peer_ep) {
        cio_error ignored = cio_error_none();
        if (cio_endpoint_from_sockaddr(&addr->addr.sa, addrlen, peer_ep, &ignored) < 0)
            memset(peer_ep, 0, sizeof *peer_ep);
    }
    return cio_error_none();
}

/* Checks the arguments of an accept. */
static cio_error check_accept(const struct cio__socket *so, struct cio_context *peer_ctx,
                              const struct cio__socket *peer)
{
    if (!so->slot)
        return sys_error(EBADF);
    if (!peer || !peer_ctx)
        return sys_error(EINVAL);
    if (peer->slot)
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    return cio_error_none();
}

cio_error cio__socket_accept(struct cio__socket *so, struct cio_context *peer_ctx,
                             struct cio__socket *peer, struct cio_endpoint *peer_ep)
{
    cio_error e = check_accept(so, peer_ctx, peer);
    if (cio_failed(e))
        return e;
    for (;;) {
        struct cio_endpoint addr;
        socklen_t addrlen = 0;
        int err = 0;
        int fd = accept_once(so->fd, &addr, &addrlen, &err);
        if (fd >= 0)
            return adopt_peer(peer_ctx, peer, so->family, fd, &addr, addrlen, peer_ep);
        if (!would_block(err) || (err = wait_ready(so, POLLIN)) != 0)
            return sys_error(err);
    }
}

/* ---- Perform functions: one non-blocking try, called by the backend. ---- */

/* A stream's recv and send of one buffer have no perform function here: the
 * backend does them itself (cio__perform_io in backend/common.h), or submits
 * them, as a completion backend submits a message too. */

/* A message transfer (RECVMSG, SENDMSG) on a readiness backend. A
 * stream's short transfer says the descriptor is drained in its direction;
 * a datagram's says nothing of the messages still queued behind it. */
static enum cio__perform_result msg_perform(struct cio__io_op *io, int fd)
{
    struct cio__msg_op *op = (struct cio__msg_op *)io;
    bool datagram = op->mode & CIO__MSG_DATAGRAM;
    struct transfer t = {(enum cio__io_kind)io->kind, NULL, io->len, io->buf, io->flags, datagram};
    int again;
    do
        again = transfer_outcome(transfer_once(fd, &t), cio__io_kind_sends(t.kind) || datagram,
                                 &io->base.ec, &io->base.n);
    while (again == EINTR);
    if (again)
        return CIO__PERFORM_WOULD_BLOCK;
    if (!datagram && !cio_failed(io->base.ec) && io->base.n < io->len)
        return CIO__PERFORM_DONE_DRAINED;
    return CIO__PERFORM_DONE;
}

static enum cio__perform_result connect_perform(struct cio__io_op *op, int fd)
{
    int r = poll_now(fd, POLLOUT);
    if (r == 0)
        return CIO__PERFORM_WOULD_BLOCK;
    op->base.ec = r < 0 ? sys_error(-r) : pending_error(fd);
    op->base.n = 0;
    return CIO__PERFORM_DONE;
}

/* A readiness wait: done once the descriptor is ready in the op's
 * direction (for the error direction: an error, urgent data or a hang-up),
 * which it leaves as it is (nothing is read or written). */
static enum cio__perform_result wait_perform(struct cio__io_op *op, int fd)
{
    int r = poll_now(fd, CIO__DIR_POLL_EVENTS(op->dir));
    if (r == 0)
        return CIO__PERFORM_WOULD_BLOCK;
    op->base.ec = r < 0 ? sys_error(-r) : cio_error_none();
    op->base.n = 0;
    return CIO__PERFORM_DONE;
}

/* An accept in flight. Its outputs belong to the caller, like a buffer. */
struct accept_op {
    struct cio__io_op io;         /* must be first */
    struct cio_context *peer_ctx; /* the context the peer is opened on */
    struct cio__socket *peer;     /* the caller's peer socket: opened on success */
    struct cio_endpoint *peer_ep; /* the caller's, or NULL: the peer's address */
    int family;                   /* the listener's family, which the peer takes */
    int fd;                       /* the accepted descriptor, or -1 */
    socklen_t addrlen;            /* the length of addr */
    struct cio_endpoint addr;     /* the peer's address as accept4 gave it */
};

/* Runs under the backend's care (possibly holding the listener slot's lock),
 * so it only accepts; the peer is opened in accept_settle. */
static enum cio__perform_result accept_perform(struct cio__io_op *io, int fd)
{
    struct accept_op *op = (struct accept_op *)io;
    int err = 0;
    op->fd = accept_once(fd, &op->addr, &op->addrlen, &err);
    io->base.n = 0;
    if (op->fd >= 0) {
        io->base.ec = cio_error_none();
        return CIO__PERFORM_DONE;
    }
    if (would_block(err))
        return CIO__PERFORM_WOULD_BLOCK;
    io->base.ec = sys_error(err);
    /* Out of descriptors or memory: the accepts behind this one would fail
     * alike, in a tight loop, so the listener's read direction is parked
     * until a descriptor is closed in the context or the retry interval
     * passes (cio__slot_park). */
    return out_of_descriptors(err) ? CIO__PERFORM_DONE_PARK : CIO__PERFORM_DONE;
}

/* ---- The accept operation's settle step. ---- */

/* The accept op's settle step: opens the peer on its context before the
 * handler runs (so the handler can use it). Given no context (the context
 * is being destroyed) it closes any accepted descriptor. */
static void accept_settle(struct cio_context *ctx, struct cio__op *base)
{
    struct accept_op *op = (struct accept_op *)base;
    if (op->fd < 0)
        return;
    if (!ctx || cio_failed(base->ec))
        cio__sys.close(op->fd);
    else
        base->ec = adopt_peer(op->peer_ctx, op->peer, op->family, op->fd, &op->addr, op->addrlen,
                              op->peer_ep);
    op->fd = -1;
}

/* ---- Asynchronous starters. ---- */

/* Checks what cannot be reported to a handler. */
static bool start_allowed(struct cio_context *ctx, cio_handler h, const char *operation)
{
    if (ctx && h.fn)
        return true;
    cio_throw(operation, sys_error(EINVAL));
    return false;
}

/* Allocates an I/O op (speculative, no buffer, no flags, result success);
 * raises no_memory through the throw hook on failure. */
static struct cio__io_op *new_op(size_t size, cio_handler h, cio__perform_fn perform,
                                 enum cio__dir dir, enum cio__io_kind kind, const char *operation)
{
    struct cio__io_op *op = cio__io_op_new(size, h, perform, dir, kind);
    if (!op)
        cio_throw(operation, sys_error(ENOMEM));
    return op;
}

/* Makes op's handler run through so's executor, if it has one of its own.
 * False (op freed, no_memory raised) when that cannot be allocated. */
static bool bind_object(const struct cio__socket *so, struct cio__io_op *op,
                        const char *operation)
{
    if (!so->ex.ops || cio__op_bind_executor(&op->base, so->ex))
        return true;
    cio__op_free(op);
    cio_throw(operation, sys_error(ENOMEM));
    return false;
}

void cio__socket_post(struct cio_context *ctx, const struct cio__socket *so, cio_handler h,
                      cio_error e, const char *operation)
{
    struct cio__io_op *op = new_op(sizeof *op, h, NULL, CIO__DIR_READ, CIO__IO_OTHER, operation);
    if (!op || !bind_object(so, op, operation))
        return;
    op->base.ec = e;
    cio__post_started(ctx, &op->base);
}

void __attribute__((noinline))
cio__socket_start_transfer_checked(struct cio_context *ctx, struct cio__socket *so, void *buf,
                                   size_t len, int flags, cio_handler h, enum cio__io_kind kind,
                                   const char *operation)
{
    if (!start_allowed(ctx, h, operation))
        return;
    cio_error e = check_io(so, buf, len);
    if (cio_failed(e) || len == 0) {
        cio__socket_post(ctx, so, h, e, operation);
        return;
    }
    struct cio__io_op *op = new_op(sizeof *op, h, NULL, CIO__DIR_READ, kind, operation);
    if (!op)
        return;
    cio__socket_fill_transfer(op, buf, len, flags, h, kind);
    if (!bind_object(so, op, operation))
        return;
    cio__slot_start_connected(ctx, so->slot, op, CIO_CANCEL_ALL);
}

/* A message op's settle step: a datagram's empty message is no eof (a
 * completion backend reports the kernel's 0 as eof), then the protocol's
 * finish step, given the context or NULL as settle is. */
static void msg_settle(struct cio_context *ctx, struct cio__op *base)
{
    struct cio__msg_op *op = (struct cio__msg_op *)base;
    if ((op->mode & CIO__MSG_DATAGRAM) && cio_error_equal(base->ec, cio_error_misc(CIO_MISC_EOF)))
        base->ec = cio_error_none();
    if (op->finish)
        op->finish(ctx, op);
}

struct cio__msg_op *cio__socket_msg_op_new(struct cio_context *ctx, struct cio__socket *so,
                                           size_t size, const void *bufs, size_t count, int flags,
                                           unsigned mode, cio_handler h,
                                           cio__msg_finish_fn finish, const char *operation)
{
    if (!start_allowed(ctx, h, operation))
        return NULL;
    cio_error e = check_io(so, bufs, count);
    if (cio_failed(e)) {
        cio__socket_post(ctx, so, h, e, operation);
        return NULL;
    }
    struct sequence q = sequence_of(bufs, count);
    struct cio__msg_op *op = (struct cio__msg_op *)cio__op_alloc(size);
    if (!op) {
        cio_throw(operation, sys_error(ENOMEM));
        return NULL;
    }
    /* The one-buffer fill, then the sequence in its place. */
    cio__socket_msg_fill(op, NULL, 0, flags, mode, h, finish);
    struct cio__io_op *io = &op->io;
    msg_init(&op->msg, bufs, q.count);
    if (q.count <= CIO__MSG_OP_IOVS) {
        for (size_t i = 0; i < q.count; i++)
            op->iov[i] = buffer_at(bufs, i);
        op->msg.msg_iov = q.count ? op->iov : NULL;
    }
    io->len = q.total;
    if (!bind_object(so, io, operation))
        return NULL;
    return op;
}

void cio__socket_msg_fill(struct cio__msg_op *op, void *buf, size_t len, int flags, unsigned mode,
                          cio_handler h, cio__msg_finish_fn finish)
{
    bool sends = mode & CIO__MSG_SEND;
    struct cio__io_op *io = &op->io;
    cio__op_init(&io->base, h);
    io->perform = msg_perform;
    io->dir = sends ? CIO__DIR_WRITE : CIO__DIR_READ;
    io->kind = sends ? CIO__IO_SENDMSG : CIO__IO_RECVMSG;
    io->speculative = true;
    io->detached = false;
    io->flags = sends ? flags | MSG_NOSIGNAL : flags;
    io->buf = &op->msg;
    io->len = len;
    op->iov[0].iov_base = buf;
    op->iov[0].iov_len = len;
    op->msg.msg_name = NULL;
    op->msg.msg_namelen = 0;
    op->msg.msg_iov = op->iov;
    op->msg.msg_iovlen = 1;
    op->msg.msg_control = NULL;
    op->msg.msg_controllen = 0;
    op->msg.msg_flags = 0;
    op->finish = finish;
    op->mode = mode;
    if (finish || (mode & CIO__MSG_DATAGRAM))
        cio__op_set_settle(&io->base, msg_settle);
}

void cio__socket_msg_start(struct cio_context *ctx, struct cio__socket *so, struct cio__msg_op *op)
{
    cio__slot_start_connected(ctx, so->slot, &op->io, CIO_CANCEL_ALL);
}

struct cio__io_op *cio__socket_op_new(struct cio_context *ctx, struct cio__socket *so, size_t size,
                                      cio_handler h, cio__perform_fn perform, enum cio__dir dir,
                                      const char *operation)
{
    if (!start_allowed(ctx, h, operation))
        return NULL;
    if (!so->slot) {
        cio__socket_post(ctx, so, h, sys_error(EBADF), operation);
        return NULL;
    }
    struct cio__io_op *op = new_op(size, h, perform, dir, CIO__IO_OTHER, operation);
    if (!op || !bind_object(so, op, operation))
        return NULL;
    return op;
}

void cio__socket_op_start(struct cio_context *ctx, struct cio__socket *so, struct cio__io_op *op,
                          unsigned kinds)
{
    cio__slot_start_connected(ctx, so->slot, op, kinds);
}

cio_error cio__socket_wait_ready(const struct cio__socket *so, short events)
{
    int err = wait_ready(so, events);
    return err ? sys_error(err) : cio_error_none();
}

/* Starts a stream's RECVMSG or SENDMSG op over the sequence bufs. */
static void start_message(struct cio_context *ctx, struct cio__socket *so, const void *bufs,
                          size_t count, int flags, cio_handler h, enum cio__io_kind kind,
                          const char *operation)
{
    unsigned mode = cio__io_kind_sends(kind) ? CIO__MSG_SEND : 0;
    struct cio__msg_op *op = cio__socket_msg_op_new(ctx, so, sizeof *op, bufs, count, flags, mode,
                                                    h, NULL, operation);
    if (op)
        cio__socket_msg_start(ctx, so, op);
}

void cio__socket_start_buffers(struct cio_context *ctx, struct cio__socket *so, const void *bufs,
                               size_t count, int flags, cio_handler h, enum cio__io_kind kind,
                               const char *operation)
{
    if (!start_allowed(ctx, h, operation))
        return;
    cio_error e = check_io(so, bufs, count);
    if (cio_failed(e)) {
        cio__socket_post(ctx, so, h, e, operation);
        return;
    }
    struct sequence q = sequence_of(bufs, count);
    if (q.filled > 1)
        start_message(ctx, so, bufs, count, flags, h, kind, operation);
    else if (!cio__socket_start_transfer(ctx, so, q.one.iov_base, q.one.iov_len, flags, h, kind))
        cio__socket_start_transfer_checked(ctx, so, q.one.iov_base, q.one.iov_len, flags, h, kind,
                                           operation);
}


/* Opens so if needed and calls connect(). Returns success when connected at
 * once, in_progress when the outcome is to be waited for, or the error. */
static cio_error connect_begin(struct cio_context *ctx, struct cio__socket *so,
                               const struct cio_endpoint *ep, int type, int protocol)
{
    socklen_t len = endpoint_size(ep);
    if (!len)
        return sys_error(EINVAL);
    if (!so->slot) {
        cio_error e = cio__socket_open(ctx, so, cio_endpoint_family(ep), type, protocol);
        if (cio_failed(e))
            return e;
    }
    if (cio__sys.connect(so->fd, &ep->addr.sa, len) == 0)
        return cio_error_none();
    if (errno == EINTR)
        return sys_error(EINPROGRESS);
    return sys_error(errno);
}

void cio__socket_async_connect(struct cio_context *ctx, struct cio__socket *so,
                               const struct cio_endpoint *ep, int type, int protocol, cio_handler h,
                               const char *operation)
{
    if (!start_allowed(ctx, h, operation))
        return;
    cio_error e = connect_begin(ctx, so, ep, type, protocol);
    if (!cio_error_equal(e, sys_error(EINPROGRESS))) {
        cio__socket_post(ctx, so, h, e, operation);
        return;
    }
    struct cio__io_op *op =
        new_op(sizeof *op, h, connect_perform, CIO__DIR_WRITE, CIO__IO_CONNECT, operation);
    if (!op)
        return;
    /* Speculative: tried at once when the slot looks writable. Its readiness
     * may be stale (an unconnected socket reads as writable), which
     * connect_perform's own zero-timeout poll sees through; and on a context
     * several threads run, the edge that says "connected" may already have
     * been taken by another runner before the op was queued, so waiting for
     * the next edge could wait for ever. */
    if (!bind_object(so, op, operation))
        return;
    cio__slot_start_connected(ctx, so->slot, op, CIO_CANCEL_TERMINAL | CIO_CANCEL_PARTIAL);
}

void cio__socket_async_accept(struct cio_context *ctx, struct cio__socket *so,
                              struct cio_context *peer_ctx, struct cio__socket *peer,
                              struct cio_endpoint *peer_ep, cio_handler h, const char *operation)
{
    if (!start_allowed(ctx, h, operation))
        return;
    cio_error e = check_accept(so, peer_ctx, peer);
    if (cio_failed(e)) {
        cio__socket_post(ctx, so, h, e, operation);
        return;
    }
    struct cio__io_op *io = new_op(sizeof(struct accept_op), h, accept_perform, CIO__DIR_READ,
                                   CIO__IO_ACCEPT, operation);
    if (!io)
        return;
    struct accept_op *op = (struct accept_op *)io;
    cio__op_set_settle(&io->base, accept_settle);
    op->peer_ctx = peer_ctx;
    op->peer = peer;
    op->peer_ep = peer_ep;
    op->family = so->family;
    op->fd = -1;
    op->addrlen = 0;
    if (!bind_object(so, io, operation))
        return;
    cio__slot_start_connected(ctx, so->slot, io, CIO_CANCEL_ALL);
}

void cio__socket_async_wait(struct cio_context *ctx, struct cio__socket *so, enum cio__dir dir,
                            cio_error refuse, cio_handler h, const char *operation)
{
    if (!start_allowed(ctx, h, operation))
        return;
    cio_error e = so->slot ? refuse : sys_error(EBADF);
    if (cio_failed(e)) {
        cio__socket_post(ctx, so, h, e, operation);
        return;
    }
    /* Speculative: a socket ready already completes at the first chance. */
    struct cio__io_op *op = new_op(sizeof *op, h, wait_perform, dir, CIO__IO_OTHER, operation);
    if (!op || !bind_object(so, op, operation))
        return;
    cio__slot_start_connected(ctx, so->slot, op, CIO_CANCEL_ALL);
}

/* ---- Sockets named by a raw address (local sockets, whose sockaddr_un a
 * struct cio_endpoint does not hold): bind, connect, names and pairs over a
 * (struct sockaddr *, socklen_t) pair. ---- */

cio_error cio__socket_bind_addr(struct cio__socket *so, const struct sockaddr *sa, socklen_t len)
{
    if (!so->slot)
        return sys_error(EBADF);
    if (!sa || len < sizeof(sa_family_t))
        return sys_error(EINVAL);
    if (cio__sys.bind(so->fd, sa, len) < 0)
        return sys_error(errno);
    return cio_error_none();
}

/* Opens so for sa's family if needed and calls connect(): success when
 * connected at once, in_progress when the outcome is to be waited for, or
 * the error (an AF_UNIX listener's full backlog is would_block: Linux does
 * not let a non-blocking connect wait for room). */
static cio_error addr_connect_begin(struct cio_context *ctx, struct cio__socket *so,
                                    const struct sockaddr *sa, socklen_t len, int type,
                                    int protocol)
{
    if (!sa || len < sizeof(sa_family_t))
        return sys_error(EINVAL);
    if (!so->slot) {
        cio_error e = cio__socket_open(ctx, so, sa->sa_family, type, protocol);
        if (cio_failed(e))
            return e;
    }
    if (cio__sys.connect(so->fd, sa, len) == 0)
        return cio_error_none();
    return sys_error(errno == EINTR ? EINPROGRESS : errno);
}

cio_error cio__socket_connect_addr(struct cio_context *ctx, struct cio__socket *so,
                                   const struct sockaddr *sa, socklen_t len, int type, int protocol)
{
    cio_error e = addr_connect_begin(ctx, so, sa, len, type, protocol);
    if (!cio_error_equal(e, sys_error(EINPROGRESS)))
        return e;
    int err = poll_wait(so->fd, POLLOUT);
    return err ? sys_error(err) : pending_error(so->fd);
}

void cio__socket_async_connect_addr(struct cio_context *ctx, struct cio__socket *so,
                                    const struct sockaddr *sa, socklen_t len, int type,
                                    int protocol, cio_handler h, const char *operation)
{
    if (!start_allowed(ctx, h, operation))
        return;
    cio_error e = addr_connect_begin(ctx, so, sa, len, type, protocol);
    if (!cio_error_equal(e, sys_error(EINPROGRESS))) {
        cio__socket_post(ctx, so, h, e, operation);
        return;
    }
    struct cio__io_op *op =
        new_op(sizeof *op, h, connect_perform, CIO__DIR_WRITE, CIO__IO_CONNECT, operation);
    if (!op || !bind_object(so, op, operation))
        return;
    cio__slot_start_connected(ctx, so->slot, op, CIO_CANCEL_TERMINAL | CIO_CANCEL_PARTIAL);
}

cio_error cio__socket_name(const struct cio__socket *so, bool peer, struct sockaddr *sa,
                           socklen_t *len)
{
    if (!so->slot)
        return sys_error(EBADF);
    if (!sa || !len)
        return sys_error(EINVAL);
    int r = peer ? cio__sys.getpeername(so->fd, sa, len) : cio__sys.getsockname(so->fd, sa, len);
    return r < 0 ? sys_error(errno) : cio_error_none();
}

cio_error cio__socket_pair(struct cio_context *ctx_a, struct cio__socket *a,
                           struct cio_context *ctx_b, struct cio__socket *b, int family, int type,
                           int protocol)
{
    if (a->slot || b->slot)
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    if (!ctx_a || !ctx_b || a == b)
        return sys_error(EINVAL);
    int fds[2];
    if (cio__sys.socketpair(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol, fds) < 0)
        return sys_error(errno);
    cio_error e = cio__socket_assign(ctx_a, a, family, fds[0]);
    if (cio_failed(e)) {
        cio__sys.close(fds[0]);
        cio__sys.close(fds[1]);
        return e;
    }
    e = cio__socket_assign(ctx_b, b, family, fds[1]);
    if (cio_failed(e)) {
        cio__socket_close(ctx_a, a); /* closes fds[0] */
        cio__sys.close(fds[1]);
    }
    return e;
}

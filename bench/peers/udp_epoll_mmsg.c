/*
 * udp_epoll_mmsg - the floor of the readiness model for batched UDP: a hand-written,
 * single-threaded epoll echo server moving up to 64 datagrams per system call.
 *
 *   udp_epoll_mmsg PORT
 *
 * Binds 127.0.0.1:PORT and echoes every datagram back to its sender. The socket is
 * registered once, EPOLLIN|EPOLLET; the 64 headers are set up once, and after each batch
 * only what the kernel changed in them is put back. On readiness: recvmmsg of up to 64 datagrams
 * (MSG_DONTWAIT), then one sendmmsg of them all back to their senders (again from where the
 * kernel stopped, if it took only some), and again while the batch was full. A batch shorter
 * than 64 means the queue was empty at that moment; any datagram arriving later raises a new
 * edge, so no extra read to see EAGAIN is made (with one datagram per wake-up: epoll_wait,
 * recvmmsg, sendmmsg = 3 calls). A datagram the kernel cannot take at once (EAGAIN, ENOBUFS)
 * is dropped, as UDP may: the load generator counts it lost. SIGINT or SIGTERM ends it
 * (udp_peer.h: the binding, the signals and the wait loop).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>

#include "udp_peer.h"

#define BATCH 64
#define BUF_SIZE 65536 /* the largest datagram */

static unsigned char bufs[BATCH][BUF_SIZE];
static struct sockaddr_storage names[BATCH];
static struct iovec iovs[BATCH];
static struct mmsghdr msgs[BATCH];

/* Sets up the headers of the whole batch, once: later only what a transfer changed is put
 * back (echo_batch). */
static void batch_init(void)
{
    for (unsigned k = 0; k < BATCH; k++) {
        iovs[k] = (struct iovec){bufs[k], BUF_SIZE};
        msgs[k].msg_hdr = (struct msghdr){.msg_name = &names[k],
                                          .msg_namelen = sizeof names[k],
                                          .msg_iov = &iovs[k],
                                          .msg_iovlen = 1};
    }
}

/* Sends msgs[0 .. n-1] back (iov_len set to each datagram's length), dropping one the
 * kernel refuses; then makes those n headers ready for a receive again. */
static void echo_batch(int fd, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        iovs[k].iov_len = msgs[k].msg_len;
    unsigned done = 0;
    while (done < n) {
        int w = sendmmsg(fd, msgs + done, n - done, 0);
        if (w > 0)
            done += (unsigned)w;
        else if (w < 0 && errno == EINTR)
            continue;
        else
            done++; /* the first one failed (EAGAIN, ENOBUFS, ...): drop it */
    }
    for (unsigned k = 0; k < n; k++) {
        iovs[k].iov_len = BUF_SIZE;
        msgs[k].msg_hdr.msg_namelen = sizeof names[k];
    }
}

/* Echoes batches until one is short. Returns -1 on a socket error. */
static int drain(int fd)
{
    static int ready;
    if (!ready) {
        batch_init();
        ready = 1;
    }
    for (;;) {
        int r = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (r < 0) {
            int again = udp_peer_receive_failed();
            if (again > 0)
                continue;
            return again;
        }
        echo_batch(fd, (unsigned)r);
        if (r < BATCH)
            return 0;
    }
}

int main(int argc, char **argv)
{
    return udp_peer_main(argc, argv, "udp_epoll_mmsg", drain);
}

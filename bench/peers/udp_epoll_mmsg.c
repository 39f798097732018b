/*
 * udp_epoll_mmsg - the floor of the readiness model for batched UDP: a hand-written,
 * single-threaded epoll echo server moving up to 64 datagrams per system call.
 *
 *   udp_epoll_mmsg PORT
 *
 * Binds 127.0.0.1:PORT and echoes every datagram back to its sender. The socket is
 * registered once, EPOLLIN|EPOLLET. On readiness: recvmmsg of up to 64 datagrams
 * (MSG_DONTWAIT), then one sendmmsg of them all back to their senders (again from where the
 * kernel stopped, if it took only some), and again while the batch was full. A batch shorter
 * than 64 means the queue was empty at that moment; any datagram arriving later raises a new
 * edge, so no extra read to see EAGAIN is made (with one datagram per wake-up: epoll_wait,
 * recvmmsg, sendmmsg = 3 calls). A datagram the kernel cannot take at once (EAGAIN, ENOBUFS)
 * is dropped, as UDP may: the load generator counts it lost. SIGINT or SIGTERM ends it
 * (they are blocked except inside epoll_pwait, so none is missed).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define BUF_SIZE 65536 /* the largest datagram */

static volatile sig_atomic_t stop;
static unsigned char bufs[BATCH][BUF_SIZE];
static struct sockaddr_storage names[BATCH];
static struct iovec iovs[BATCH];
static struct mmsghdr msgs[BATCH];

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Sends msgs[0 .. n-1] back (iov_len set to each datagram's length), dropping one the
 * kernel refuses. */
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
}

/* Echoes batches until one is short. Returns -1 on a socket error. */
static int drain(int fd)
{
    for (;;) {
        for (unsigned k = 0; k < BATCH; k++) {
            iovs[k] = (struct iovec){bufs[k], BUF_SIZE};
            msgs[k].msg_hdr = (struct msghdr){.msg_name = &names[k],
                                              .msg_namelen = sizeof names[k],
                                              .msg_iov = &iovs[k],
                                              .msg_iovlen = 1};
        }
        int r = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        echo_batch(fd, (unsigned)r);
        if (r < BATCH)
            return 0;
    }
}

/* A non-blocking UDP socket bound to 127.0.0.1:port, or -1. */
static int bind_udp(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        return -1;
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: udp_epoll_mmsg PORT\n");
        return 2;
    }
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int fd = bind_udp(atoi(argv[1]));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    if (fd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("udp_epoll_mmsg");
        return 1;
    }
    while (!stop) {
        struct epoll_event got;
        int n = epoll_pwait(ep, &got, 1, -1, &old);
        if (n < 0 && errno != EINTR) {
            perror("udp_epoll_mmsg: epoll_pwait");
            return 1;
        }
        if (n > 0 && drain(fd) < 0) {
            perror("udp_epoll_mmsg: recvmmsg");
            return 1;
        }
    }
    close(fd);
    close(ep);
    return 0;
}

/*
 * udp_epoll - the floor of the readiness model for UDP, one datagram per system call: a
 * hand-written, single-threaded epoll echo server.
 *
 *   udp_epoll PORT
 *
 * Binds 127.0.0.1:PORT and echoes every datagram back to its sender. The socket is
 * registered once, EPOLLIN|EPOLLET. On readiness it takes datagrams with recvfrom and sends
 * each straight back with sendto, until recvfrom says EAGAIN: one read per datagram cannot
 * tell that the queue is empty, so every wake-up ends with one read that finds nothing
 * (with one datagram per wake-up: epoll_wait, recvfrom, sendto, recvfrom = 4 calls). A
 * datagram the kernel cannot take at once (EAGAIN, ENOBUFS) is dropped, as UDP may: the
 * load generator counts it lost. SIGINT or SIGTERM ends it (they are blocked except inside
 * epoll_pwait, so none is missed).
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

#define BUF_SIZE 65536 /* the largest datagram */

static volatile sig_atomic_t stop;
static unsigned char buf[BUF_SIZE];

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Echoes datagrams until the socket's queue is empty. Returns -1 on a socket error. */
static int drain(int fd)
{
    for (;;) {
        struct sockaddr_storage from;
        socklen_t len = sizeof from;
        ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        ssize_t w;
        do
            w = sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, len);
        while (w < 0 && errno == EINTR);
        /* w < 0 (EAGAIN, ENOBUFS, ...): the datagram is dropped */
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
        fprintf(stderr, "usage: udp_epoll PORT\n");
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
        perror("udp_epoll");
        return 1;
    }
    while (!stop) {
        struct epoll_event got;
        int n = epoll_pwait(ep, &got, 1, -1, &old);
        if (n < 0 && errno != EINTR) {
            perror("udp_epoll: epoll_pwait");
            return 1;
        }
        if (n > 0 && drain(fd) < 0) {
            perror("udp_epoll: recvfrom");
            return 1;
        }
    }
    close(fd);
    close(ep);
    return 0;
}

/*
 * udp_peer.h - what the hand-written epoll UDP echo peers (udp_epoll.c, udp_epoll_mmsg.c)
 * share: a socket bound to 127.0.0.1:PORT, SIGINT and SIGTERM blocked except inside
 * epoll_pwait (so none is missed), and the loop that waits and calls the peer's drain
 * function on readiness. Each peer includes it once (its functions are static).
 */
#ifndef UDP_PEER_H
#define UDP_PEER_H

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

static volatile sig_atomic_t udp_peer_stop;

static void udp_peer_on_signal(int sig)
{
    (void)sig;
    udp_peer_stop = 1;
}

/* A non-blocking UDP socket bound to 127.0.0.1:port, or -1. */
static int udp_peer_bind(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        return -1;
    return fd;
}

/* After a receive failed: 1 to try again (EINTR), 0 when the queue is empty (EAGAIN), -1 on
 * a socket error. */
static int udp_peer_receive_failed(void)
{
    if (errno == EINTR)
        return 1;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
    return -1;
}

/*
 * The whole peer: `name PORT`; binds, registers the socket once (EPOLLIN|EPOLLET) and calls
 * drain(fd) on every readiness until SIGINT or SIGTERM. drain returns -1 on a socket error
 * (the peer then exits 1). Returns main's exit status.
 */
static int udp_peer_main(int argc, char **argv, const char *name, int (*drain)(int fd))
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", name);
        return 2;
    }
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    struct sigaction sa = {.sa_handler = udp_peer_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int fd = udp_peer_bind(atoi(argv[1]));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    if (fd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror(name);
        return 1;
    }
    while (!udp_peer_stop) {
        struct epoll_event got;
        int n = epoll_pwait(ep, &got, 1, -1, &old);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "%s: epoll_pwait: %s\n", name, strerror(errno));
            return 1;
        }
        if (n > 0 && drain(fd) < 0) {
            fprintf(stderr, "%s: receive: %s\n", name, strerror(errno));
            return 1;
        }
    }
    close(fd);
    close(ep);
    return 0;
}

#endif /* UDP_PEER_H */

/*
 * epoll_echo - the floor of the readiness model: a hand-written, single-threaded,
 * edge-triggered epoll echo server.
 *
 *   epoll_echo PORT
 *
 * Every accepted socket is registered once, EPOLLIN|EPOLLOUT|EPOLLET, and never touched by
 * epoll_ctl again. On EPOLLIN it reads and writes each chunk straight back. A read that
 * returns less than the buffer holds means the socket's receive queue was empty at that
 * moment (epoll(7): for a stream socket a short read shows the space is exhausted), so no
 * extra read to see EAGAIN is made; the next arrival raises a new edge. If the peer's
 * window is full the unsent rest stays in the connection and is flushed on EPOLLOUT, and
 * reading pauses until it is (no unbounded buffering).
 *
 * Per connection: one struct with a 16 KiB buffer (the same size every peer uses).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 16384
#define MAX_EVENTS 256

struct conn {
    int fd;
    size_t pend_off, pend_len;  /* unsent bytes in buf, when the peer's window was full */
    char buf[BUF_SIZE];
};

static int listen_fd;
static struct conn listener_tag;  /* data.ptr of the listening socket */

static void conn_close(int ep, struct conn *c)
{
    (void)ep;
    close(c->fd);  /* closing removes it from the epoll set */
    free(c);
}

/* Write buf[pend_off, pend_off+pend_len). Returns -1 on error, 0 if blocked, 1 when done. */
static int flush(struct conn *c)
{
    while (c->pend_len) {
        ssize_t w = send(c->fd, c->buf + c->pend_off, c->pend_len, MSG_NOSIGNAL);
        if (w > 0) {
            c->pend_off += (size_t)w;
            c->pend_len -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            return -1;
        }
    }
    return 1;
}

static void on_readable(int ep, struct conn *c)
{
    for (;;) {
        if (c->pend_len)
            return;  /* wait for EPOLLOUT before reading more */
        ssize_t r = recv(c->fd, c->buf, BUF_SIZE, 0);
        if (r > 0) {
            c->pend_off = 0;
            c->pend_len = (size_t)r;
            int f = flush(c);
            if (f < 0) {
                conn_close(ep, c);
                return;
            }
            if (f == 0 || (size_t)r < BUF_SIZE)
                return;  /* blocked on write, or the receive queue is drained */
        } else if (r == 0) {
            conn_close(ep, c);
            return;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else {
            conn_close(ep, c);
            return;
        }
    }
}

static void on_accept(int ep)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                perror("accept4");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->pend_off = c->pend_len = 0;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: epoll_echo PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(listen_fd, SOMAXCONN) < 0) {
        perror("epoll_echo: bind/listen");
        return 1;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN | EPOLLET, .data.ptr = &listener_tag};
    epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &lev);

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (c == &listener_tag) {
                on_accept(ep);
                continue;
            }
            if ((e & EPOLLOUT) && c->pend_len) {
                int f = flush(c);
                if (f < 0) {
                    conn_close(ep, c);
                    continue;
                }
                if (f > 0)
                    e |= EPOLLIN;  /* resume reading what arrived meanwhile */
            }
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                on_readable(ep, c);
        }
    }
}

/*
 * tcp_pair.h - a connected TCP loopback pair for the micro-benchmarks (deadline_*): listen on
 * 127.0.0.1:0, connect, accept, TCP_NODELAY on both ends. Plain POSIX calls, so every
 * implementation adopts the same kind of socket (cio_tcp_socket_assign, Asio's assign,
 * uv_tcp_open). Exits the program on failure. C and C++.
 */
#ifndef BENCH_TCP_PAIR_H
#define BENCH_TCP_PAIR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void tcp_pair_die(const char *what)
{
    perror(what);
    exit(1);
}

/* fds[0]: the connecting end; fds[1]: the accepted one. */
static void tcp_pair(int fds[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0)
        tcp_pair_die("socket");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) < 0)
        tcp_pair_die("listen");
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&sa, sizeof sa) < 0)
        tcp_pair_die("connect");
    fds[1] = accept(l, NULL, NULL);
    if (fds[1] < 0)
        tcp_pair_die("accept");
    close(l);
    int one = 1;
    for (int i = 0; i < 2; i++)
        if (setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
            tcp_pair_die("TCP_NODELAY");
}

#endif /* BENCH_TCP_PAIR_H */

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
 * load generator counts it lost. SIGINT or SIGTERM ends it
 * (udp_peer.h: the binding, the signals and the wait loop).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>

#include "udp_peer.h"

#define BUF_SIZE 65536 /* the largest datagram */

static unsigned char buf[BUF_SIZE];

/* Echoes datagrams until the socket's queue is empty. Returns -1 on a socket error. */
static int drain(int fd)
{
    for (;;) {
        struct sockaddr_storage from;
        socklen_t len = sizeof from;
        ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (r < 0) {
            int again = udp_peer_receive_failed();
            if (again > 0)
                continue;
            return again;
        }
        ssize_t w;
        do
            w = sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, len);
        while (w < 0 && errno == EINTR);
        /* w < 0 (EAGAIN, ENOBUFS, ...): the datagram is dropped */
    }
}

int main(int argc, char **argv)
{
    return udp_peer_main(argc, argv, "udp_epoll", drain);
}

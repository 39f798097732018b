/*
 * fd_passing.c - passing a descriptor to another process over a local
 * socket pair (cio/local.h, SCM_RIGHTS).
 *
 * The parent makes a control pair, forks, and hands the child the read end
 * of a pipe (cio_connect_pipe) it has written a message into. The child
 * receives that descriptor with cio_local_stream_socket_async_receive_with_fds,
 * adopts it as a stream descriptor (cio/stream_descriptor.h), reads the
 * message to its end through cio and prints it. The parent waits for the
 * child and exits with its status (0).
 *
 * Run: build/examples/fd_passing
 *
 * A context is not shared across fork: the child leaves the parent's alone
 * and makes its own.
 */
#include <cio.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* The child: what it received and read. */
struct child {
    struct cio_local_stream_socket control; /* its end of the control pair */
    struct cio_stream_descriptor data;      /* the descriptor it was given */
    char tag[8];                            /* the bytes sent with the descriptor */
    int fds[1];                             /* the descriptor received */
    size_t nfds;                            /* how many came */
    char text[128];                         /* what it read through data */
    size_t len;                             /* bytes of text */
};

static void on_read(void *user, cio_error ec, size_t n)
{
    struct child *c = user;
    c->len += n;
    if (cio_failed(ec)) { /* eof: the parent's end is closed, the message is whole */
        printf("child read: %.*s", (int)c->len, c->text);
        return;
    }
    cio_stream_descriptor_async_read_some(&c->data, c->text + c->len, sizeof c->text - c->len,
                                          cio_handler_make(on_read, c));
}

static void on_descriptor(void *user, cio_error ec, size_t n)
{
    struct child *c = user;
    (void)n;
    if (cio_failed(ec) || c->nfds != 1) {
        fprintf(stderr, "child: receive: %s\n", cio_error_message(ec));
        return;
    }
    if (cio_stream_descriptor_assign(&c->data, c->fds[0], &ec) < 0) {
        fprintf(stderr, "child: assign: %s\n", cio_error_message(ec));
        return;
    }
    on_read(c, cio_error_none(), 0);
}

static int run_child(int control_fd)
{
    cio_error ec;
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx)
        return 1;
    struct child c = {0};
    cio_local_stream_socket_init(&c.control, ctx);
    cio_stream_descriptor_init(&c.data, ctx);
    cio_local_stream_socket_assign(&c.control, control_fd, NULL);
    cio_local_stream_socket_async_receive_with_fds(&c.control, c.tag, sizeof c.tag, c.fds, 1,
                                                   &c.nfds, cio_handler_make(on_descriptor, &c));
    cio_context_run(ctx);
    int status = c.len > 0 ? 0 : 1;
    cio_stream_descriptor_close(&c.data, NULL);
    cio_socket_close(&c.control.socket, NULL);
    cio_context_destroy(ctx);
    return status;
}

int main(void)
{
    cio_error ec;
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx)
        return 1;
    struct cio_local_stream_socket mine, theirs;
    struct cio_stream_descriptor data_r, data_w;
    cio_local_stream_socket_init(&mine, ctx);
    cio_local_stream_socket_init(&theirs, ctx);
    cio_stream_descriptor_init(&data_r, ctx);
    cio_stream_descriptor_init(&data_w, ctx);
    cio_local_stream_connect_pair(&mine, &theirs, NULL); /* failures go to the throw hook */

    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        int status = run_child(cio_socket_native_handle(&theirs.socket));
        fflush(stdout);
        _exit(status); /* the parent's context is the parent's to destroy */
    }
    cio_socket_close(&theirs.socket, NULL);

    /* The descriptor to give: a pipe's read end with a message waiting in
     * the pipe, whose write end is closed (the child reads to eof). */
    cio_connect_pipe(&data_r, &data_w, NULL);
    const char message[] = "hello through a passed descriptor\n";
    cio_stream_descriptor_write_some(&data_w, message, sizeof message - 1, NULL);
    cio_stream_descriptor_close(&data_w, NULL);
    int fd = cio_stream_descriptor_native_handle(&data_r);
    cio_local_stream_socket_send_with_fds(&mine, "fd", 2, &fd, 1, NULL);
    cio_stream_descriptor_close(&data_r, NULL); /* the child has its own copy now */

    int status = 1;
    waitpid(pid, &status, 0);
    cio_socket_close(&mine.socket, NULL);
    cio_context_destroy(ctx);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/*
 * serial_port_test.c - serial ports (cio/serial_port.h), over a
 * pseudo-terminal pair (openpty): the port opens the slave by its name, the
 * test talks through the master (plain read/write, or a stream descriptor
 * assigned a copy of it).
 *
 * What is checked: open puts the device in raw mode; opening a
 * non-terminal (/dev/null: ENOTTY, closed again) or a missing path
 * (ENOENT), a NULL path and an open port; sync, async and composed reads
 * and writes through the master; each option's set/get round trip, the
 * values an option has no setting for (invalid_argument), onepointfive
 * (operation_not_supported), the settings a pseudo-terminal refuses (7 data
 * bits, parity: its driver keeps 8 bits and no parity) and one refused by an
 * injected tcsetattr that "succeeds" without applying anything; send_break;
 * close with a read pending; assign and release; bad input. Every
 * descriptor is closed by a test's end (checked).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cio/cancel.h"
#include "cio/serial_port.h"
#include "cio/stream.h"
#include "cio/stream_descriptor.h"
#include "core/syscall.h"
#include "test_util.h"

/* ---- The suite. ---- */

static struct cio_context *ctx;
static struct cio_serial_port port;
static int master = -1;
static char slave_name[128];
static int fds_at_start;

static void setup(void)
{
    signal(SIGPIPE, SIG_DFL);
    fds_at_start = tu_open_fds();
    ctx = tu_context();
    cio_serial_port_init(&port, ctx);
}

static void teardown(void)
{
    cio__syscall_reset();
    if (!ctx)
        return;
    cio_serial_port_close(&port, NULL);
    if (master >= 0)
        close(master);
    master = -1;
    cio_context_destroy(ctx);
}

TestSuite(serial, .init = setup, .fini = teardown, .timeout = 30);

static void finish(void)
{
    cio__syscall_reset();
    cio_serial_port_close(&port, NULL);
    if (master >= 0)
        close(master);
    master = -1;
    cio_context_destroy(ctx);
    ctx = NULL;
    int now = tu_open_fds();
    cr_assert_eq(now, fds_at_start, "descriptors leaked: %d open, %d at the start", now,
                 fds_at_start);
}

/* A pseudo-terminal pair: the master in `master`, the slave's name in
 * slave_name (the slave's own descriptor is closed again: the port opens
 * the device by its name). */
static void pty_now(void)
{
    int slave = -1;
    if (openpty(&master, &slave, slave_name, NULL, NULL) < 0)
        cr_skip_test("openpty: %s", strerror(errno));
    cio_error ec;
    int rc = cio_serial_port_open(&port, slave_name, &ec);
    close(slave);
    cr_assert_eq(rc, 0, "open %s: %s", slave_name, cio_error_message(ec));
    /* The master side raw too, so that bytes pass unchanged both ways. */
    struct termios t;
    cr_assert_eq(tcgetattr(master, &t), 0);
    cfmakeraw(&t);
    cr_assert_eq(tcsetattr(master, TCSANOW, &t), 0);
}

#define assert_system(ec, errno_value)                                                             \
    cr_assert(cio_error_equal((ec), cio_error_system(errno_value)), "expected %s, got %s (%d)",    \
              #errno_value, cio_error_message(ec), (ec).value)

/* Reads exactly len bytes from the master. */
static void master_read(char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(master, buf + got, len - got);
        cr_assert_gt(n, 0, "master read: %s", strerror(errno));
        got += (size_t)n;
    }
}

/* ---- Open. ---- */

Test(serial, open_puts_the_device_in_raw_mode)
{
    pty_now();
    cr_assert(cio_serial_port_is_open(&port));
    int fd = cio_serial_port_native_handle(&port);
    cr_assert_geq(fd, 0);
    struct termios t;
    cr_assert_eq(tcgetattr(fd, &t), 0);
    cr_assert_eq(t.c_lflag & (ICANON | ECHO | ISIG), 0u, "not raw: lflag %#x", t.c_lflag);
    cr_assert_eq(t.c_oflag & OPOST, 0u);
    cr_assert_eq(t.c_cflag & (CLOCAL | CREAD), (tcflag_t)(CLOCAL | CREAD));
    cr_assert_eq(t.c_cc[VMIN], 1);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    cio_error ec;
    cr_assert_eq(cio_serial_port_open(&port, slave_name, &ec), -1);
    cr_assert(cio_error_equal(ec, cio_error_misc(CIO_MISC_ALREADY_OPEN)));
    finish();
}

Test(serial, open_refuses_a_non_terminal_and_a_missing_path)
{
    cio_error ec;
    cr_assert_eq(cio_serial_port_open(&port, "/dev/null", &ec), -1);
    assert_system(ec, ENOTTY);
    cr_assert(!cio_serial_port_is_open(&port));
    cr_assert_eq(cio_serial_port_open(&port, "/nonexistent/tty-of-nobody", &ec), -1);
    assert_system(ec, ENOENT);
    cr_assert_eq(cio_serial_port_open(&port, NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_open(NULL, "/dev/null", &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    finish(); /* /dev/null was closed again */
}

/* ---- Read and write. ---- */

Test(serial, sync_and_async_round_trips_through_the_master)
{
    pty_now();
    cio_error ec;
    cr_assert_eq(write(master, "ping", 4), 4);
    char buf[16] = {0};
    size_t got = 0;
    while (got < 4) {
        size_t n = cio_serial_port_read_some(&port, buf + got, sizeof buf - got, &ec);
        TU_ASSERT_OK(ec);
        got += n;
    }
    cr_assert_str_eq(buf, "ping");
    cr_assert_eq(cio_serial_port_write_some(&port, "pong", 4, &ec), 4);
    TU_ASSERT_OK(ec);
    char m[8] = {0};
    master_read(m, 4);
    cr_assert_str_eq(m, "pong");

    static char abuf[8];
    memset(abuf, 0, sizeof abuf);
    struct tu_result r = {0}, w = {0};
    cio_serial_port_async_read_some(&port, abuf, 3, tu_handler(&r));
    tu_run_for(ctx, 10);
    cr_assert_eq(r.calls, 0, "a read completed with nothing sent");
    cr_assert_eq(write(master, "abc", 3), 3);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_gt(r.n, 0);
    cio_const_buffer two[2] = {{"xy", 2}, {"z", 1}};
    cio_serial_port_async_write_some_buffers(&port, two, 2, tu_handler(&w));
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    cr_assert_eq(w.n, 3);
    memset(m, 0, sizeof m);
    master_read(m, 3);
    cr_assert_str_eq(m, "xyz");
    finish();
}

Test(serial, composed_operations_over_the_stream_and_a_master_descriptor)
{
    pty_now();
    struct cio_stream_descriptor far;
    cio_stream_descriptor_init(&far, ctx);
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_assign(&far, dup(master), &ec), 0, "%s",
                 cio_error_message(ec));
    cio_stream s = cio_serial_port_stream(&port);
    struct tu_result w = {0}, r = {0};
    cio_async_write_all(s, "AT+OK\r\n", 7, tu_handler(&w));
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    cio_async_read_until_string(cio_stream_descriptor_stream(&far), &b, "\r\n", 2, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 7);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "AT+OK\r\n", 7), 0);
    cio_dynamic_buffer_consume(&b, cio_dynamic_buffer_size(&b));
    cr_assert_eq(cio_write_all(cio_stream_descriptor_stream(&far), "reply;", 6, &ec), 6);
    cr_assert_eq(cio_read_until_char(s, &b, ';', &ec), 6);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "reply;", 6), 0);
    cio_dynamic_buffer_free(&b);
    cio_stream_descriptor_close(&far, NULL);
    finish();
}

Test(serial, close_aborts_a_pending_read)
{
    pty_now();
    static char buf[4];
    struct tu_result r = {0};
    cio_serial_port_async_read_some(&port, buf, sizeof buf, tu_handler(&r));
    tu_run_for(ctx, 10);
    cr_assert_eq(cio_serial_port_cancel(&port, NULL), 0);
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    struct tu_result r2 = {0};
    cio_serial_port_async_read_some(&port, buf, sizeof buf, tu_handler(&r2));
    cr_assert_eq(cio_serial_port_close(&port, NULL), 0);
    tu_wait_result(ctx, &r2);
    TU_ASSERT_IS(r2.ec, OPERATION_ABORTED);
    finish();
}

Test(serial, assign_and_release)
{
    int m = -1, s = -1;
    if (openpty(&m, &s, NULL, NULL, NULL) < 0)
        cr_skip_test("openpty: %s", strerror(errno));
    master = m;
    cio_error ec;
    cr_assert_eq(cio_serial_port_assign(&port, s, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_serial_port_set_baud_rate(&port, 9600, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_serial_port_release(&port, &ec), s);
    cr_assert(!cio_serial_port_is_open(&port));
    cr_assert_eq(cio_serial_port_set_baud_rate(&port, 9600, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    close(s);
    finish();
}

/* ---- Options. ---- */

Test(serial, each_option_round_trips)
{
    pty_now();
    cio_error ec;
    static const unsigned rates[] = {50, 1200, 9600, 19200, 115200, 230400, 4000000};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        unsigned got = 0;
        cr_assert_eq(cio_serial_port_set_baud_rate(&port, rates[i], &ec), 0, "%u: %s", rates[i],
                     cio_error_message(ec));
        cr_assert_eq(cio_serial_port_get_baud_rate(&port, &got, &ec), 0);
        cr_assert_eq(got, rates[i]);
    }
    unsigned bits = 0;
    cr_assert_eq(cio_serial_port_set_character_size(&port, 8, &ec), 0, "%s",
                 cio_error_message(ec));
    cr_assert_eq(cio_serial_port_get_character_size(&port, &bits, &ec), 0);
    cr_assert_eq(bits, 8);
    enum cio_serial_parity parity = CIO_SERIAL_PARITY_ODD;
    cr_assert_eq(cio_serial_port_set_parity(&port, CIO_SERIAL_PARITY_NONE, &ec), 0);
    cr_assert_eq(cio_serial_port_get_parity(&port, &parity, &ec), 0);
    cr_assert_eq(parity, CIO_SERIAL_PARITY_NONE);
    enum cio_serial_stop_bits stop = CIO_SERIAL_STOP_BITS_ONE;
    cr_assert_eq(cio_serial_port_set_stop_bits(&port, CIO_SERIAL_STOP_BITS_TWO, &ec), 0, "%s",
                 cio_error_message(ec));
    cr_assert_eq(cio_serial_port_get_stop_bits(&port, &stop, &ec), 0);
    cr_assert_eq(stop, CIO_SERIAL_STOP_BITS_TWO);
    cr_assert_eq(cio_serial_port_set_stop_bits(&port, CIO_SERIAL_STOP_BITS_ONE, &ec), 0);
    cr_assert_eq(cio_serial_port_get_stop_bits(&port, &stop, &ec), 0);
    cr_assert_eq(stop, CIO_SERIAL_STOP_BITS_ONE);
    static const enum cio_serial_flow_control flows[] = {CIO_SERIAL_FLOW_CONTROL_SOFTWARE,
                                                         CIO_SERIAL_FLOW_CONTROL_HARDWARE,
                                                         CIO_SERIAL_FLOW_CONTROL_NONE};
    for (size_t i = 0; i < 3; i++) {
        enum cio_serial_flow_control got = (enum cio_serial_flow_control)9;
        cr_assert_eq(cio_serial_port_set_flow_control(&port, flows[i], &ec), 0, "%d: %s",
                     flows[i], cio_error_message(ec));
        cr_assert_eq(cio_serial_port_get_flow_control(&port, &got, &ec), 0);
        cr_assert_eq(got, flows[i]);
    }
    finish();
}

Test(serial, values_without_a_setting_are_refused_before_anything_changes)
{
    pty_now();
    cio_error ec;
    cr_assert_eq(cio_serial_port_set_baud_rate(&port, 9600, &ec), 0);
    cr_assert_eq(cio_serial_port_set_baud_rate(&port, 12345, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    unsigned rate = 0;
    cio_serial_port_get_baud_rate(&port, &rate, &ec);
    cr_assert_eq(rate, 9600, "a refused rate changed the device");
    cr_assert_eq(cio_serial_port_set_character_size(&port, 4, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_set_character_size(&port, 9, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_set_parity(&port, (enum cio_serial_parity)3, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_set_stop_bits(&port, CIO_SERIAL_STOP_BITS_ONEPOINTFIVE, &ec), -1);
    assert_system(ec, EOPNOTSUPP);
    cr_assert_eq(cio_serial_port_set_stop_bits(&port, (enum cio_serial_stop_bits)5, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_set_flow_control(&port, (enum cio_serial_flow_control)3, &ec),
                 -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_get_parity(&port, NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    finish();
}

/* A pseudo-terminal's driver keeps 8 data bits and no parity whatever it is
 * given: tcsetattr succeeds, and the read back tells. */
Test(serial, settings_a_pseudo_terminal_refuses_are_reported)
{
    pty_now();
    cio_error ec;
    cr_assert_eq(cio_serial_port_set_character_size(&port, 7, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_set_parity(&port, CIO_SERIAL_PARITY_EVEN, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_set_parity(&port, CIO_SERIAL_PARITY_ODD, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    unsigned bits = 0;
    cr_assert_eq(cio_serial_port_get_character_size(&port, &bits, &ec), 0);
    cr_assert_eq(bits, 8);
    finish();
}

/* A tcsetattr that "succeeds" and applies nothing. */
static int fake_tcsetattr(int fd, int when, const struct termios *t)
{
    (void)fd;
    (void)when;
    (void)t;
    return 0;
}

static int tcgetattr_fails_with;

static int fake_tcgetattr(int fd, struct termios *t)
{
    if (tcgetattr_fails_with) {
        errno = tcgetattr_fails_with;
        return -1;
    }
    return cio__sys_default.tcgetattr(fd, t);
}

Test(serial, a_setting_the_device_does_not_take_is_reported)
{
    pty_now();
    cio_error ec;
    cr_assert_eq(cio_serial_port_set_baud_rate(&port, 9600, &ec), 0);
    CIO__SYSCALL_SET(tcsetattr, fake_tcsetattr);
    cr_assert_eq(cio_serial_port_set_baud_rate(&port, 38400, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_set_flow_control(&port, CIO_SERIAL_FLOW_CONTROL_HARDWARE, &ec),
                 -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    /* A value the device holds already reads back as set. */
    cr_assert_eq(cio_serial_port_set_baud_rate(&port, 9600, &ec), 0);
    cio__syscall_reset();
    cr_assert_eq(cio_serial_port_set_baud_rate(&port, 38400, &ec), 0);
    finish();
}

Test(serial, tcgetattr_failing_is_reported_and_open_closes_the_device)
{
    pty_now();
    cio_error ec;
    tcgetattr_fails_with = EIO;
    CIO__SYSCALL_SET(tcgetattr, fake_tcgetattr);
    unsigned rate = 7;
    cr_assert_eq(cio_serial_port_get_baud_rate(&port, &rate, &ec), -1);
    assert_system(ec, EIO);
    cr_assert_eq(rate, 7, "a failed getter stored a value");
    cr_assert_eq(cio_serial_port_set_stop_bits(&port, CIO_SERIAL_STOP_BITS_TWO, &ec), -1);
    assert_system(ec, EIO);
    struct cio_serial_port other;
    cio_serial_port_init(&other, ctx);
    cr_assert_eq(cio_serial_port_open(&other, slave_name, &ec), -1);
    assert_system(ec, EIO);
    cr_assert(!cio_serial_port_is_open(&other));
    tcgetattr_fails_with = 0;
    finish(); /* the device open tried was closed again */
}

Test(serial, send_break_succeeds)
{
    pty_now();
    cio_error ec;
    cr_assert_eq(cio_serial_port_send_break(&port, &ec), 0, "%s", cio_error_message(ec));
    cio_serial_port_close(&port, NULL);
    cr_assert_eq(cio_serial_port_send_break(&port, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_eq(cio_serial_port_send_break(NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    finish();
}

/* ---- Bad input. ---- */

Test(serial, bad_input_is_an_error)
{
    cio_error ec;
    char buf[4];
    cr_assert_eq(cio_serial_port_read_some(NULL, buf, 4, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_write_some(&port, "x", 1, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_eq(cio_serial_port_set_baud_rate(NULL, 9600, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_get_baud_rate(&port, NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert(!cio_serial_port_is_open(NULL));
    cr_assert_eq(cio_serial_port_native_handle(NULL), -1);
    struct tu_result r = {0};
    cio_serial_port_async_read_some(&port, buf, 4, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, BAD_DESCRIPTOR);
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_serial_port_async_write_some(NULL, "x", 1, tu_handler(&r));
    if (setjmp(tu_thrown.jump) == 0)
        cio_serial_port_init(&port, NULL);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 2);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    cr_assert_eq(cio_serial_port_open(&port, "/dev/null", &ec), -1, "a port of no context opened");
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    finish();
}

Test(serial, a_cancellation_signal_aborts_its_read_alone)
{
    /* Per-operation cancellation (serial_port.h): the signal's read ends
     * with operation_aborted, having taken nothing, and the port still
     * reads what comes after. */
    pty_now();
    static char a[4];
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result ra = {0}, rb = {0};
    cio_serial_port_async_read_some(&port, a, sizeof a,
                                    cio_bind_cancellation_slot(&sig, tu_handler(&ra)));
    tu_run_for(ctx, 10);
    cr_assert_eq(ra.calls, 0);
    cio_cancellation_signal_emit(&sig, CIO_CANCEL_PARTIAL);
    tu_wait_result(ctx, &ra);
    TU_ASSERT_IS(ra.ec, OPERATION_ABORTED);
    cr_assert_eq(ra.n, 0);
    cr_assert_eq(write(master, "q", 1), 1);
    cio_serial_port_async_read_some(&port, a, sizeof a, tu_handler(&rb));
    tu_wait_result(ctx, &rb);
    TU_ASSERT_OK(rb.ec);
    cr_assert_eq(rb.n, 1);
    cr_assert_eq(a[0], 'q');
    finish();
}

/*
 * serial_port.c - serial ports (cio/serial_port.h): opening a terminal
 * device in raw mode, its line settings as options, and send_break. Life
 * cycle comes from the socket core (net/socket.h) and the transfers and the
 * stream from the descriptor objects' shared code (io/descriptor_io.h), so
 * the reads and writes here are one-line calls into it.
 *
 * An option is a pair of functions on a struct termios: `apply` changes the
 * one setting (or refuses the value), `read` tells what a termios holds. A
 * set is read, apply, tcsetattr, read back: the value read back must be the
 * value set, else the device refused it (tcsetattr succeeds when any of the
 * changes was taken, termios(3)).
 *
 * Order: life cycle; read and write; the options' termios functions; the
 * set and get steps; the options; send_break.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cio/serial_port.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/report.h"
#include "core/syscall.h"
#include "io/descriptor_io.h"
#include "net/socket.h"

/* ---- Life cycle. ---- */

/* The port's state, or NULL for a NULL port (the functions below report it). */
static struct cio__socket *serial_impl(struct cio_serial_port *p)
{
    return p ? &p->impl_ : NULL;
}

static struct cio_context *serial_ctx(const struct cio_serial_port *p)
{
    return p ? p->ctx : NULL;
}

void cio_serial_port_init(struct cio_serial_port *p, struct cio_context *ctx)
{
    cio__desc_object_init(p ? &p->ctx : NULL, p ? &p->impl_ : NULL, cio_context_executor(ctx),
                          __func__);
}

void cio_serial_port_init_executor(struct cio_serial_port *p, cio_executor ex)
{
    cio__desc_object_init(p ? &p->ctx : NULL, p ? &p->impl_ : NULL, ex, __func__);
}

cio_executor cio_serial_port_executor(const struct cio_serial_port *p)
{
    return cio__desc_executor(p ? p->ctx : NULL, p ? &p->impl_ : NULL);
}

/* tcsetattr, retried after EINTR. Returns 0 or an errno value. */
static int serial_apply_now(int fd, const struct termios *t)
{
    while (cio__sys.tcsetattr(fd, TCSANOW, t) < 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

/* Raw mode, as cfmakeraw(3) makes it, with the modem lines ignored and the
 * receiver on. */
static void serial_raw(struct termios *t)
{
    t->c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t->c_oflag &= ~(tcflag_t)OPOST;
    t->c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t->c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t->c_cflag |= CS8 | CLOCAL | CREAD;
    t->c_cc[VMIN] = 1;
    t->c_cc[VTIME] = 0;
}

/* Checks that fd is a terminal (tcgetattr: ENOTTY otherwise) and puts it in
 * raw mode. Returns 0 or an errno value. */
static int serial_make_raw(int fd)
{
    struct termios t;
    if (cio__sys.tcgetattr(fd, &t) < 0)
        return errno;
    serial_raw(&t);
    return serial_apply_now(fd, &t);
}

static cio_error serial_open(struct cio_context *ctx, struct cio__socket *so, const char *path)
{
    if (so->slot)
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    if (!path || !ctx)
        return cio_error_system(EINVAL);
    int fd = cio__sys.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return cio_error_system(errno);
    int err = serial_make_raw(fd);
    cio_error e = err ? cio_error_system(err) : cio__desc_adopt(ctx, so, fd);
    if (cio_failed(e))
        cio__sys.close(fd);
    return e;
}

int cio_serial_port_open(struct cio_serial_port *p, const char *path, cio_error *ec)
{
    cio_error e = p ? serial_open(p->ctx, &p->impl_, path) : cio__null_object();
    return cio__report(ec, __func__, e);
}

int cio_serial_port_assign(struct cio_serial_port *p, int fd, cio_error *ec)
{
    return cio__desc_assign_fd(serial_ctx(p), serial_impl(p), fd, ec, __func__);
}

bool cio_serial_port_is_open(const struct cio_serial_port *p)
{
    return p && cio__socket_is_open(&p->impl_);
}

int cio_serial_port_native_handle(const struct cio_serial_port *p)
{
    return p ? p->impl_.fd : -1;
}

int cio_serial_port_release(struct cio_serial_port *p, cio_error *ec)
{
    return cio__desc_release(serial_ctx(p), serial_impl(p), ec, __func__);
}

int cio_serial_port_close(struct cio_serial_port *p, cio_error *ec)
{
    return cio__desc_close(serial_ctx(p), serial_impl(p), ec, __func__);
}

int cio_serial_port_cancel(struct cio_serial_port *p, cio_error *ec)
{
    return cio__desc_cancel(serial_ctx(p), serial_impl(p), ec, __func__);
}

/* ---- Read and write. ---- */

size_t cio_serial_port_read_some(struct cio_serial_port *p, void *buf, size_t len, cio_error *ec)
{
    cio_mutable_buffer b = {buf, len};
    return cio__desc_transfer(serial_impl(p), &b, 1, false, ec, __func__);
}

size_t cio_serial_port_write_some(struct cio_serial_port *p, const void *buf, size_t len,
                                  cio_error *ec)
{
    cio_const_buffer b = {buf, len};
    return cio__desc_transfer(serial_impl(p), &b, 1, true, ec, __func__);
}

void cio_serial_port_async_read_some(struct cio_serial_port *p, void *buf, size_t len,
                                     cio_handler h)
{
    cio_mutable_buffer b = {buf, len};
    cio__desc_start(serial_ctx(p), serial_impl(p), &b, 1, false, h, __func__);
}

void cio_serial_port_async_write_some(struct cio_serial_port *p, const void *buf, size_t len,
                                      cio_handler h)
{
    cio_const_buffer b = {buf, len};
    cio__desc_start(serial_ctx(p), serial_impl(p), &b, 1, true, h, __func__);
}

size_t cio_serial_port_read_some_buffers(struct cio_serial_port *p, const cio_mutable_buffer *bufs,
                                         size_t count, cio_error *ec)
{
    return cio__desc_transfer(serial_impl(p), bufs, count, false, ec, __func__);
}

size_t cio_serial_port_write_some_buffers(struct cio_serial_port *p, const cio_const_buffer *bufs,
                                          size_t count, cio_error *ec)
{
    return cio__desc_transfer(serial_impl(p), bufs, count, true, ec, __func__);
}

void cio_serial_port_async_read_some_buffers(struct cio_serial_port *p,
                                             const cio_mutable_buffer *bufs, size_t count,
                                             cio_handler h)
{
    cio__desc_start(serial_ctx(p), serial_impl(p), bufs, count, false, h, __func__);
}

void cio_serial_port_async_write_some_buffers(struct cio_serial_port *p,
                                              const cio_const_buffer *bufs, size_t count,
                                              cio_handler h)
{
    cio__desc_start(serial_ctx(p), serial_impl(p), bufs, count, true, h, __func__);
}

cio_stream cio_serial_port_stream(struct cio_serial_port *p)
{
    return cio__desc_stream(p);
}

/* ---- The options' termios functions. ---- */

/* What a read function returns for a termios that holds no value the option
 * names (a speed without a rate here). */
#define SERIAL_UNKNOWN UINT_MAX

/* One option: how a value is put into a termios (invalid_argument or
 * operation_not_supported for a value it has no setting for), and what a
 * termios holds. */
struct serial_option {
    cio_error (*apply)(struct termios *t, unsigned value);
    unsigned (*read)(const struct termios *t);
};

/* The rates termios names. */
static const struct {
    unsigned rate;
    speed_t speed;
} serial_speeds[] = {
    {0, B0},
    {50, B50},
    {75, B75},
    {110, B110},
    {134, B134},
    {150, B150},
    {200, B200},
    {300, B300},
    {600, B600},
    {1200, B1200},
    {1800, B1800},
    {2400, B2400},
    {4800, B4800},
    {9600, B9600},
    {19200, B19200},
    {38400, B38400},
    {57600, B57600},
    {115200, B115200},
    {230400, B230400},
    {460800, B460800},
    {500000, B500000},
    {576000, B576000},
    {921600, B921600},
    {1000000, B1000000},
    {1152000, B1152000},
    {1500000, B1500000},
    {2000000, B2000000},
    {2500000, B2500000},
    {3000000, B3000000},
    {3500000, B3500000},
    {4000000, B4000000},
};

#define SERIAL_SPEEDS (sizeof serial_speeds / sizeof serial_speeds[0])

static cio_error serial_apply_baud(struct termios *t, unsigned rate)
{
    for (size_t i = 0; i < SERIAL_SPEEDS; i++) {
        if (serial_speeds[i].rate != rate)
            continue;
        if (cfsetispeed(t, serial_speeds[i].speed) < 0 ||
            cfsetospeed(t, serial_speeds[i].speed) < 0)
            return cio_error_system(errno);
        return cio_error_none();
    }
    return cio_error_system(EINVAL);
}

static unsigned serial_read_baud(const struct termios *t)
{
    speed_t speed = cfgetospeed(t);
    for (size_t i = 0; i < SERIAL_SPEEDS; i++)
        if (serial_speeds[i].speed == speed)
            return serial_speeds[i].rate;
    return SERIAL_UNKNOWN;
}

static cio_error serial_apply_size(struct termios *t, unsigned bits)
{
    static const tcflag_t sizes[] = {CS5, CS6, CS7, CS8};
    if (bits < 5 || bits > 8)
        return cio_error_system(EINVAL);
    t->c_cflag = (t->c_cflag & ~(tcflag_t)CSIZE) | sizes[bits - 5];
    return cio_error_none();
}

static unsigned serial_read_size(const struct termios *t)
{
    switch (t->c_cflag & CSIZE) {
    case CS5:
        return 5;
    case CS6:
        return 6;
    case CS7:
        return 7;
    default:
        return 8;
    }
}

static cio_error serial_apply_parity(struct termios *t, unsigned parity)
{
    switch (parity) {
    case CIO_SERIAL_PARITY_NONE:
        t->c_iflag &= ~(tcflag_t)(INPCK | ISTRIP);
        t->c_cflag &= ~(tcflag_t)(PARENB | PARODD);
        return cio_error_none();
    case CIO_SERIAL_PARITY_ODD:
    case CIO_SERIAL_PARITY_EVEN:
        t->c_iflag = (t->c_iflag & ~(tcflag_t)IGNPAR) | INPCK;
        t->c_cflag |= PARENB;
        if (parity == CIO_SERIAL_PARITY_ODD)
            t->c_cflag |= PARODD;
        else
            t->c_cflag &= ~(tcflag_t)PARODD;
        return cio_error_none();
    default:
        return cio_error_system(EINVAL);
    }
}

static unsigned serial_read_parity(const struct termios *t)
{
    if (!(t->c_cflag & PARENB))
        return CIO_SERIAL_PARITY_NONE;
    return t->c_cflag & PARODD ? CIO_SERIAL_PARITY_ODD : CIO_SERIAL_PARITY_EVEN;
}

static cio_error serial_apply_stop_bits(struct termios *t, unsigned bits)
{
    switch (bits) {
    case CIO_SERIAL_STOP_BITS_ONE:
        t->c_cflag &= ~(tcflag_t)CSTOPB;
        return cio_error_none();
    case CIO_SERIAL_STOP_BITS_TWO:
        t->c_cflag |= CSTOPB;
        return cio_error_none();
    case CIO_SERIAL_STOP_BITS_ONEPOINTFIVE:
        return cio_error_system(EOPNOTSUPP);
    default:
        return cio_error_system(EINVAL);
    }
}

static unsigned serial_read_stop_bits(const struct termios *t)
{
    return t->c_cflag & CSTOPB ? CIO_SERIAL_STOP_BITS_TWO : CIO_SERIAL_STOP_BITS_ONE;
}

static cio_error serial_apply_flow(struct termios *t, unsigned flow)
{
    if (flow > CIO_SERIAL_FLOW_CONTROL_HARDWARE)
        return cio_error_system(EINVAL);
    t->c_iflag &= ~(tcflag_t)(IXOFF | IXON);
    t->c_cflag &= ~(tcflag_t)CRTSCTS;
    if (flow == CIO_SERIAL_FLOW_CONTROL_SOFTWARE)
        t->c_iflag |= IXOFF | IXON;
    else if (flow == CIO_SERIAL_FLOW_CONTROL_HARDWARE)
        t->c_cflag |= CRTSCTS;
    return cio_error_none();
}

static unsigned serial_read_flow(const struct termios *t)
{
    if ((t->c_iflag & (IXOFF | IXON)) == (IXOFF | IXON))
        return CIO_SERIAL_FLOW_CONTROL_SOFTWARE;
    if (t->c_cflag & CRTSCTS)
        return CIO_SERIAL_FLOW_CONTROL_HARDWARE;
    return CIO_SERIAL_FLOW_CONTROL_NONE;
}

static const struct serial_option serial_baud = {serial_apply_baud, serial_read_baud};
static const struct serial_option serial_size = {serial_apply_size, serial_read_size};
static const struct serial_option serial_parity = {serial_apply_parity, serial_read_parity};
static const struct serial_option serial_stop_bits = {serial_apply_stop_bits,
                                                      serial_read_stop_bits};
static const struct serial_option serial_flow = {serial_apply_flow, serial_read_flow};

/* ---- The set and get steps. ---- */

/* The device's settings into *t. */
static cio_error serial_settings(const struct cio__socket *so, struct termios *t)
{
    if (!so->slot)
        return cio_error_system(EBADF);
    if (cio__sys.tcgetattr(so->fd, t) < 0)
        return cio_error_system(errno);
    return cio_error_none();
}

static cio_error serial_set(struct cio__socket *so, unsigned value, const struct serial_option *o)
{
    struct termios t;
    cio_error e = serial_settings(so, &t);
    if (!cio_failed(e))
        e = o->apply(&t, value);
    if (cio_failed(e))
        return e;
    int err = serial_apply_now(so->fd, &t);
    if (err)
        return cio_error_system(err);
    e = serial_settings(so, &t);
    if (!cio_failed(e) && o->read(&t) != value)
        e = cio_error_system(EINVAL); /* a serial setting the device refuses */
    return e;
}

static cio_error serial_get(const struct cio__socket *so, unsigned *value,
                            const struct serial_option *o)
{
    struct termios t;
    cio_error e = serial_settings(so, &t);
    if (cio_failed(e))
        return e;
    unsigned v = o->read(&t);
    if (v == SERIAL_UNKNOWN)
        return cio_error_system(EINVAL);
    *value = v;
    return cio_error_none();
}

/* set and get for the public functions: a NULL port, then a NULL output,
 * are invalid_argument; reported under `operation`. */
static int serial_set_option(struct cio_serial_port *p, unsigned value,
                             const struct serial_option *o, cio_error *ec, const char *operation)
{
    cio_error e = p ? serial_set(&p->impl_, value, o) : cio__null_object();
    return cio__report(ec, operation, e);
}

static int serial_get_option(const struct cio_serial_port *p, unsigned *value,
                             const struct serial_option *o, cio_error *ec, const char *operation)
{
    cio_error e = p && value ? serial_get(&p->impl_, value, o) : cio__null_object();
    return cio__report(ec, operation, e);
}

/* A getter of an option whose values are an enum: the enums have the size
 * and representation of an unsigned (their values are small and none is
 * negative), so the value is stored through the caller's enum as one. */
_Static_assert(sizeof(enum cio_serial_parity) == sizeof(unsigned) &&
                   sizeof(enum cio_serial_stop_bits) == sizeof(unsigned) &&
                   sizeof(enum cio_serial_flow_control) == sizeof(unsigned),
               "the option enums are the size of an unsigned");

static int serial_get_enum(const struct cio_serial_port *p, void *out,
                           const struct serial_option *o, cio_error *ec, const char *operation)
{
    unsigned v = 0;
    int r = serial_get_option(p, out ? &v : NULL, o, ec, operation);
    if (r == 0)
        memcpy(out, &v, sizeof v);
    return r;
}

/* ---- The options. ---- */

int cio_serial_port_set_baud_rate(struct cio_serial_port *p, unsigned rate, cio_error *ec)
{
    return serial_set_option(p, rate, &serial_baud, ec, __func__);
}

int cio_serial_port_get_baud_rate(const struct cio_serial_port *p, unsigned *rate, cio_error *ec)
{
    return serial_get_option(p, rate, &serial_baud, ec, __func__);
}

int cio_serial_port_set_character_size(struct cio_serial_port *p, unsigned bits, cio_error *ec)
{
    return serial_set_option(p, bits, &serial_size, ec, __func__);
}

int cio_serial_port_get_character_size(const struct cio_serial_port *p, unsigned *bits,
                                       cio_error *ec)
{
    return serial_get_option(p, bits, &serial_size, ec, __func__);
}

int cio_serial_port_set_parity(struct cio_serial_port *p, enum cio_serial_parity parity,
                               cio_error *ec)
{
    return serial_set_option(p, (unsigned)parity, &serial_parity, ec, __func__);
}

int cio_serial_port_get_parity(const struct cio_serial_port *p, enum cio_serial_parity *parity,
                               cio_error *ec)
{
    return serial_get_enum(p, parity, &serial_parity, ec, __func__);
}

int cio_serial_port_set_stop_bits(struct cio_serial_port *p, enum cio_serial_stop_bits bits,
                                  cio_error *ec)
{
    return serial_set_option(p, (unsigned)bits, &serial_stop_bits, ec, __func__);
}

int cio_serial_port_get_stop_bits(const struct cio_serial_port *p,
                                  enum cio_serial_stop_bits *bits, cio_error *ec)
{
    return serial_get_enum(p, bits, &serial_stop_bits, ec, __func__);
}

int cio_serial_port_set_flow_control(struct cio_serial_port *p, enum cio_serial_flow_control flow,
                                     cio_error *ec)
{
    return serial_set_option(p, (unsigned)flow, &serial_flow, ec, __func__);
}

int cio_serial_port_get_flow_control(const struct cio_serial_port *p,
                                     enum cio_serial_flow_control *flow, cio_error *ec)
{
    return serial_get_enum(p, flow, &serial_flow, ec, __func__);
}

/* ---- send_break. ---- */

int cio_serial_port_send_break(struct cio_serial_port *p, cio_error *ec)
{
    cio_error e = p ? cio_error_none() : cio__null_object();
    if (p && !p->impl_.slot)
        e = cio_error_system(EBADF);
    else if (p && cio__sys.tcsendbreak(p->impl_.fd, 0) < 0)
        e = cio_error_system(errno);
    return cio__report(ec, __func__, e);
}

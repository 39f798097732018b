/*
 * cio/serial_port.h - serial ports (Asio's serial_port): a terminal device
 * opened by its path, set to raw mode, with the line settings of a serial
 * link as options, read and written as a stream.
 *
 * A serial port is a struct the caller owns and may embed anywhere, bound to
 * one context by its init function, then closed until opened. Its reads and
 * writes are those of a stream descriptor (cio/stream_descriptor.h): one
 * implementation, the same rules, costs (a write blocks SIGPIPE around it,
 * three more system calls) and errors; it is a stream (cio/stream.h), so the
 * composed operations work over it.
 *
 * The rules of cio/tcp.h hold for every function here, as
 * cio/stream_descriptor.h lists them: the two failure forms (ec, or the throw
 * hook under the function's name), return values (int 0 / -1, size_t 0 on
 * failure), handlers never inside the starting call, ownership (the caller
 * owns the object and the buffers until the handler has run; the library
 * owns the operations' state, recycled per thread: no malloc in steady
 * state; once close returns the object may be freed or reused), one thread
 * at a time per object, per-operation cancellation (terminal, partial,
 * total) for reads and writes. Errors common to every function:
 * bad_descriptor when the port is not open, invalid_argument for a NULL
 * pointer argument (the port included: a synchronous function reports it;
 * is_open and native_handle return false and -1; init and the asynchronous
 * functions call the throw hook and do nothing), and the system error of the
 * failing system call. Synchronous reads and writes block until done: a
 * serial port has no non_blocking mode (as in Asio).
 *
 * Options (each a set and a get): the setter reads the device's settings
 * (tcgetattr), changes the one setting, applies them at once
 * (tcsetattr TCSANOW) and reads them back: a setting the device did not
 * take is reported as invalid_argument ("a serial setting the device
 * refuses"; a pseudo-terminal, for one, keeps 8 data bits and no parity),
 * with the device left as it then is. A value the option has no setting for
 * is invalid_argument before anything is changed. Getters store nothing on
 * failure.
 *
 * Order: the object and its life cycle; read and write; the stream;
 * options; send_break.
 */
#ifndef CIO_SERIAL_PORT_H
#define CIO_SERIAL_PORT_H

#include <stdbool.h>
#include <stddef.h>

#include "cio/buffer.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"
#include "cio/socket.h" /* struct cio__socket */
#include "cio/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A serial port. */
struct cio_serial_port {
    struct cio_context *ctx;  /* the context it is bound to: set by init, then read-only */
    void *data;               /* the caller's: cio never reads or writes it */
    struct cio__socket impl_; /* private */
};

/* Parity (Asio's serial_port_base::parity). */
enum cio_serial_parity {
    CIO_SERIAL_PARITY_NONE = 0,
    CIO_SERIAL_PARITY_ODD = 1,
    CIO_SERIAL_PARITY_EVEN = 2,
};

/* Stop bits (Asio's serial_port_base::stop_bits). */
enum cio_serial_stop_bits {
    CIO_SERIAL_STOP_BITS_ONE = 0,
    CIO_SERIAL_STOP_BITS_ONEPOINTFIVE = 1, /* no POSIX setting: operation_not_supported */
    CIO_SERIAL_STOP_BITS_TWO = 2,
};

/* Flow control (Asio's serial_port_base::flow_control). */
enum cio_serial_flow_control {
    CIO_SERIAL_FLOW_CONTROL_NONE = 0,
    CIO_SERIAL_FLOW_CONTROL_SOFTWARE = 1, /* XON/XOFF (IXON, IXOFF) */
    CIO_SERIAL_FLOW_CONTROL_HARDWARE = 2, /* RTS/CTS (CRTSCTS) */
};

/* ---- Life cycle. ---- */

/* Binds p to ctx, closed, as cio_stream_descriptor_init. A NULL ctx calls
 * the throw hook with invalid_argument; p cannot then be opened. */
void cio_serial_port_init(struct cio_serial_port *p, struct cio_context *ctx);

/* Binds p to the context behind ex with ex as its executor, as
 * cio_stream_descriptor_init_executor. */
void cio_serial_port_init_executor(struct cio_serial_port *p, cio_executor ex);

/* The executor of p: its init's, or its context's (null for a NULL p). */
cio_executor cio_serial_port_executor(const struct cio_serial_port *p);

/*
 * Opens the terminal device at `path` (open(2) read-write, without making it
 * the controlling terminal, close-on-exec, non-blocking inside the library)
 * and puts it in raw mode (no echo, no line editing, no translation, 8 bits,
 * VMIN 1 and VTIME 0, the modem lines ignored: CLOCAL, the receiver on:
 * CREAD), as Asio's open does. Line settings are otherwise the device's
 * (set the options after open). Errors: already_open; invalid_argument for a
 * NULL path; ENOENT, EACCES, EBUSY, ...; ENOTTY for a device that is not a
 * terminal (it is closed again); no_memory.
 */
int cio_serial_port_open(struct cio_serial_port *p, const char *path, cio_error *ec);

/* Adopts the caller's open terminal descriptor as is (Asio's assign; the
 * settings are not changed): as cio_stream_descriptor_assign (already_open,
 * bad_descriptor, fd_set_failure; the caller keeps fd on failure). */
int cio_serial_port_assign(struct cio_serial_port *p, int fd, cio_error *ec);

/* True while p is open. */
bool cio_serial_port_is_open(const struct cio_serial_port *p);

/* The descriptor while open, else -1. The caller must not close it. */
int cio_serial_port_native_handle(const struct cio_serial_port *p);

/* As the stream descriptor's release, close and cancel. */
int cio_serial_port_release(struct cio_serial_port *p, cio_error *ec);
int cio_serial_port_close(struct cio_serial_port *p, cio_error *ec);
int cio_serial_port_cancel(struct cio_serial_port *p, cio_error *ec);

/* ---- Read and write. ---- */

/* As cio_stream_descriptor_read_some, write_some, their asynchronous and
 * scatter/gather forms (EIO for a device gone away, as a pseudo-terminal
 * whose master closed). */
size_t cio_serial_port_read_some(struct cio_serial_port *p, void *buf, size_t len, cio_error *ec);
size_t cio_serial_port_write_some(struct cio_serial_port *p, const void *buf, size_t len,
                                  cio_error *ec);
void cio_serial_port_async_read_some(struct cio_serial_port *p, void *buf, size_t len,
                                     cio_handler h);
void cio_serial_port_async_write_some(struct cio_serial_port *p, const void *buf, size_t len,
                                      cio_handler h);
size_t cio_serial_port_read_some_buffers(struct cio_serial_port *p, const cio_mutable_buffer *bufs,
                                         size_t count, cio_error *ec);
size_t cio_serial_port_write_some_buffers(struct cio_serial_port *p, const cio_const_buffer *bufs,
                                          size_t count, cio_error *ec);
void cio_serial_port_async_read_some_buffers(struct cio_serial_port *p,
                                             const cio_mutable_buffer *bufs, size_t count,
                                             cio_handler h);
void cio_serial_port_async_write_some_buffers(struct cio_serial_port *p,
                                              const cio_const_buffer *bufs, size_t count,
                                              cio_handler h);

/* ---- The stream. ---- */

/* p as a stream (cio/stream.h): the scatter/gather forms and
 * cio_serial_port_executor. p must outlive every use of the value. */
cio_stream cio_serial_port_stream(struct cio_serial_port *p);

/* ---- Options. ---- */

/*
 * baud_rate: bits per second, one of the rates termios names (0 (hang up),
 * 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200,
 * 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000,
 * 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000); any other
 * is invalid_argument. Input and output speed are set alike; the getter
 * reports the output speed.
 */
int cio_serial_port_set_baud_rate(struct cio_serial_port *p, unsigned rate, cio_error *ec);
int cio_serial_port_get_baud_rate(const struct cio_serial_port *p, unsigned *rate, cio_error *ec);

/* character_size: data bits per character, 5 to 8 (else invalid_argument). */
int cio_serial_port_set_character_size(struct cio_serial_port *p, unsigned bits, cio_error *ec);
int cio_serial_port_get_character_size(const struct cio_serial_port *p, unsigned *bits,
                                       cio_error *ec);

/* parity: none (no parity bit, input not checked), odd or even (input
 * checked: INPCK). Another value is invalid_argument. */
int cio_serial_port_set_parity(struct cio_serial_port *p, enum cio_serial_parity parity,
                               cio_error *ec);
int cio_serial_port_get_parity(const struct cio_serial_port *p, enum cio_serial_parity *parity,
                               cio_error *ec);

/* stop_bits: one or two; onepointfive is operation_not_supported
 * (EOPNOTSUPP), as in Asio on POSIX; another value invalid_argument. */
int cio_serial_port_set_stop_bits(struct cio_serial_port *p, enum cio_serial_stop_bits bits,
                                  cio_error *ec);
int cio_serial_port_get_stop_bits(const struct cio_serial_port *p,
                                  enum cio_serial_stop_bits *bits, cio_error *ec);

/* flow_control: none, software (XON/XOFF) or hardware (RTS/CTS). Another
 * value is invalid_argument. The getter reports software only when both
 * IXON and IXOFF are set, hardware when CRTSCTS is (and software is not). */
int cio_serial_port_set_flow_control(struct cio_serial_port *p, enum cio_serial_flow_control flow,
                                     cio_error *ec);
int cio_serial_port_get_flow_control(const struct cio_serial_port *p,
                                     enum cio_serial_flow_control *flow, cio_error *ec);

/* ---- send_break. ---- */

/* Sends a break (zero bits) for a quarter to half a second (tcsendbreak with
 * duration 0), blocking the calling thread meanwhile. */
int cio_serial_port_send_break(struct cio_serial_port *p, cio_error *ec);

#ifdef __cplusplus
}
#endif

#endif /* CIO_SERIAL_PORT_H */

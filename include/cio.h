/*
 * cio.h - the umbrella header: includes every public header of cio.
 *
 * cio is Asio's model of asynchronous I/O in C: an execution context
 * (cio/context.h), I/O objects bound to it (cio/tcp.h, cio/udp.h,
 * cio/local.h, cio/stream_descriptor.h, cio/serial_port.h, cio/timer.h,
 * cio/resolver.h), every
 * operation in a synchronous form (an error code, or "throwing" through the
 * hook in cio/error.h) and an asynchronous form whose completion handler
 * (cio/handler.h) runs inside cio_context_run().
 */
#ifndef CIO_H
#define CIO_H

#include "cio/address.h"
#include "cio/buffer.h"
#include "cio/connect.h"
#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/file.h"
#include "cio/future.h"
#include "cio/handler.h"
#include "cio/local.h"
#include "cio/resolver.h"
#include "cio/serial_port.h"
#include "cio/signal.h"
#include "cio/socket.h"
#include "cio/strand.h"
#include "cio/stream_descriptor.h"
#include "cio/stream.h"
#include "cio/tcp.h"
#include "cio/thread_pool.h"
#include "cio/timer.h"
#include "cio/udp.h"

#endif /* CIO_H */

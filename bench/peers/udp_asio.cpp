// udp_asio - standalone Asio UDP echo server, the shape of Asio's own async_udp_echo_server
// example.
//
//   udp_asio PORT
//
// One io_context with concurrency hint 1, run by one thread. The server owns one 64 KiB
// buffer and one sender endpoint; it loops async_receive_from -> async_send_to (back to the
// sender) -> async_receive_from, one datagram per operation. Handlers are lambdas capturing
// `this`; Asio recycles the memory of its operations through its per-thread recycling
// allocator, so the steady state does not call malloc. A datagram that cannot be sent is
// dropped (the load generator counts it lost). SIGINT or SIGTERM (an asio::signal_set)
// closes the socket; the pending operation ends with operation_aborted and run() returns.
#include <asio.hpp>
#include <cstdio>
#include <cstdlib>

using asio::ip::udp;

class server {
public:
    server(asio::io_context &io, unsigned short port)
        : socket_(io, udp::endpoint(asio::ip::address_v4::loopback(), port)),
          signals_(io, SIGINT, SIGTERM)
    {
        signals_.async_wait([this](const asio::error_code &ec, int) {
            if (!ec)
                socket_.close();
        });
        receive();
    }

private:
    void receive()
    {
        socket_.async_receive_from(asio::buffer(buf_), sender_,
                                   [this](const asio::error_code &ec, std::size_t n) {
                                       if (ec == asio::error::operation_aborted)
                                           return;
                                       if (ec)
                                           receive();
                                       else
                                           reply(n);
                                   });
    }

    void reply(std::size_t n)
    {
        socket_.async_send_to(asio::buffer(buf_, n), sender_,
                              [this](const asio::error_code &ec, std::size_t) {
                                  if (ec != asio::error::operation_aborted)
                                      receive();
                              });
    }

    udp::socket socket_;
    asio::signal_set signals_;
    udp::endpoint sender_;
    char buf_[65536];
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: udp_asio PORT\n");
        return 2;
    }
    try {
        asio::io_context io(1);
        server s(io, static_cast<unsigned short>(std::atoi(argv[1])));
        io.run();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "udp_asio: %s\n", e.what());
        return 1;
    }
    return 0;
}

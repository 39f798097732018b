// asio_echo - standalone Asio echo server, written the way Asio's own examples and best
// users write one.
//
//   asio_echo PORT
//
// One io_context with concurrency hint 1, run by one thread. Each session owns a 16 KiB
// buffer; it loops async_read_some -> async_write (composed, writes all) -> async_read_some.
// Handlers are lambdas capturing a shared_ptr to the session; Asio recycles the memory of
// its operations through its per-thread recycling allocator, so the steady state does not
// call malloc.
#include <asio.hpp>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>

using asio::ip::tcp;

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(tcp::socket s) : socket_(std::move(s)) {}
    void start() { do_read(); }

private:
    void do_read()
    {
        auto self(shared_from_this());
        socket_.async_read_some(asio::buffer(data_),
            [this, self](std::error_code ec, std::size_t n) {
                if (!ec)
                    do_write(n);
            });
    }

    void do_write(std::size_t n)
    {
        auto self(shared_from_this());
        asio::async_write(socket_, asio::buffer(data_, n),
            [this, self](std::error_code ec, std::size_t) {
                if (!ec)
                    do_read();
            });
    }

    tcp::socket socket_;
    std::array<char, 16384> data_;
};

class server {
public:
    server(asio::io_context &io, unsigned short port)
        : acceptor_(io)
    {
        tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen(asio::socket_base::max_listen_connections);
        do_accept();
    }

private:
    void do_accept()
    {
        acceptor_.async_accept([this](std::error_code ec, tcp::socket s) {
            if (!ec) {
                s.set_option(tcp::no_delay(true), ec);
                std::make_shared<session>(std::move(s))->start();
            }
            do_accept();
        });
    }

    tcp::acceptor acceptor_;
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: asio_echo PORT\n");
        return 2;
    }
    try {
        asio::io_context io(1);
        server s(io, static_cast<unsigned short>(std::atoi(argv[1])));
        io.run();
    } catch (std::exception &e) {
        std::fprintf(stderr, "asio_echo: %s\n", e.what());
        return 1;
    }
    return 0;
}

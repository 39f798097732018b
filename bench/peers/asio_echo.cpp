// asio_echo - standalone Asio echo server, written the way Asio's own examples and best
// users write one.
//
//   asio_echo PORT [--threads N [--strand] | --contexts N]
//
// Default: one io_context with concurrency hint 1, run by one thread. Each session owns a
// 16 KiB buffer; it loops async_read_some -> async_write (composed, writes all) ->
// async_read_some. Handlers are lambdas capturing a shared_ptr to the session; Asio recycles
// the memory of its operations through its per-thread recycling allocator, so the steady
// state does not call malloc.
//
// --threads N: one io_context(N) run by N threads (the main thread and N - 1 more). A
// session's handlers still never overlap and need no lock: a session has exactly one
// operation outstanding at a time (its chain is an "implicit strand", in Asio's words), so
// no strand is used -- the way Asio's documentation says to write a half-duplex protocol.
// With --strand, each accepted socket is bound to a strand of its own instead
// (async_accept(asio::make_strand(io), ...), as Asio's multi-threaded examples do when a
// connection may have more than one chain): the handlers then go through the strand.
//
// --contexts N: N io_context(1), one thread each, each with its own acceptor on the same
// port (SO_REUSEPORT, through asio::detail::socket_option::boolean: Asio has no named
// option for it), so the kernel spreads new connections over them. PORT 0: the first
// acceptor picks a port and the others share it. A session lives on the context that
// accepted it; the contexts share nothing.
//
// Every mode dies on SIGTERM (the default action), as the single-thread mode always has.
#include <asio.hpp>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

using asio::ip::tcp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

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
    // shared: set SO_REUSEPORT (--contexts); strand: each session on a strand of its own
    server(asio::io_context &io, unsigned short port, bool shared = false, bool strand = false)
        : io_(io), acceptor_(io), strand_(strand)
    {
        tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        if (shared)
            acceptor_.set_option(reuse_port(true));
        acceptor_.bind(ep);
        acceptor_.listen(asio::socket_base::max_listen_connections);
        do_accept();
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }

private:
    void do_accept()
    {
        auto on_accept = [this](std::error_code ec, tcp::socket s) {
            if (!ec) {
                s.set_option(tcp::no_delay(true), ec);
                std::make_shared<session>(std::move(s))->start();
            }
            do_accept();
        };
        if (strand_)
            acceptor_.async_accept(asio::make_strand(io_), on_accept);
        else
            acceptor_.async_accept(on_accept);
    }

    asio::io_context &io_;
    tcp::acceptor acceptor_;
    bool strand_;
};

static int usage()
{
    std::fprintf(stderr, "usage: asio_echo PORT [--threads N [--strand] | --contexts N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    unsigned long threads = 1, contexts = 1;
    bool strand = false;
    for (int i = 2; i < argc; i++) {
        if (std::strcmp(argv[i], "--strand") == 0) {
            strand = true;
        } else if (i + 1 < argc && std::strcmp(argv[i], "--threads") == 0) {
            threads = std::strtoul(argv[++i], nullptr, 10);
        } else if (i + 1 < argc && std::strcmp(argv[i], "--contexts") == 0) {
            contexts = std::strtoul(argv[++i], nullptr, 10);
        } else {
            return usage();
        }
    }
    if (threads < 1 || threads > 256 || contexts < 1 || contexts > 256 ||
        (threads > 1 && contexts > 1) || (strand && contexts > 1))
        return usage();
    unsigned short port = static_cast<unsigned short>(std::atoi(argv[1]));
    try {
        if (contexts == 1) {
            // concurrency hint 1 for one thread (no locks), else the thread count
            asio::io_context io(static_cast<int>(threads));
            server s(io, port, false, strand);
            std::vector<std::thread> runners;
            for (unsigned long i = 1; i < threads; i++)
                runners.emplace_back([&io] { io.run(); });
            io.run();
            for (auto &t : runners)
                t.join();
        } else {
            std::vector<std::unique_ptr<asio::io_context>> ios;
            std::vector<std::unique_ptr<server>> servers;
            for (unsigned long i = 0; i < contexts; i++) {
                ios.push_back(std::make_unique<asio::io_context>(1));
                servers.push_back(std::make_unique<server>(*ios.back(), port, true));
                port = servers.back()->port(); // PORT 0: the first picks, the rest share
            }
            std::vector<std::thread> runners;
            for (unsigned long i = 1; i < contexts; i++)
                runners.emplace_back([io = ios[i].get()] { io->run(); });
            ios[0]->run();
            for (auto &t : runners)
                t.join();
        }
    } catch (std::exception &e) {
        std::fprintf(stderr, "asio_echo: %s\n", e.what());
        return 1;
    }
    return 0;
}

// The keep-alive loop of one connection, run by the server so handlers can see their socket.
#include "llmopt/server/connection_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace llmopt {
namespace {

// The socket the current thread is serving (INVALID_SOCKET outside a connection).
thread_local socket_t t_client_socket = INVALID_SOCKET;

// poll() for `events`, retrying on signals; false on timeout or error.
bool wait_for(socket_t sock, short events, int timeout_ms) {
    pollfd p{sock, events, 0};
    int r;
    do {
        r = ::poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

void address_of(const sockaddr_storage& addr, std::string& ip, int& port) {
    char buf[INET6_ADDRSTRLEN] = "";
    if (addr.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
        inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
        port = ntohs(a.sin_port);
    } else if (addr.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
        inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
        port = ntohs(a.sin6_port);
    }
    ip = buf;
}

int to_ms(time_t sec, time_t usec) {
    return static_cast<int>(sec * 1000 + usec / 1000);
}

// A plain TCP connection with read and write timeouts, read through a small buffer: httplib
// parses headers a byte at a time, which should not cost a system call per byte.
class SocketStream final : public httplib::Stream {
public:
    SocketStream(socket_t sock, int read_timeout_ms, int write_timeout_ms)
        : sock_(sock), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

    bool is_readable() const override {
        return begin_ < end_ || wait_for(sock_, POLLIN, read_timeout_ms_);
    }
    bool is_writable() const override { return wait_for(sock_, POLLOUT, write_timeout_ms_); }

    ssize_t read(char* ptr, size_t size) override {
        if (begin_ == end_) {
            if (!wait_for(sock_, POLLIN, read_timeout_ms_)) return -1;
            ssize_t n;
            do {
                n = ::recv(sock_, buffer_, sizeof buffer_, 0);
            } while (n < 0 && errno == EINTR);
            if (n <= 0) return n;
            begin_ = 0;
            end_ = static_cast<size_t>(n);
        }
        const size_t n = std::min(size, end_ - begin_);
        std::memcpy(ptr, buffer_ + begin_, n);
        begin_ += n;
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, size_t size) override {
        if (!is_writable()) return -1;
        ssize_t n;
        do {
            n = ::send(sock_, ptr, size, MSG_NOSIGNAL);  // a closed peer is an error, not SIGPIPE
        } while (n < 0 && errno == EINTR);
        return n;
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
            address_of(addr, ip, port);
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
            address_of(addr, ip, port);
    }
    socket_t socket() const override { return sock_; }

    bool has_buffered() const { return begin_ < end_; }

private:
    socket_t sock_;
    int read_timeout_ms_;
    int write_timeout_ms_;
    char buffer_[4096];
    size_t begin_ = 0;
    size_t end_ = 0;
};

}  // namespace

int ConnectionServer::bind_and_listen(const std::string& host, int port) {
    const int bound = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
    // httplib 0.11 listens with a backlog of 5: a burst of clients connecting at once would
    // overflow it and wait out SYN retransmissions (1 s, 3 s, ...) or fail. Listening again
    // on the bound socket resizes its queue.
    if (bound >= 0) ::listen(svr_sock_, SOMAXCONN);
    return bound;
}

bool ConnectionServer::client_connected() {
    if (t_client_socket == INVALID_SOCKET) return true;
    char c;
    const ssize_t n = ::recv(t_client_socket, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return true;
    if (n == 0) return false;  // orderly close
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

bool ConnectionServer::await_request(socket_t sock) const {
    // Short polls so that stop() is noticed soon even on an idle connection.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
    while (svr_sock_ != INVALID_SOCKET) {
        if (wait_for(sock, POLLIN, 50)) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
    }
    return false;
}

bool ConnectionServer::process_and_close_socket(socket_t sock) {
    // Streams are many small writes: without this, Nagle's algorithm holds each chunk until the
    // client's delayed ACK of the previous one (up to 40 ms per token).
    const int one = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SocketStream stream(sock, to_ms(read_timeout_sec_, read_timeout_usec_),
                        to_ms(write_timeout_sec_, write_timeout_usec_));
    t_client_socket = sock;
    bool ok = false;
    // A pipelined request may already sit in the stream's buffer, unseen by poll().
    for (size_t left = keep_alive_max_count_;
         left > 0 && (stream.has_buffered() || await_request(sock)); --left) {
        bool closed = false;
        ok = process_request(stream, /*close_connection=*/left == 1, closed, nullptr);
        if (!ok || closed) break;
    }
    t_client_socket = INVALID_SOCKET;
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
}

}  // namespace llmopt

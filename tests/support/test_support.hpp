// Helpers for integration tests: a reactor on its own thread, and a blocking loopback
// client with timeouts so no test can hang on a socket.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <ringactor/runtime/reactor.hpp>

namespace ringactor::test {

using namespace std::chrono_literals;
namespace rt = ringactor::runtime;

// Number of open descriptors of this process.
inline int open_fd_count() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the DIR's own descriptor
}

// Polls `pred` until it holds or `limit` passes (a bounded wait for another thread's
// effect, not a sleep standing in for synchronisation).
template <typename Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

// Runs fn on `reactor`'s thread (through post) and waits, at most 10 s, for its result.
template <typename F>
auto call_on(rt::Reactor& reactor, F fn) -> decltype(fn()) {
  using R = decltype(fn());
  auto p = std::make_shared<std::promise<R>>();
  auto fut = p->get_future();
  reactor.post([p, fn = std::move(fn)]() mutable {
    if constexpr (std::is_void_v<R>) {
      fn();
      p->set_value();
    } else {
      p->set_value(fn());
    }
  });
  if (fut.wait_for(10s) != std::future_status::ready) throw std::runtime_error("reactor call timed out");
  return fut.get();
}

// A reactor running on its own thread with one listener; stop()s and joins on destruction.
class ServerThread {
 public:
  ServerThread(rt::ReactorOptions options, rt::Reactor::HandlerFactory factory)
      : reactor_(std::make_unique<rt::Reactor>(options)) {
    port_ = reactor_->listen({.port = 0}, std::move(factory));
    thread_ = std::thread([this] {
      try {
        reactor_->run();
      } catch (...) {
        error_ = std::current_exception();
      }
      done_.store(true);
    });
  }
  ~ServerThread() { stop(); }

  void stop() {
    if (thread_.joinable()) {
      reactor_->stop();
      thread_.join();
    }
    if (error_) {
      auto e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }
  bool done() const { return done_.load(); }
  std::uint16_t port() const { return port_; }
  rt::Reactor& reactor() { return *reactor_; }
  rt::Counters counters() const { return reactor_->counters(); }

  // Runs fn on the reactor thread and waits for its result.
  template <typename F>
  auto call(F fn) -> decltype(fn()) {
    return call_on(*reactor_, std::move(fn));
  }

 private:
  std::unique_ptr<rt::Reactor> reactor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::exception_ptr error_;
  std::atomic<bool> done_{false};
};

// A blocking loopback TCP client. Every receive has a timeout.
class Client {
 public:
  // rcvbuf > 0: SO_RCVBUF set before connecting (a small window, for a client that stalls).
  explicit Client(std::uint16_t port, std::chrono::milliseconds timeout = 10s, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      const int err = errno;
      ::close(fd_);
      throw std::runtime_error(std::string("connect failed: ") + std::strerror(err));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_timeout(timeout);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }

  void set_timeout(std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<long>(t.count() / 1000);
    tv.tv_usec = static_cast<long>((t.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  // Sends everything; false on error (e.g. the server closed).
  bool send_all(const void* data, std::size_t len) {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
      const ssize_t n = ::send(fd_, p, len, MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return false;
      }
      p += n;
      len -= static_cast<std::size_t>(n);
    }
    return true;
  }
  bool send_all(const std::string& s) { return send_all(s.data(), s.size()); }

  // Reads exactly n bytes; returns fewer on EOF, error or timeout.
  std::string recv_exact(std::size_t n) {
    std::string out;
    out.resize(n);
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        break;
      }
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
  }

  // True when the peer closed (EOF or reset) within the timeout.
  bool closed_by_peer() {
    char buf[4096];
    for (;;) {
      const ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
      if (r == 0) return true;
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno == ECONNRESET || errno == EPIPE;
      }
    }
  }

  // Writes `data` while reading the echo concurrently (poll loop), so a large transfer
  // never deadlocks on full socket buffers. Returns what was read back.
  std::string echo_roundtrip(const std::string& data, std::chrono::milliseconds limit = 20s) {
    std::string out;
    out.reserve(data.size());
    std::size_t sent = 0;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::vector<char> buf(1 << 16);
    while (out.size() < data.size() && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, static_cast<short>(POLLIN | (sent < data.size() ? POLLOUT : 0)), 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      if ((p.revents & POLLOUT) && sent < data.size()) {
        const ssize_t n = ::send(fd_, data.data() + sent, std::min<std::size_t>(data.size() - sent, 1 << 16),
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) sent += static_cast<std::size_t>(n);
      }
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n == 0) break;
        if (n > 0) out.append(buf.data(), static_cast<std::size_t>(n));
      }
    }
    return out;
  }

  // Closes with RST instead of FIN (SO_LINGER 0).
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd_);
    fd_ = -1;
  }

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

inline std::string random_bytes(std::size_t n, unsigned seed = 1) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(rng());
  return s;
}

// The echo protocol used by the integration tests.
class EchoHandler : public rt::ConnectionHandler {
 public:
  std::size_t on_data(rt::Connection conn, std::span<const std::byte> bytes) override {
    conn.send(bytes);
    return bytes.size();
  }
};

inline rt::Reactor::HandlerFactory echo_factory() {
  return [](rt::Connection) { return std::make_unique<EchoHandler>(); };
}

}  // namespace ringactor::test

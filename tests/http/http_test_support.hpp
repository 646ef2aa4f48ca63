// Helpers for HTTP integration tests: a Server on its own reactor thread, and a small
// HTTP/1.1 client over a real loopback socket that reads pipelined responses one by one.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ringactor/actors/stage.hpp>
#include <ringactor/http/request_parser.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "test_support.hpp"

namespace ringactor::test {

namespace http = ringactor::http;
namespace ra = ringactor::actors;

class HttpServerThread {
 public:
  using Setup = std::function<void(http::Server&)>;
  explicit HttpServerThread(Setup setup, http::ServerOptions options = {}, rt::ReactorOptions reactor_options = {})
      : reactor_(std::make_unique<rt::Reactor>(reactor_options)),
        stage_(std::make_unique<ra::Stage>(*reactor_)),
        server_(std::make_unique<http::Server>(*stage_, std::move(options))) {
    setup(*server_);
    port_ = server_->listen({.port = 0});
    thread_ = std::thread([this] {
      reactor_thread_ = std::this_thread::get_id();
      reactor_->run();
    });
  }
  ~HttpServerThread() { stop(); }

  void stop() {
    if (thread_.joinable()) {
      reactor_->stop();
      thread_.join();
    }
  }
  // Starts a graceful stop without waiting for it.
  void begin_stop() { reactor_->stop(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  std::uint16_t port() const { return port_; }
  http::Server& server() { return *server_; }
  ra::Stage& stage() { return *stage_; }
  // Runs fn on the reactor thread and waits for its result.
  template <typename F>
  auto call(F fn) -> decltype(fn()) {
    return call_on(*reactor_, std::move(fn));
  }
  http::ServerCounters counters() const { return server_->counters(); }
  rt::Reactor& reactor() { return *reactor_; }
  std::thread::id reactor_thread() const { return reactor_thread_.load(); }

 private:
  std::unique_ptr<rt::Reactor> reactor_;
  std::unique_ptr<ra::Stage> stage_;
  std::unique_ptr<http::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<std::thread::id> reactor_thread_{};
};

struct HttpResponse {
  int status = 0;
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (http::iequals(n, name)) return v;
    }
    return std::nullopt;
  }
};

// A client that reads responses one at a time from a buffered socket.
class HttpClient : public Client {
 public:
  using Client::Client;

  // Reads the next response (1xx included). `head_request`: the response has no body.
  // nullopt on EOF, timeout or a malformed response.
  std::optional<HttpResponse> read(bool head_request = false) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    HttpResponse r;
    const std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    r.status_line = head.substr(0, line_end);
    if (r.status_line.size() < 12 || r.status_line.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    r.status = std::atoi(r.status_line.c_str() + 9);
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers.emplace_back(line.substr(0, colon), value);
    }
    if (r.status < 200 || head_request || r.status == 204 || r.status == 304) return r;
    if (auto te = r.header("Transfer-Encoding"); te && *te == "chunked") {
      for (;;) {
        std::size_t le;
        while ((le = buf_.find("\r\n")) == std::string::npos) {
          if (!fill()) return std::nullopt;
        }
        const std::size_t size = std::strtoul(buf_.c_str(), nullptr, 16);
        while (buf_.size() < le + 2 + size + 2) {
          if (!fill()) return std::nullopt;
        }
        r.body.append(buf_, le + 2, size);
        buf_.erase(0, le + 2 + size + 2);
        if (size == 0) return r;
      }
    }
    if (auto cl = r.header("Content-Length")) {
      const std::size_t n = std::strtoul(cl->c_str(), nullptr, 10);
      while (buf_.size() < n) {
        if (!fill()) return std::nullopt;
      }
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
      return r;
    }
    while (fill()) {  // close-delimited
    }
    r.body = std::move(buf_);
    buf_.clear();
    return r;
  }

  // True when the server closed the connection (EOF or reset) and sent nothing more.
  bool at_eof() {
    if (!buf_.empty()) return false;
    return closed_by_peer();
  }
  const std::string& buffered() const { return buf_; }

 private:
  bool fill() {
    char tmp[1 << 16];
    for (;;) {
      const ssize_t n = ::recv(fd(), tmp, sizeof tmp, 0);
      if (n > 0) {
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
  }
  std::string buf_;
};

// Sends one raw request on a fresh connection and reads the answer.
inline std::optional<HttpResponse> raw_exchange(std::uint16_t port, const std::string& request, bool head = false) {
  HttpClient c(port);
  if (!c.send_all(request)) return std::nullopt;
  return c.read(head);
}

// Runs a command and returns its exit status and standard output.
inline std::pair<int, std::string> run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, out};
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace ringactor::test

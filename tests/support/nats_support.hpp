// A real nats-server (Debian's, installed by scripts/deps.sh) for tests: started on a free
// loopback port, stopped (or killed, or restarted on the same port) on demand.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "process_support.hpp"

namespace ringactor::test {

class NatsServer {
 public:
  NatsServer() { start("-1"); }
  ~NatsServer() { stop(); }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

  // SIGTERM, and wait for it to exit.
  void stop() {
    if (child_.pid <= 0) return;
    ::kill(child_.pid, SIGTERM);
    wait_exit(child_.pid, std::chrono::seconds(10));  // (kills it past that)
    child_.pid = -1;
    if (drain_.joinable()) drain_.join();
    ::close(child_.out);
  }
  // Starts it again on the same port (after stop()).
  void restart() {
    const std::uint16_t same = port_;
    stop();
    port_ = 0;
    start(std::to_string(same));
  }

 private:
  static std::string binary() {
    for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
      if (::access(p, X_OK) == 0) return p;
    }
    throw std::runtime_error("nats-server is not installed (scripts/deps.sh installs it)");
  }

  void start(const std::string& port) {
    child_ = spawn_program(binary(), {"-a", "127.0.0.1", "-p", port}, /*merge_stderr=*/true);
    // "[INF] Listening for client connections on 127.0.0.1:PORT"
    const std::string key = "Listening for client connections on 127.0.0.1:";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::string line;
    while (std::chrono::steady_clock::now() < deadline) {
      line = read_line(child_.out, std::chrono::seconds(20));
      const std::size_t at = line.find(key);
      if (at != std::string::npos) {
        port_ = static_cast<std::uint16_t>(std::stoi(line.substr(at + key.size())));
        break;
      }
    }
    if (port_ == 0) throw std::runtime_error("nats-server did not start: " + line);
    // Keep reading its log so that it never blocks on a full pipe.
    drain_ = std::thread([fd = child_.out] {
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
    });
  }

  Child child_;
  std::uint16_t port_ = 0;
  std::thread drain_;
};

}  // namespace ringactor::test

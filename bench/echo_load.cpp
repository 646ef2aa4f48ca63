// echo_load: a closed-loop echo load generator, and the idle-connection memory probe.
//
//   echo_load rtt  --port P --conns N --size S --seconds T
//       N connections each send S bytes and wait for the echo before sending again, for T
//       seconds; prints "roundtrips_per_sec <x>" and a latency median/p99.
//   echo_load idle --port P --conns N --pid SERVER_PID [--warm W]
//       warms the server with W busy connections, reads the server's RSS, opens N
//       connections that each do one echo round trip and then stay idle, reads RSS again,
//       prints "bytes_per_idle_connection <x>".
//   echo_load ws-idle --port P --conns N --pid SERVER_PID [--warm W]
//       the same for WebSocket connections on /ws/echo, each upgraded and idle after one echo
//   echo_load http-idle --port P --conns N --pid SERVER_PID [--warm W] [--fresh 1]
//       the same for an HTTP server: the warm-up and each connection send
//       "GET /plaintext" (keep-alive) and read the answer; with --fresh 1 the N connections
//       send nothing (memory of a connection that was only accepted).
//
// Single-threaded, epoll-driven; pin it to a core other than the server's with taskset.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    std::perror("socket");
    std::exit(1);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool roundtrip_blocking(int fd, const std::string& msg) {
  if (::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) return false;
  std::size_t got = 0;
  char buf[65536];
  while (got < msg.size()) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

long rss_bytes(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6) * 1024;
  }
  return -1;
}

void raise_fd_limit() {
  rlimit l{};
  ::getrlimit(RLIMIT_NOFILE, &l);
  l.rlim_cur = l.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &l);
}

int run_rtt(int port, int conns, std::size_t size, double seconds) {
  struct Conn {
    int fd;
    std::size_t got = 0;
    Clock::time_point sent_at;
  };
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  const int ep = ::epoll_create1(0);
  const std::string msg(size, 'x');
  std::vector<char> buf(1 << 16);
  std::vector<double> lat_us;
  lat_us.reserve(1 << 20);
  for (int i = 0; i < conns; ++i) {
    cs[static_cast<std::size_t>(i)].fd = connect_to(port);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, cs[static_cast<std::size_t>(i)].fd, &ev);
  }
  auto send_one = [&](Conn& c) {
    c.got = 0;
    c.sent_at = Clock::now();
    if (::send(c.fd, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) {
      std::fprintf(stderr, "short send\n");
      std::exit(1);
    }
  };
  for (auto& c : cs) send_one(c);
  std::uint64_t done = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::vector<epoll_event> evs(1024);
  while (Clock::now() < end) {
    const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    for (int i = 0; i < n; ++i) {
      Conn& c = cs[evs[static_cast<std::size_t>(i)].data.u32];
      const ssize_t r = ::recv(c.fd, buf.data(), buf.size(), 0);
      if (r <= 0) {
        std::fprintf(stderr, "connection lost\n");
        return 1;
      }
      c.got += static_cast<std::size_t>(r);
      if (c.got >= size) {
        ++done;
        if ((done & 15) == 0) {
          lat_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - c.sent_at).count());
        }
        send_one(c);
      }
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(lat_us.begin(), lat_us.end());
  const double p50 = lat_us.empty() ? 0 : lat_us[lat_us.size() / 2];
  const double p99 = lat_us.empty() ? 0 : lat_us[lat_us.size() * 99 / 100];
  std::printf("roundtrips_per_sec %.0f p50_us %.1f p99_us %.1f\n", static_cast<double>(done) / secs, p50, p99);
  for (auto& c : cs) ::close(c.fd);
  return 0;
}

// Sends one keep-alive GET /plaintext and reads until the answer's head and a short body
// arrived (hello-world answers fit one segment).
bool http_get_blocking(int fd) {
  static const std::string req = "GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return false;
  std::string got;
  char buf[4096];
  while (got.find("Hello, World!") == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// Upgrades `fd` to WebSocket on /ws/echo, then echoes one 16-byte text message. Blocking.
bool ws_open_and_echo_blocking(int fd, int echoes) {
  static const std::string req =
      "GET /ws/echo HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return false;
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got.append(buf, static_cast<std::size_t>(n));
  }
  if (got.compare(0, 12, "HTTP/1.1 101") != 0) return false;
  got.erase(0, got.find("\r\n\r\n") + 4);
  // A masked text frame of 16 bytes (mask 0: the payload goes as is).
  const std::string frame = std::string("\x81\x90\0\0\0\0", 6) + "idle-connection!";
  for (int i = 0; i < echoes; ++i) {
    if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size())) return false;
    while (got.size() < 18) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      got.append(buf, static_cast<std::size_t>(n));
    }
    if (got.compare(2, 16, "idle-connection!") != 0) return false;
    got.erase(0, 18);
  }
  return true;
}

// Server RSS growth over `conns` idle connections, each set up by `prepare(fd)` (false: it
// failed), after `warm` connections ran `warm_up(fd)` and closed.
template <typename Warm, typename Prepare>
int measure_idle(int port, int conns, int pid, int warm, Warm warm_up, Prepare prepare) {
  {
    std::vector<int> fds;
    for (int i = 0; i < warm; ++i) {
      fds.push_back(connect_to(port));
      if (!warm_up(fds.back())) {
        std::fprintf(stderr, "warm-up failed\n");
        return 1;
      }
    }
    for (int fd : fds) ::close(fd);
    ::usleep(200'000);
  }
  const long before = rss_bytes(pid);
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(conns));
  for (int i = 0; i < conns; ++i) {
    const int fd = connect_to(port);
    if (!prepare(fd)) {
      std::fprintf(stderr, "connection %d failed\n", i);
      return 1;
    }
    fds.push_back(fd);
  }
  ::usleep(500'000);  // accepted connections the server has not seen yet would be missed
  const long after = rss_bytes(pid);
  std::printf("rss_before %ld rss_after %ld idle_connections %d bytes_per_idle_connection %.1f\n", before, after,
              conns, static_cast<double>(after - before) / conns);
  for (int fd : fds) ::close(fd);
  return 0;
}

int run_ws_idle(int port, int conns, int pid, int warm) {
  return measure_idle(
      port, conns, pid, warm, [](int fd) { return ws_open_and_echo_blocking(fd, 20); },
      [](int fd) { return ws_open_and_echo_blocking(fd, 1); });
}

int run_http_idle(int port, int conns, int pid, int warm, bool fresh) {
  return measure_idle(
      port, conns, pid, warm,
      [](int fd) {
        for (int round = 0; round < 20; ++round) {
          if (!http_get_blocking(fd)) return false;
        }
        return true;
      },
      [fresh](int fd) { return fresh || http_get_blocking(fd); });
}

int run_idle(int port, int conns, int pid, int warm) {
  {
    // Warm-up: touch the server's receive buffers and output slabs with real traffic.
    std::vector<int> fds;
    for (int i = 0; i < warm; ++i) fds.push_back(connect_to(port));
    const std::string msg(4096, 'w');
    for (int round = 0; round < 20; ++round) {
      for (int fd : fds) roundtrip_blocking(fd, msg);
    }
    for (int fd : fds) ::close(fd);
    ::usleep(200'000);  // let the server finish closing them
  }
  const long before = rss_bytes(pid);
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(conns));
  for (int i = 0; i < conns; ++i) {
    const int fd = connect_to(port);
    if (!roundtrip_blocking(fd, "k")) {
      std::fprintf(stderr, "round trip %d failed\n", i);
      return 1;
    }
    fds.push_back(fd);
  }
  ::usleep(200'000);
  const long after = rss_bytes(pid);
  std::printf("rss_before %ld rss_after %ld idle_connections %d bytes_per_idle_connection %.1f\n", before, after,
              conns, static_cast<double>(after - before) / conns);
  for (int fd : fds) ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: echo_load rtt|idle|http-idle|ws-idle --port P --conns N [--size S --seconds T] [--pid PID --warm W]\n");
    return 2;
  }
  const std::string mode = argv[1];
  int port = 0, conns = 1, pid = 0, warm = 64, fresh = 0;
  std::size_t size = 64;
  double seconds = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--port") port = std::atoi(v);
    else if (k == "--conns") conns = std::atoi(v);
    else if (k == "--size") size = static_cast<std::size_t>(std::atol(v));
    else if (k == "--seconds") seconds = std::atof(v);
    else if (k == "--pid") pid = std::atoi(v);
    else if (k == "--warm") warm = std::atoi(v);
    else if (k == "--fresh") fresh = std::atoi(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  raise_fd_limit();
  if (mode == "rtt") return run_rtt(port, conns, size, seconds);
  if (mode == "idle") return run_idle(port, conns, pid, warm);
  if (mode == "http-idle") return run_http_idle(port, conns, pid, warm, fresh != 0);
  if (mode == "ws-idle") return run_ws_idle(port, conns, pid, warm);
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}

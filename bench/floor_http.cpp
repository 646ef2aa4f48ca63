// floor_http: the least an HTTP/1.1 server can do on this harness, to show where wrk and the
// kernel put the ceiling. One thread, epoll (edge-triggered), one canned response held in
// memory (head + body, a fixed Date; the body is a file's bytes or filler), answered once per
// "\r\n\r\n" seen in the input, with writev from that one buffer: no parsing, no routing, no
// files, no revalidation. It is not a server anyone should run; it is the floor under every
// real one (ours, nginx, h2o, uWebSockets): a target that it misses on this harness cannot be
// met by a real server either.
//   floor_http --port N (--body-bytes B | --file PATH) [--chunk B] [--notsent-lowat B]
// prints "floor_http: listening on PORT". --chunk caps the bytes per writev, --notsent-lowat
// sets TCP_NOTSENT_LOWAT: for large bodies they decide whether the transmits happen in the
// server's sends or in the client's ACK processing (bench/README.md, assets section).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace {

struct Conn {
  std::string carry;        // the tail of the input that may start a "\r\n\r\n"
  std::uint64_t owed = 0;   // responses not yet fully written
  std::size_t off = 0;      // bytes of the first owed response already written
  bool want_out = false;    // waiting for EPOLLOUT
};

// Counts request ends ("\r\n\r\n") in carry+bytes; keeps the last 3 bytes for the next read.
std::uint64_t count_requests(Conn& c, const char* p, std::size_t n) {
  c.carry.append(p, n);
  std::uint64_t k = 0;
  std::size_t from = 0;
  for (;;) {
    const void* hit = ::memmem(c.carry.data() + from, c.carry.size() - from, "\r\n\r\n", 4);
    if (hit == nullptr) break;
    ++k;
    from = static_cast<std::size_t>(static_cast<const char*>(hit) - c.carry.data()) + 4;
  }
  const std::size_t keep = std::min<std::size_t>(3, c.carry.size() - from);
  c.carry.erase(0, c.carry.size() - keep);
  return k;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::size_t body_bytes = 13;
  std::string file;       // the body: this file's bytes (else body_bytes of filler)
  std::size_t chunk = 0;  // at most this many bytes per writev (0: no cap)
  int lowat = 0;          // TCP_NOTSENT_LOWAT on accepted sockets (0: the system's)
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--port") port = std::atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--body-bytes") body_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::string(argv[i]) == "--file") file = argv[i + 1];
    if (std::string(argv[i]) == "--chunk") chunk = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::string(argv[i]) == "--notsent-lowat") lowat = std::atoi(argv[i + 1]);
  }
  std::string body(body_bytes, 'x');
  if (!file.empty()) {
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (f == nullptr) {
      std::perror(file.c_str());
      return 1;
    }
    body.clear();
    char chunk_buf[65536];
    for (std::size_t got; (got = std::fread(chunk_buf, 1, sizeof chunk_buf, f)) != 0;) body.append(chunk_buf, got);
    std::fclose(f);
  }
  std::string resp = "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: Tue, 24 Nov 2026 00:00:00 GMT\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n";
  resp += body;

  std::uint16_t bound = 0;
  const int lfd = ringactor::bench::listen_loopback(port, bound);
  if (lfd < 0) return 1;
  const int one = 1;
  std::printf("floor_http: listening on %u\n", static_cast<unsigned>(bound));
  std::fflush(stdout);

  const int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::vector<Conn> conns(1024);
  std::vector<iovec> iov(IOV_MAX);
  std::vector<char> buf(256 * 1024);
  epoll_event events[256];

  auto close_conn = [&](int fd) {
    ::close(fd);
    conns[static_cast<std::size_t>(fd)] = Conn{};
  };
  // Writes what is owed; false when the connection is gone.
  auto drain = [&](int fd, Conn& c) {
    while (c.owed != 0) {
      int n = 0;
      std::uint64_t k = c.owed;
      std::size_t room = chunk != 0 ? chunk : SIZE_MAX;
      for (; n < static_cast<int>(iov.size()) && k != 0 && room != 0; ++n, --k) {
        const std::size_t skip = n == 0 ? c.off : 0;
        const std::size_t take = std::min(resp.size() - skip, room);
        iov[static_cast<std::size_t>(n)] = iovec{resp.data() + skip, take};
        room -= take;
      }
      const ssize_t w = ::writev(fd, iov.data(), n);
      if (w < 0) {
        if (errno != EAGAIN) return false;
        if (!c.want_out) {
          c.want_out = true;
          epoll_event e{};
          e.events = EPOLLIN | EPOLLOUT | EPOLLET;
          e.data.fd = fd;
          ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
        }
        return true;
      }
      std::size_t done = c.off + static_cast<std::size_t>(w);
      c.owed -= done / resp.size();
      c.off = done % resp.size();
    }
    return true;
  };

  for (;;) {
    const int n = ::epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          const int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
          if (cfd < 0) break;
          ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (lowat > 0) ::setsockopt(cfd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
          if (static_cast<std::size_t>(cfd) >= conns.size()) conns.resize(static_cast<std::size_t>(cfd) * 2);
          conns[static_cast<std::size_t>(cfd)] = Conn{};
          epoll_event e{};
          e.events = EPOLLIN | EPOLLET;
          e.data.fd = cfd;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &e);
        }
        continue;
      }
      Conn& c = conns[static_cast<std::size_t>(fd)];
      bool alive = true;
      if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
        for (;;) {
          const ssize_t r = ::read(fd, buf.data(), buf.size());
          if (r > 0) {
            c.owed += count_requests(c, buf.data(), static_cast<std::size_t>(r));
            if (static_cast<std::size_t>(r) < buf.size()) break;
            continue;
          }
          if (r == 0 || errno != EAGAIN) alive = false;
          break;
        }
      }
      if (alive) alive = drain(fd, c);
      if (!alive) close_conn(fd);
    }
  }
}

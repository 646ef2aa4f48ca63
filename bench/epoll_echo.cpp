// epoll_echo: the peer for the echo benchmarks, a conventional single-threaded epoll echo
// server (level-triggered, read into one stack buffer, write back, keep only unsent bytes
// per connection). It is what a careful C programmer writes without io_uring, so it shows
// what the reactor's machinery costs or saves. Prints one line with its port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--port") port = std::atoi(argv[i + 1]);
  }
  std::uint16_t bound = 0;
  const int lfd = ringactor::bench::listen_loopback(port, bound);
  if (lfd < 0) return 1;
  const int one = 1;
  std::printf("epoll_echo: listening on 127.0.0.1:%u\n", static_cast<unsigned>(bound));
  std::fflush(stdout);

  const int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::unordered_map<int, std::string> pending;  // unsent output, only for stalled peers
  std::vector<epoll_event> evs(1024);
  static char buf[16384];
  for (;;) {
    const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), -1);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[static_cast<std::size_t>(i)].data.fd;
      if (fd == lfd) {
        for (;;) {
          const int c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) break;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      const auto events = evs[static_cast<std::size_t>(i)].events;
      auto it = pending.find(fd);
      if ((events & EPOLLOUT) && it != pending.end()) {
        const ssize_t w = ::send(fd, it->second.data(), it->second.size(), MSG_NOSIGNAL);
        if (w > 0) it->second.erase(0, static_cast<std::size_t>(w));
        if (it->second.empty()) {
          pending.erase(it);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = fd;
          ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
        }
        continue;
      }
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        pending.erase(fd);
        ::close(fd);
        continue;
      }
      if (it != pending.end()) {
        it->second.append(buf, static_cast<std::size_t>(r));
        continue;
      }
      const ssize_t w = ::send(fd, buf, static_cast<std::size_t>(r), MSG_NOSIGNAL);
      const std::size_t sent = w > 0 ? static_cast<std::size_t>(w) : 0;
      if (sent < static_cast<std::size_t>(r)) {
        pending[fd].assign(buf + sent, static_cast<std::size_t>(r) - sent);
        epoll_event cev{};
        cev.events = EPOLLIN | EPOLLOUT;
        cev.data.fd = fd;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      }
    }
  }
}

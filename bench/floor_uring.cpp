// floor_uring: floor_http's least-work HTTP/1.1 answering, on io_uring instead of epoll: the
// line under any io_uring server on this harness (ours, uWebSockets' io_uring backend). One
// thread, one ring (SINGLE_ISSUER | DEFER_TASKRUN, or COOP_TASKRUN with --coop, as uSockets
// sets it up), sockets as fixed files (multishot accept direct), one multishot receive per
// connection into a ring of provided 2 KiB buffers, requests counted by "\r\n\r\n", and per
// receive one ring send of that many canned answers from one prebuilt buffer. No parsing, no
// routing, no Date, no timeouts, no output queue: it assumes small answers, and a send that
// the socket takes only in part closes the connection (counted, printed at SIGTERM). It is
// not a server anyone should run; it is what the kernel's share of a request costs here.
//   floor_uring --port N [--body-bytes B] [--coop]
// prints "floor_uring: listening on PORT".
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace {

constexpr unsigned kSlots = 4096;        // fixed-file slots, so at most this many connections
constexpr unsigned kBuffers = 4096;      // provided receive buffers (a power of two)
constexpr unsigned kBufferSize = 2048;
constexpr std::uint64_t kBatch = 64;     // answers per send at most
enum Op : std::uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kClose = 4 };

struct Conn {
  std::uint64_t owed = 0;     // answers counted and not yet sent
  std::uint64_t sending = 0;  // answers in the send in flight
  char tail[3];               // the last bytes after the last request end (a split "\r\n\r\n")
  unsigned tail_len = 0;
  bool open = false;
};

std::atomic<bool> stop{false};
void on_term(int) { stop.store(true); }

std::uint64_t data_of(Op op, unsigned slot) { return (static_cast<std::uint64_t>(op) << 32) | slot; }

// Request ends in this receive, including one that began in the previous receive's tail.
std::uint64_t count_ends(Conn& c, const char* p, std::size_t n) {
  std::uint64_t k = 0;
  std::size_t after = 0;  // bytes of p up to the end of the last request end found
  if (c.tail_len != 0) {
    char edge[6];
    std::memcpy(edge, c.tail, c.tail_len);
    const std::size_t m = std::min<std::size_t>(3, n);
    std::memcpy(edge + c.tail_len, p, m);
    for (unsigned i = 0; i < c.tail_len && i + 4 <= c.tail_len + m; ++i) {
      if (std::memcmp(edge + i, "\r\n\r\n", 4) == 0) {
        ++k;
        after = i + 4 - c.tail_len;
        break;
      }
    }
  }
  for (const char* q = p + after;;) {
    const void* hit = ::memmem(q, static_cast<std::size_t>(p + n - q), "\r\n\r\n", 4);
    if (hit == nullptr) break;
    ++k;
    q = static_cast<const char*>(hit) + 4;
    after = static_cast<std::size_t>(q - p);
  }
  // The new tail: the last (up to) 3 bytes of the stream after the last end.
  char rest[6];
  std::size_t len;
  if (k != 0 || n >= 3) {
    len = std::min<std::size_t>(3, n - after);
    std::memcpy(rest, p + n - len, len);
  } else {  // a short receive with no end: the old tail, then these bytes
    std::memcpy(rest, c.tail, c.tail_len);
    std::memcpy(rest + c.tail_len, p, n);
    len = c.tail_len + n;
  }
  const std::size_t keep = std::min<std::size_t>(3, len);
  std::memcpy(c.tail, rest + len - keep, keep);
  c.tail_len = static_cast<unsigned>(keep);
  return k;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::size_t body_bytes = 13;
  bool coop = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--port" && i + 1 < argc) port = std::atoi(argv[++i]);
    else if (a == "--body-bytes" && i + 1 < argc) body_bytes = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--coop") coop = true;
  }
  const std::string one = "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: Tue, 24 Nov 2026 00:00:00 GMT\r\n"
                          "Content-Type: text/plain\r\nContent-Length: " +
                          std::to_string(body_bytes) + "\r\n\r\n" + std::string(body_bytes, 'x');
  std::string answers;
  for (std::uint64_t i = 0; i < kBatch; ++i) answers += one;

  std::uint16_t bound = 0;
  const int lfd = ringactor::bench::listen_loopback(port, bound);
  if (lfd < 0) return 1;
  const int yes = 1;
  ::setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);  // accepted sockets inherit it

  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
                 (coop ? IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG : IORING_SETUP_DEFER_TASKRUN);
  params.cq_entries = 4 * kSlots;
  if (int r = io_uring_queue_init_params(kSlots, &ring, &params); r < 0) {
    std::fprintf(stderr, "floor_uring: io_uring_queue_init: %s\n", std::strerror(-r));
    return 1;
  }
  if (int r = io_uring_register_files_sparse(&ring, kSlots); r < 0) {
    std::fprintf(stderr, "floor_uring: register_files_sparse: %s\n", std::strerror(-r));
    return 1;
  }
  const std::size_t ring_bytes = kBuffers * sizeof(io_uring_buf);
  void* ring_mem = ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  std::vector<char> buffers(static_cast<std::size_t>(kBuffers) * kBufferSize);
  if (ring_mem == MAP_FAILED) return 1;
  auto* br = static_cast<io_uring_buf_ring*>(ring_mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br);
  reg.ring_entries = kBuffers;
  reg.bgid = 0;
  if (int r = io_uring_register_buf_ring(&ring, &reg, 0); r < 0) {
    std::fprintf(stderr, "floor_uring: register_buf_ring: %s\n", std::strerror(-r));
    return 1;
  }
  io_uring_buf_ring_init(br);
  const int mask = io_uring_buf_ring_mask(kBuffers);
  for (unsigned i = 0; i < kBuffers; ++i) {
    io_uring_buf_ring_add(br, buffers.data() + std::size_t{i} * kBufferSize, kBufferSize, static_cast<unsigned short>(i),
                          mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br, kBuffers);

  std::vector<Conn> conns(kSlots);
  std::uint64_t short_sends = 0;
  auto sqe = [&] {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    while (s == nullptr) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  };
  auto arm_accept = [&] {
    io_uring_sqe* s = sqe();
    io_uring_prep_multishot_accept_direct(s, lfd, nullptr, nullptr, 0);
    io_uring_sqe_set_data64(s, data_of(kAccept, 0));
  };
  auto arm_recv = [&](unsigned slot) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv_multishot(s, static_cast<int>(slot), nullptr, 0, 0);
    s->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    s->buf_group = 0;
    io_uring_sqe_set_data64(s, data_of(kRecv, slot));
  };
  auto send_owed = [&](unsigned slot) {
    Conn& c = conns[slot];
    if (c.sending != 0 || c.owed == 0) return;
    c.sending = std::min(c.owed, kBatch);
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, static_cast<int>(slot), answers.data(), c.sending * one.size(), MSG_NOSIGNAL);
    s->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(s, data_of(kSend, slot));
  };
  auto close_slot = [&](unsigned slot) {
    if (!conns[slot].open) return;
    conns[slot].open = false;
    io_uring_sqe* s = sqe();
    io_uring_prep_close_direct(s, slot);
    io_uring_sqe_set_data64(s, data_of(kClose, slot));
  };

  struct sigaction sa{};
  sa.sa_handler = on_term;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  arm_accept();
  std::printf("floor_uring: listening on %u\n", static_cast<unsigned>(bound));
  std::fflush(stdout);

  while (!stop.load(std::memory_order_relaxed)) {
    const int r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0 && r != -EINTR && r != -EBUSY) {
      std::fprintf(stderr, "floor_uring: io_uring_submit_and_wait: %s\n", std::strerror(-r));
      return 1;
    }
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const auto op = static_cast<Op>(cqe->user_data >> 32);
      const auto slot = static_cast<unsigned>(cqe->user_data & 0xffffffffu);
      const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
      switch (op) {
        case kAccept:
          if (cqe->res >= 0 && static_cast<unsigned>(cqe->res) < kSlots) {
            conns[static_cast<unsigned>(cqe->res)] = Conn{};
            conns[static_cast<unsigned>(cqe->res)].open = true;
            arm_recv(static_cast<unsigned>(cqe->res));
          }
          if (!more) arm_accept();
          break;
        case kRecv: {
          Conn& c = conns[slot];
          if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER) != 0) {
            const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            const char* data = buffers.data() + std::size_t{bid} * kBufferSize;
            if (c.open) c.owed += count_ends(c, data, static_cast<std::size_t>(cqe->res));
            io_uring_buf_ring_add(br, buffers.data() + std::size_t{bid} * kBufferSize, kBufferSize,
                                  static_cast<unsigned short>(bid), mask, 0);
            io_uring_buf_ring_advance(br, 1);
            if (c.open) send_owed(slot);
            if (!more && c.open) arm_recv(slot);
          } else if (cqe->res == -ENOBUFS) {
            if (!more && c.open) arm_recv(slot);
          } else if (!more) {
            close_slot(slot);  // end of input or an error
          }
          break;
        }
        case kSend: {
          Conn& c = conns[slot];
          const std::uint64_t sent = c.sending;
          c.sending = 0;
          if (cqe->res != static_cast<int>(sent * one.size())) {
            if (cqe->res >= 0) ++short_sends;
            close_slot(slot);
            break;
          }
          c.owed -= sent;
          if (c.open) send_owed(slot);
          break;
        }
        case kClose:
          break;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
  std::printf("floor_uring: stopped (%llu short sends closed their connection)\n",
              static_cast<unsigned long long>(short_sends));
  io_uring_queue_exit(&ring);
  ::munmap(ring_mem, ring_bytes);
  ::close(lfd);
  return 0;
}

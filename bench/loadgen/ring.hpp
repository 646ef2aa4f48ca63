// Ring: one io_uring and its ring of provided receive buffers, for one loadgen worker
// thread. Created, used and destroyed on that thread (the ring is set up SINGLE_ISSUER and
// DEFER_TASKRUN where the kernel allows: completions are produced only inside our own
// io_uring_enter, one per loop iteration). All SQE preparation goes through sqe(), which
// flushes a full submission queue instead of failing.
//
// user_data layout (the only place it is packed and unpacked):
//   bits  0..7   OpKind
//   bits  8..31  connection index within the worker (so at most 2^24 connections per thread)
//   bits 32..63  the connection's generation when the operation was queued; a completion
//                whose generation no longer matches belongs to a closed connection and is
//                dropped (its provided buffer, if any, still goes back to the ring).
#pragma once

#include <liburing.h>

#include <cstdint>
#include <string>

namespace loadgen {

enum class OpKind : std::uint8_t { Ignore = 0, Connect = 1, Recv = 2, Send = 3 };

constexpr std::uint32_t kMaxConnsPerThread = 1u << 24;

struct Tag {
  OpKind kind;
  std::uint32_t conn;
  std::uint32_t gen;
};

constexpr std::uint64_t pack_tag(OpKind k, std::uint32_t conn, std::uint32_t gen) {
  return static_cast<std::uint64_t>(k) | (static_cast<std::uint64_t>(conn & (kMaxConnsPerThread - 1)) << 8) |
         (static_cast<std::uint64_t>(gen) << 32);
}
constexpr Tag unpack_tag(std::uint64_t u) {
  return Tag{static_cast<OpKind>(u & 0xff), static_cast<std::uint32_t>((u >> 8) & (kMaxConnsPerThread - 1)),
             static_cast<std::uint32_t>(u >> 32)};
}
static_assert(unpack_tag(pack_tag(OpKind::Send, kMaxConnsPerThread - 1, 0xffffffffu)).conn ==
              kMaxConnsPerThread - 1);
static_assert(unpack_tag(pack_tag(OpKind::Send, 5, 0xfffffffeu)).gen == 0xfffffffeu);
static_assert(unpack_tag(pack_tag(OpKind::Recv, 5, 7)).kind == OpKind::Recv);

class Ring {
 public:
  struct Options {
    unsigned sq_entries = 1024;  // rounded up to a power of two by the kernel
    unsigned cq_entries = 8192;  // multishot receives can post several completions each
    unsigned buf_count = 1024;   // provided buffers (a power of two, at most 32768)
    unsigned buf_size = 8192;    // bytes each
  };
  static constexpr unsigned kGroup = 0;  // the buffer group id used by every receive

  // Sets up the ring and registers the buffer ring. Throws std::runtime_error naming the
  // cause (io_uring disabled, kernel too old for provided buffer rings, out of memory).
  explicit Ring(const Options& o);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // A free SQE; submits what is queued first when the submission queue is full.
  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (s == nullptr) {
      io_uring_submit(&ring_);
      flushed_ = true;
      s = io_uring_get_sqe(&ring_);
    }
    return s;
  }
  // Whether sqe() had to submit early since the last call (then completions already
  // posted may have been consumed in the same pass: the caller waits for just one).
  bool take_flushed() {
    const bool f = flushed_;
    flushed_ = false;
    return f;
  }

  // One io_uring_enter: submits everything queued and waits until `wait_nr` completions
  // are ready or `timeout_ns` has passed. Returns the kernel's result (-ETIME on timeout).
  int submit_and_wait(unsigned wait_nr, std::int64_t timeout_ns);

  char* buffer(std::uint16_t bid) { return bufs_ + static_cast<std::size_t>(bid) * buf_size_; }
  // Gives a buffer back; the kernel sees it after publish_buffers().
  void recycle(std::uint16_t bid) {
    io_uring_buf_ring_add(br_, buffer(bid), buf_size_, bid, static_cast<int>(buf_count_ - 1), pending_++);
  }
  void publish_buffers() {
    if (pending_ != 0) {
      io_uring_buf_ring_advance(br_, pending_);
      pending_ = 0;
    }
  }

  io_uring* raw() { return &ring_; }
  // How the ring was set up: "defer_taskrun", "coop_taskrun" or "plain".
  const char* setup() const { return setup_; }

 private:
  io_uring ring_{};
  io_uring_buf_ring* br_ = nullptr;
  char* bufs_ = nullptr;
  std::size_t br_bytes_ = 0;
  std::size_t bufs_bytes_ = 0;
  unsigned buf_count_ = 0;
  unsigned buf_size_ = 0;
  int pending_ = 0;
  bool flushed_ = false;
  const char* setup_ = "plain";
};

}  // namespace loadgen

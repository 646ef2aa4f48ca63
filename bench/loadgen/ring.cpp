// Ring set-up, feature probing and tear-down for loadgen (see ring.hpp).
#include "ring.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace loadgen {
namespace {

std::runtime_error fail(const std::string& what, int err) {
  return std::runtime_error(what + ": " + std::strerror(err));
}

}  // namespace

Ring::Ring(const Options& o) : buf_count_(o.buf_count), buf_size_(o.buf_size) {
  if (buf_count_ == 0 || (buf_count_ & (buf_count_ - 1)) != 0 || buf_count_ > 32768)
    throw std::runtime_error("receive buffer count must be a power of two up to 32768");
  // Best first: completions only inside our own enter (no interrupting task work).
  struct Try {
    unsigned flags;
    const char* name;
  };
  const Try tries[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL, "defer_taskrun"},
      {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL, "coop_taskrun"},
      {0, "plain"},
  };
  int err = 0;
  bool ok = false;
  for (const Try& t : tries) {
    io_uring_params p{};
    p.flags = t.flags | IORING_SETUP_CQSIZE;
    p.cq_entries = o.cq_entries;
    err = io_uring_queue_init_params(o.sq_entries, &ring_, &p);
    if (err == 0) {
      setup_ = t.name;
      ok = true;
      break;
    }
    if (err != -EINVAL) break;
  }
  if (!ok) throw fail("io_uring_queue_init (io_uring disabled or not permitted here?)", -err);

  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  const bool have = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_RECV) &&
                    io_uring_opcode_supported(probe, IORING_OP_SEND) &&
                    io_uring_opcode_supported(probe, IORING_OP_CONNECT);
  if (probe != nullptr) io_uring_free_probe(probe);
  if (!have) {
    io_uring_queue_exit(&ring_);
    throw std::runtime_error("this kernel's io_uring lacks RECV, SEND or CONNECT");
  }

  br_bytes_ = sizeof(io_uring_buf) * buf_count_;
  void* br = ::mmap(nullptr, br_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  bufs_bytes_ = static_cast<std::size_t>(buf_count_) * buf_size_;
  void* bufs = ::mmap(nullptr, bufs_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (br == MAP_FAILED || bufs == MAP_FAILED) {
    const int e = errno;
    if (br != MAP_FAILED) ::munmap(br, br_bytes_);
    if (bufs != MAP_FAILED) ::munmap(bufs, bufs_bytes_);
    io_uring_queue_exit(&ring_);
    throw fail("mmap of receive buffers", e);
  }
  br_ = static_cast<io_uring_buf_ring*>(br);
  bufs_ = static_cast<char*>(bufs);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br_);
  reg.ring_entries = buf_count_;
  reg.bgid = kGroup;
  err = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (err != 0) {
    ::munmap(br_, br_bytes_);
    ::munmap(bufs_, bufs_bytes_);
    io_uring_queue_exit(&ring_);
    throw fail("io_uring_register_buf_ring (needs Linux 5.19+; multishot receive needs 6.0+)", -err);
  }
  io_uring_buf_ring_init(br_);
  for (unsigned i = 0; i < buf_count_; ++i) recycle(static_cast<std::uint16_t>(i));
  publish_buffers();
}

Ring::~Ring() {
  if (br_ == nullptr) return;
  // Tearing the ring down cancels every request before the buffers they write into go.
  io_uring_queue_exit(&ring_);
  ::munmap(br_, br_bytes_);
  ::munmap(bufs_, bufs_bytes_);
  br_ = nullptr;
}

int Ring::submit_and_wait(unsigned wait_nr, std::int64_t timeout_ns) {
  if (timeout_ns < 0) timeout_ns = 0;
  __kernel_timespec ts{};
  ts.tv_sec = timeout_ns / 1000000000;
  ts.tv_nsec = timeout_ns % 1000000000;
  io_uring_cqe* cqe = nullptr;
  return io_uring_submit_and_wait_timeout(&ring_, &cqe, wait_nr, &ts, nullptr);
}

}  // namespace loadgen

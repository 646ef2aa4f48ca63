#include "ringactor/runtime/buffer_ring.hpp"

#include <liburing.h>
#include <sys/mman.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace ringactor::runtime {

namespace {
std::size_t page_round(std::size_t n) {
  constexpr std::size_t kPage = 4096;
  return (n + kPage - 1) & ~(kPage - 1);
}
}  // namespace

BufferRing::BufferRing(io_uring& ring, std::uint16_t group_id, std::uint32_t count,
                       std::uint32_t size)
    : ring_(&ring), count_(count), size_(size), group_id_(group_id) {
  if (count == 0 || count > 32768 || (count & (count - 1)) != 0) {
    throw std::invalid_argument("BufferRing: buffer count must be a power of two in [1, 32768], got " +
                                std::to_string(count));
  }
  if (size == 0) throw std::invalid_argument("BufferRing: buffer size must be positive");

  ring_bytes_ = page_round(sizeof(io_uring_buf) * count);
  void* ring_mem = ::mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (ring_mem == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(), "BufferRing: mmap of the ring failed");
  }
  br_ = static_cast<io_uring_buf_ring*>(ring_mem);

  data_bytes_ = page_round(static_cast<std::size_t>(count) * size);
  void* data_mem = ::mmap(nullptr, data_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (data_mem == MAP_FAILED) {
    const int err = errno;
    ::munmap(ring_mem, ring_bytes_);
    throw std::system_error(err, std::generic_category(), "BufferRing: mmap of the buffers failed");
  }
  data_ = static_cast<std::byte*>(data_mem);

  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br_);
  reg.ring_entries = count;
  reg.bgid = group_id;
  const int ret = io_uring_register_buf_ring(ring_, &reg, 0);
  if (ret < 0) {
    ::munmap(data_mem, data_bytes_);
    ::munmap(ring_mem, ring_bytes_);
    throw std::system_error(-ret, std::generic_category(),
                            "BufferRing: io_uring_register_buf_ring failed (kernel 5.19+ needed)");
  }
  registered_ = true;

  io_uring_buf_ring_init(br_);
  const int mask = io_uring_buf_ring_mask(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    io_uring_buf_ring_add(br_, data_ + static_cast<std::size_t>(i) * size, size,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br_, static_cast<int>(count));
}

BufferRing::~BufferRing() {
  if (registered_) io_uring_unregister_buf_ring(ring_, group_id_);
  if (data_ != nullptr) ::munmap(data_, data_bytes_);
  if (br_ != nullptr) ::munmap(br_, ring_bytes_);
}

void BufferRing::recycle(std::uint16_t id) noexcept {
  io_uring_buf_ring_add(br_, data_ + static_cast<std::size_t>(id) * size_, size_, id,
                        io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(br_, 1);
  --outstanding_;
}

}  // namespace ringactor::runtime

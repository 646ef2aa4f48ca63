// BufferRing: an io_uring provided-buffer ring that multishot receives pick buffers from.
//
// The kernel takes a buffer from the ring for each receive completion; the reactor hands
// the bytes to the connection and gives the buffer back at once (recycle()), so a
// connection that is not receiving holds no receive memory. Debian 12's liburing 2.3 has no
// io_uring_setup_buf_ring, so the ring memory is mmap'ed here and registered with
// io_uring_register_buf_ring.
//
// Owned by a Reactor and used only on its thread. Counts what it hands out so tests can
// check that every buffer comes back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

struct io_uring;
struct io_uring_buf_ring;

namespace ringactor::runtime {

class BufferRing {
 public:
  // Registers `count` buffers of `size` bytes as buffer group `group_id` on `ring`.
  // count must be a power of two between 1 and 32768. Throws std::system_error naming the
  // cause when the kernel refuses (e.g. a kernel without buffer rings) or memory is short.
  BufferRing(io_uring& ring, std::uint16_t group_id, std::uint32_t count, std::uint32_t size);
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;
  ~BufferRing();

  // The bytes of buffer `id` as filled by a completion of `len` bytes.
  std::span<const std::byte> view(std::uint16_t id, std::uint32_t len) const noexcept {
    return {data_ + static_cast<std::size_t>(id) * size_, len};
  }

  // Gives buffer `id` back to the kernel. O(1); publishes immediately.
  void recycle(std::uint16_t id) noexcept;

  std::uint16_t group_id() const noexcept { return group_id_; }
  std::uint32_t count() const noexcept { return count_; }
  std::uint32_t buffer_size() const noexcept { return size_; }
  // Buffers currently taken by the kernel and not yet recycled (for accounting tests).
  std::uint32_t outstanding() const noexcept { return outstanding_; }
  // Called by the reactor when a completion says the kernel consumed a buffer.
  void note_taken() noexcept { ++outstanding_; }

 private:
  io_uring* ring_;
  io_uring_buf_ring* br_ = nullptr;
  std::size_t ring_bytes_ = 0;
  std::byte* data_ = nullptr;
  std::size_t data_bytes_ = 0;
  std::uint32_t count_;
  std::uint32_t size_;
  std::uint32_t outstanding_ = 0;
  std::uint16_t group_id_;
  bool registered_ = false;
};

}  // namespace ringactor::runtime

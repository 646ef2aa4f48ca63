// SharedBlock: an immutable, reference-counted run of bytes that many sends may reference.
//
// A baked asset response or a room broadcast frame is built once into a SharedBlock and
// queued on every connection that needs it without copying; the memory is freed when the
// last reference (a queued send, a cache entry) goes away. The bytes never change after
// creation. Copies may be made and dropped on any thread (the count is atomic: increments
// relaxed, the final decrement acquire-release so the freeing thread sees every write).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <string_view>
#include <utility>

namespace ringactor::runtime {

class SharedBlock {
 public:
  SharedBlock() noexcept = default;

  // Allocates `size` bytes and lets `fill` write them (once, before anyone else sees them).
  // Throws std::bad_alloc.
  template <typename Fill>
  static SharedBlock build(std::size_t size, Fill&& fill) {
    void* mem = ::operator new(sizeof(Header) + size);
    auto* h = ::new (mem) Header{};
    std::forward<Fill>(fill)(std::span<std::byte>(reinterpret_cast<std::byte*>(h + 1), size));
    h->size = size;
    return SharedBlock(h);
  }
  // The same, for a block that belongs to a bounded pool (a module's read buffers): a
  // connection whose queued output references one and stops draining can be closed when
  // the pool runs dry (Reactor::shed_stalled), instead of holding it hostage.
  template <typename Fill>
  static SharedBlock build_pooled(std::size_t size, Fill&& fill) {
    SharedBlock b = build(size, std::forward<Fill>(fill));
    b.h_->size |= kPooledBit;
    return b;
  }
  static SharedBlock copy_of(std::span<const std::byte> bytes) {
    return build(bytes.size(), [&](std::span<std::byte> out) {
      if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    });
  }
  static SharedBlock copy_of(std::string_view text) {
    return copy_of(std::as_bytes(std::span<const char>(text.data(), text.size())));
  }

  SharedBlock(const SharedBlock& o) noexcept : h_(o.h_) {
    if (h_ != nullptr) h_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  SharedBlock(SharedBlock&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  SharedBlock& operator=(SharedBlock o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  ~SharedBlock() { reset(); }

  void reset() noexcept {
    if (h_ != nullptr && h_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      h_->~Header();
      ::operator delete(h_);
    }
    h_ = nullptr;
  }

  const std::byte* data() const noexcept { return h_ ? reinterpret_cast<const std::byte*>(h_ + 1) : nullptr; }
  std::size_t size() const noexcept { return h_ ? h_->size & ~kPooledBit : 0; }
  bool pooled() const noexcept { return h_ != nullptr && (h_->size & kPooledBit) != 0; }
  std::span<const std::byte> bytes() const noexcept { return {data(), size()}; }
  explicit operator bool() const noexcept { return h_ != nullptr; }
  long use_count() const noexcept { return h_ ? h_->refs.load(std::memory_order_relaxed) : 0; }

 private:
  static constexpr std::size_t kPooledBit = std::size_t{1} << (sizeof(std::size_t) * 8 - 1);
  struct alignas(16) Header {
    std::atomic<long> refs{1};
    std::size_t size = 0;  // the top bit marks a pooled block
  };
  explicit SharedBlock(Header* h) noexcept : h_(h) {}
  Header* h_ = nullptr;
};

}  // namespace ringactor::runtime

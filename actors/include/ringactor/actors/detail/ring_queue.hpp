// RingQueue<T>: a growable FIFO ring buffer (power-of-two capacity). Push and pop are O(1)
// and allocate only when the queue grows past its largest size so far, so a warmed-up
// actor run queue moves messages without touching the allocator. One thread.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace ringactor::actors::detail {

template <typename T>
class RingQueue {
 public:
  RingQueue() = default;
  RingQueue(const RingQueue&) = delete;
  RingQueue& operator=(const RingQueue&) = delete;
  ~RingQueue() { clear(); }

  template <typename... A>
  void emplace_back(A&&... args) {
    if (size_ == cap_) grow();
    ::new (static_cast<void*>(slot(head_ + size_))) T(std::forward<A>(args)...);
    ++size_;
  }
  T& front() noexcept { return *slot(head_); }
  void pop_front() noexcept {
    slot(head_)->~T();
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
  }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return cap_; }
  void clear() noexcept {
    while (!empty()) pop_front();
  }

 private:
  T* slot(std::size_t i) noexcept { return std::launder(reinterpret_cast<T*>(buf_.get()) + (i & (cap_ - 1))); }
  void grow() {
    const std::size_t cap = cap_ == 0 ? 64 : cap_ * 2;
    auto fresh = std::unique_ptr<Storage[]>(new Storage[cap]);
    T* dst = reinterpret_cast<T*>(fresh.get());
    for (std::size_t i = 0; i < size_; ++i) {
      T* src = slot(head_ + i);
      ::new (static_cast<void*>(dst + i)) T(std::move(*src));
      src->~T();
    }
    buf_ = std::move(fresh);
    cap_ = cap;
    head_ = 0;
  }
  struct alignas(T) Storage {
    unsigned char bytes[sizeof(T)];
  };
  std::unique_ptr<Storage[]> buf_;
  std::size_t cap_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace ringactor::actors::detail

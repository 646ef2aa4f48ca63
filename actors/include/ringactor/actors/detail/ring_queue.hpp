// ChunkQueue<T>: an unbounded FIFO made of fixed-size blocks. Elements never move once
// pushed (a handler may push while the element it runs from is still at the front), push and
// pop are O(1), and emptied blocks are kept for reuse (up to kCachedBlocks), so a warmed-up
// actor run queue moves messages without touching the allocator. One thread.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace ringactor::actors::detail {

template <typename T, std::size_t kBlockSize = 128>
class ChunkQueue {
 public:
  static constexpr std::size_t kCachedBlocks = 64;

  ChunkQueue() = default;
  ChunkQueue(const ChunkQueue&) = delete;
  ChunkQueue& operator=(const ChunkQueue&) = delete;
  ~ChunkQueue() {
    clear();
    release(head_);
    release(free_);
  }

  template <typename... A>
  T& emplace_back(A&&... args) {
    if (tail_ == nullptr || tail_end_ == kBlockSize) append_block();
    T* p = ::new (static_cast<void*>(tail_->at(tail_end_))) T(std::forward<A>(args)...);
    ++tail_end_;
    ++size_;
    return *p;
  }
  T& front() noexcept { return *std::launder(reinterpret_cast<T*>(head_->at(head_begin_))); }
  void pop_front() noexcept {
    front().~T();
    ++head_begin_;
    --size_;
    if (head_begin_ == kBlockSize || size_ == 0) {
      if (head_ == tail_) {  // the only block: rewind it in place
        head_begin_ = tail_end_ = 0;
      } else {
        Block* done = head_;
        head_ = head_->next;
        head_begin_ = 0;
        recycle(done);
      }
    }
  }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  void clear() noexcept {
    while (!empty()) pop_front();
  }

 private:
  struct Block {
    alignas(T) unsigned char storage[sizeof(T) * kBlockSize];
    Block* next = nullptr;
    void* at(std::size_t i) noexcept { return storage + i * sizeof(T); }
  };

  void append_block() {
    Block* b = free_;
    if (b != nullptr) {
      free_ = b->next;
      --free_count_;
      b->next = nullptr;
    } else {
      b = new Block();
    }
    if (tail_ == nullptr) {
      head_ = b;
      head_begin_ = 0;
    } else {
      tail_->next = b;
    }
    tail_ = b;
    tail_end_ = 0;
  }
  void recycle(Block* b) noexcept {
    if (free_count_ < kCachedBlocks) {
      b->next = free_;
      free_ = b;
      ++free_count_;
    } else {
      delete b;
    }
  }
  static void release(Block* b) noexcept {
    while (b != nullptr) {
      Block* next = b->next;
      delete b;
      b = next;
    }
  }

  Block* head_ = nullptr;
  Block* tail_ = nullptr;
  Block* free_ = nullptr;
  std::size_t head_begin_ = 0;  // first live element in head_
  std::size_t tail_end_ = 0;    // one past the last element in tail_
  std::size_t size_ = 0;
  std::size_t free_count_ = 0;
};

}  // namespace ringactor::actors::detail

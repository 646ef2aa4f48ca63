// SlotPool<T>: a fixed-capacity, contiguous, generation-tagged pool of T.
//
// Acquire and release are O(1) (a free stack). Every slot has a generation that changes
// when the slot is released, so a (index, generation) pair names one *use* of a slot and a
// stale pair is detected instead of touching a reused object. A dense "live list" of the
// occupied indices supports incremental scans (idle timeouts) without walking free slots.
//
// Memory: the slot array is allocated with calloc and never touched up front, so pages are
// only faulted in as slots are first used (a pool sized for 1M connections costs nothing
// until they arrive). Owned by one thread; not thread-safe.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ringactor/runtime/user_data.hpp"

namespace ringactor::runtime {

template <typename T>
class SlotPool {
 public:
  static constexpr std::uint32_t kNoIndex = 0xFFFFFFFFu;

  // Throws std::invalid_argument for capacity 0 and std::bad_alloc when out of memory.
  explicit SlotPool(std::uint32_t capacity) : capacity_(capacity) {
    if (capacity == 0 || capacity == kNoIndex) {
      throw std::invalid_argument("SlotPool capacity must be between 1 and 2^32-2, got " +
                                  std::to_string(capacity));
    }
    entries_ = static_cast<Entry*>(std::calloc(capacity, sizeof(Entry)));
    if (entries_ == nullptr) throw std::bad_alloc();
    free_.reserve(capacity);
    live_.reserve(capacity);
  }
  SlotPool(const SlotPool&) = delete;
  SlotPool& operator=(const SlotPool&) = delete;
  ~SlotPool() {
    for (std::uint32_t index : live_) ptr(index)->~T();
    std::free(entries_);
  }

  // Constructs a T in a free slot and returns its index, or kNoIndex when the pool is full.
  // O(1). Exceptions from T's constructor propagate and leave the pool unchanged.
  template <typename... A>
  std::uint32_t acquire(A&&... args) {
    std::uint32_t index;
    if (!free_.empty()) {
      index = free_.back();
    } else if (never_used_ < capacity_) {
      index = never_used_;
    } else {
      return kNoIndex;
    }
    ::new (static_cast<void*>(entries_[index].storage)) T(std::forward<A>(args)...);
    if (!free_.empty() && free_.back() == index) {
      free_.pop_back();
    } else {
      ++never_used_;
    }
    entries_[index].live_pos = static_cast<std::uint32_t>(live_.size());
    live_.push_back(index);
    return index;
  }

  // Destroys the T in a live slot and bumps its generation. O(1).
  void release(std::uint32_t index) noexcept {
    Entry& e = entries_[index];
    ptr(index)->~T();
    e.generation = (e.generation + 1) & kGenerationMask;
    const std::uint32_t pos = e.live_pos;
    const std::uint32_t moved = live_.back();
    live_[pos] = moved;
    entries_[moved].live_pos = pos;
    live_.pop_back();
    e.live_pos = kNoIndex;
    free_.push_back(index);
  }

  // The object in a live slot. Precondition: index is live.
  T& operator[](std::uint32_t index) noexcept { return *ptr(index); }
  const T& operator[](std::uint32_t index) const noexcept { return *ptr(index); }

  // The object if (index, generation) still names a live use of the slot, else nullptr.
  T* find(std::uint32_t index, std::uint32_t generation) noexcept {
    if (index >= never_used_) return nullptr;
    const Entry& e = entries_[index];
    if (e.live_pos == kNoIndex || e.generation != (generation & kGenerationMask)) return nullptr;
    return ptr(index);
  }

  const T* find(std::uint32_t index, std::uint32_t generation) const noexcept {
    return const_cast<SlotPool*>(this)->find(index, generation);
  }

  std::uint32_t generation(std::uint32_t index) const noexcept { return entries_[index].generation; }
  bool is_live(std::uint32_t index) const noexcept {
    return index < never_used_ && entries_[index].live_pos != kNoIndex;
  }

  // Occupied indices in no particular order; invalidated by acquire/release.
  std::span<const std::uint32_t> live() const noexcept { return live_; }
  std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(live_.size()); }
  std::uint32_t capacity() const noexcept { return capacity_; }
  bool full() const noexcept { return size() == capacity_; }

 private:
  struct Entry {
    alignas(T) unsigned char storage[sizeof(T)];
    std::uint32_t generation;
    std::uint32_t live_pos;  // position in live_, kNoIndex when free (calloc'd 0 is unused:
                             // never_used_ guards slots that were never handed out)
  };

  T* ptr(std::uint32_t index) const noexcept {
    return std::launder(reinterpret_cast<T*>(entries_[index].storage));
  }

  Entry* entries_ = nullptr;
  std::uint32_t capacity_;
  std::uint32_t never_used_ = 0;  // slots [never_used_, capacity_) were never acquired
  std::vector<std::uint32_t> free_;
  std::vector<std::uint32_t> live_;
};

}  // namespace ringactor::runtime

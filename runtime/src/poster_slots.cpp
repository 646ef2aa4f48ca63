#include "poster_slots.hpp"

#include <thread>

namespace ringactor::runtime {

namespace {

// A thread's slots in the last few reactors it posted to. Each entry keeps its table alive,
// so a table's address is never reused while cached: the address is the key.
struct Cache {
  static constexpr int kEntries = 4;
  struct Entry {
    std::shared_ptr<PosterSlots> table;
    PosterSlots::Slot* slot = nullptr;
  };
  Entry entries[kEntries];
  unsigned next = 0;  // the entry to evict next

  static void release(Entry& e) noexcept {
    if (e.slot != nullptr) e.slot->taken.store(false, std::memory_order_release);
    e.slot = nullptr;
    e.table.reset();
  }
  ~Cache();
};

thread_local Cache t_cache;
// Set once t_cache is destroyed (a trivially destructible flag outlives it): a post from a
// later thread-local destructor takes a slot of its own, never released.
thread_local bool t_cache_gone = false;

Cache::~Cache() {
  for (Entry& e : entries) release(e);
  t_cache_gone = true;
}

}  // namespace

PosterSlots::Slot& PosterSlots::mine(const std::shared_ptr<PosterSlots>& table) {
  if (t_cache_gone) return table->take();
  for (Cache::Entry& e : t_cache.entries) {
    if (e.table == table) return *e.slot;
  }
  Slot& slot = table->take();
  Cache::Entry& e = t_cache.entries[t_cache.next];
  t_cache.next = (t_cache.next + 1) % Cache::kEntries;
  Cache::release(e);  // this thread is not inside post() of that reactor now
  e.table = table;
  e.slot = &slot;
  return slot;
}

PosterSlots::Slot& PosterSlots::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Slot& s : slots_) {
    if (!s.taken.load(std::memory_order_acquire)) {
      s.taken.store(true, std::memory_order_relaxed);
      return s;
    }
  }
  Slot& s = slots_.emplace_back();
  s.taken.store(true, std::memory_order_relaxed);
  return s;
}

void PosterSlots::wait_idle() const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Slot& s : slots_) {
    while (s.busy.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }
}

}  // namespace ringactor::runtime

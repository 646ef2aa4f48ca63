// PosterSlots: which threads are inside Reactor::post right now, without a shared counter.
// Internal to the runtime (not installed).
//
// The reactor's exit must wait for producers already inside post() (they checked that the
// reactor was not finished and are about to enqueue) before its last drain. A shared
// counter does that with two locked read-modify-writes per post, and each one waits for the
// poster's earlier stores (the queued closure) to leave its store buffer: on a stream of
// posts that was a third of the posting thread's time. Here each posting thread owns a slot
// per reactor, found through a small thread-local cache, and marks it with plain stores;
// the exit marks the reactor finished, issues the matching barrier and waits until every
// slot reads idle.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

namespace ringactor::runtime {

class PosterSlots {
 public:
  struct alignas(64) Slot {
    std::atomic<std::uint32_t> busy{0};  // written by the owner only
    std::atomic<bool> taken{false};      // owned by a thread (reused once that thread ends)
  };

  // Any thread: this thread's slot in `table` (registered on first use; a mutex then).
  // Throws std::bad_alloc if a new slot cannot be had.
  static Slot& mine(const std::shared_ptr<PosterSlots>& table);

  // Exit thread, after publishing `finished` and a barrier: waits until no slot is busy.
  void wait_idle() const;

 private:
  Slot& take();

  mutable std::mutex mutex_;
  std::deque<Slot> slots_;  // stable addresses
};

}  // namespace ringactor::runtime

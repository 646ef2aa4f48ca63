// InvokeQueue: closures posted to a reactor from any thread, with coalesced wake-ups.
// Internal to the runtime (not installed): users post through Reactor::post.
//
// Producers (worker threads, other reactors) push closures into a moodycamel
// ConcurrentQueue; the reactor drains it in bulk once per loop iteration. The queue is FIFO
// per producer thread only: closures from two threads interleave arbitrarily, so results
// that must stay ordered for one receiver carry their own sequence number.
//
// Wake-ups: before the reactor sleeps it sets `parked`, issues a full fence and looks at the
// queue again (prepare_park). A producer pushes, issues a full fence, and writes the eventfd
// only if it sees `parked` and is the one that clears it (exchange), so there is at most one
// eventfd write per park and none at all while the reactor is busy. The two fences make this
// a Dekker pair: either the reactor sees the new item, or the producer sees `parked`.
//
// Asymmetric mode (use_asymmetric_fence, for ReactorOptions::invoke_spin): the producer's
// fence becomes a compiler barrier and the reactor's becomes membarrier(2)
// PRIVATE_EXPEDITED, which makes every running thread of the process execute a full
// barrier. A producer then pays no fence per post (on a busy stream, half its time went
// there, waiting for its stores to drain); each park pays a syscall and an IPI to the
// other cores running this process, which only suits a loop that parks rarely.
#pragma once

// <linux/fs.h> (pulled in by liburing.h) defines a BLOCK_SIZE macro that breaks
// moodycamel's BLOCK_SIZE member; hide it while the queue header is read.
#pragma push_macro("BLOCK_SIZE")
#undef BLOCK_SIZE
#include <concurrentqueue/concurrentqueue.h>
#pragma pop_macro("BLOCK_SIZE")

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ringactor/runtime/task.hpp"

namespace ringactor::runtime {

class InvokeQueue {
 public:
  using Task = runtime::Task;

  // wake_fd: an eventfd the reactor reads through its ring (not owned). -1 disables wake-ups
  // (unit tests that only check the flag logic).
  explicit InvokeQueue(int wake_fd) noexcept : wake_fd_(wake_fd) {}

  // Any thread. Lock-free; allocates only when the queue grows a block. Returns false when
  // memory for a new block could not be had (the task is then destroyed by the caller).
  bool post(Task&& task);

  // Reactor thread. Dequeues in bulk and calls run(task) for up to `budget` tasks; returns
  // how many ran. `run` must not throw (the reactor catches and logs inside it), or the
  // rest of the bulk would be dropped.
  template <typename Run>
  std::size_t drain(std::size_t budget, Run&& run) {
    std::size_t total = 0;
    while (total < budget) {
      const std::size_t want = budget - total < kBulk ? budget - total : kBulk;
      const std::size_t n = queue_.try_dequeue_bulk(bulk_, want);
      if (n == 0) break;
      for (std::size_t i = 0; i < n; ++i) {
        run(bulk_[i]);
        bulk_[i].reset();
      }
      total += n;
      if (n < want) break;
    }
    return total;
  }

  // Before the reactor starts: switches to the asymmetric fence. Returns false (and stays
  // symmetric) where the kernel lacks membarrier's private expedited command.
  bool use_asymmetric_fence() noexcept;

  // The two sides of a Dekker pair built on this queue's mode (Reactor::post's slots and
  // the exit use them too). light: any thread, after its store and before its load (a full
  // fence, or a compiler barrier in asymmetric mode). heavy: the rare side (a full fence,
  // or membarrier in asymmetric mode).
  void light_barrier() const noexcept;
  void heavy_barrier() const noexcept;

  // Any thread, after publishing work the reactor finds through a park check (Reactor::
  // add_park_check): the same fence and conditional eventfd write as post(), no task.
  void wake() noexcept;

  // Reactor thread, before sleeping. Returns true when the reactor may sleep (nothing was
  // queued after `parked` became visible); false means it must not sleep (parked cleared).
  bool prepare_park() noexcept;
  // Reactor thread, after waking for any reason.
  void unpark() noexcept { parked_.store(false, std::memory_order_relaxed); }

  bool parked() const noexcept { return parked_.load(std::memory_order_relaxed); }
  std::size_t size_approx() const noexcept { return queue_.size_approx(); }
  // eventfd writes performed by producers (each one a syscall).
  std::uint64_t wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kBulk = 64;

  moodycamel::ConcurrentQueue<Task> queue_;
  // Producers only read and CAS `parked_`; keep it away from the queue's hot fields.
  alignas(64) std::atomic<bool> parked_{false};
  alignas(64) std::atomic<std::uint64_t> wakeups_{0};
  int wake_fd_;
  bool asymmetric_ = false;
  Task bulk_[kBulk];
};

}  // namespace ringactor::runtime

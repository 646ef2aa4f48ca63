#include "invoke_queue.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace ringactor::runtime {

bool InvokeQueue::post(Task&& task) {
  if (!queue_.enqueue(std::move(task))) return false;
  wake();
  return true;
}

void InvokeQueue::wake() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Cheap load first: while the reactor is busy this is the only shared access.
  if (parked_.load(std::memory_order_relaxed) &&
      parked_.exchange(false, std::memory_order_acq_rel)) {
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    if (wake_fd_ >= 0) {
      const std::uint64_t one = 1;
      ssize_t r;
      do {
        r = ::write(wake_fd_, &one, sizeof one);
      } while (r < 0 && errno == EINTR);
      // EAGAIN means the counter is saturated: a wake-up is pending anyway.
    }
  }
}

bool InvokeQueue::prepare_park() noexcept {
  parked_.store(true, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (queue_.size_approx() != 0) {
    parked_.store(false, std::memory_order_relaxed);
    return false;
  }
  return true;
}

}  // namespace ringactor::runtime

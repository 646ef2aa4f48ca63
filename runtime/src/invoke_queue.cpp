#include "invoke_queue.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace ringactor::runtime {

bool InvokeQueue::post(Task&& task) {
  if (!queue_.enqueue(std::move(task))) return false;
  wake();
  return true;
}

namespace {

long membarrier(int cmd) noexcept { return ::syscall(__NR_membarrier, cmd, 0U, 0); }

}  // namespace

bool InvokeQueue::use_asymmetric_fence() noexcept {
  const long supported = membarrier(MEMBARRIER_CMD_QUERY);
  if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) return false;
  asymmetric_ = true;
  return true;
}

void InvokeQueue::light_barrier() const noexcept {
  // Asymmetric: the other side's membarrier stands in for this fence (see the header).
  if (asymmetric_) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

void InvokeQueue::heavy_barrier() const noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Every thread of the process that runs now executes a barrier too. Registered, so this
  // cannot fail.
  if (asymmetric_) membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
}

void InvokeQueue::wake() noexcept {
  light_barrier();
  // Cheap load first: while the reactor is busy this is the only shared access.
  if (parked_.load(std::memory_order_relaxed) && parked_.exchange(false, std::memory_order_acq_rel)) {
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
  // A producer's queued item is visible below, or its next look at `parked` sees true.
  heavy_barrier();
  if (queue_.size_approx() != 0) {
    parked_.store(false, std::memory_order_relaxed);
    return false;
  }
  return true;
}

}  // namespace ringactor::runtime

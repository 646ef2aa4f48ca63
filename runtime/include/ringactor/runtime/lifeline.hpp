// Lifeline: tells work done on someone's behalf whether they still wait for it.
//
// The owner of a piece of pending work (an HTTP request whose answer is deferred, a reactor
// that is running) holds a Lifeline and cuts it once nobody waits any more: the client left,
// the reactor began to stop. Whoever does the work (a worker of the offload arena) keeps a
// copy and looks at is_cut() to give up early; work that has not started yet is skipped.
//
//   runtime::Lifeline line = runtime::Lifeline::make();
//   arena_work([line] { while (!line.is_cut() && more()) step(); });
//   ...
//   line.cut();                  // on the owner's thread, or any other
//
// Threads: any; cut() and is_cut() are a relaxed atomic store and load, so a cut is seen
// by other threads soon, not at once (it is a hint to stop, not a synchronisation point).
// Copies share one flag; a default-constructed Lifeline is never cut and costs nothing.
// Cost: make() allocates one control block of two cache lines (the flag sits on its own
// line, so that threads polling it do not contend with copies made and dropped on the
// owner's thread); a copy is a shared_ptr copy.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

namespace ringactor::runtime {

class Lifeline {
 public:
  // Never cut (nothing to follow).
  Lifeline() noexcept = default;
  // A new, uncut flag of its own.
  static Lifeline make() {
    auto block = std::make_shared<Flag>();
    return Lifeline(std::shared_ptr<std::atomic<bool>>(block, &block->cut));
  }
  // Shares a flag that lives inside a larger object (an aliasing shared_ptr), so an owner
  // that is already reference-counted needs no second allocation.
  explicit Lifeline(std::shared_ptr<std::atomic<bool>> flag) noexcept : flag_(std::move(flag)) {}

  // Marks it cut for every copy. Idempotent; a default Lifeline ignores it.
  void cut() const noexcept {
    if (flag_) flag_->store(true, std::memory_order_relaxed);
  }
  bool is_cut() const noexcept { return flag_ && flag_->load(std::memory_order_relaxed); }
  // False for a default Lifeline (it follows nothing).
  explicit operator bool() const noexcept { return static_cast<bool>(flag_); }

 private:
  // A reactor's lifeline is copied into every offload its actors make (a locked increment
  // of the reference count) while workers read the flag: apart, they share no cache line.
  struct alignas(64) Flag {
    std::atomic<bool> cut{false};
  };
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace ringactor::runtime

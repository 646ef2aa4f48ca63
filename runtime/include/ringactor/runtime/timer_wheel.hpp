// TimerWheel: a hashed timing wheel with O(1) schedule and cancel.
//
// Time is cut into ticks of `resolution` (default 1 ms). A timer due at tick t sits in
// bucket t mod kBuckets on an intrusive doubly-linked list, so inserting and cancelling are
// O(1) whatever the number of timers; advancing by one tick visits one bucket (timers more
// than one turn away stay in it until their turn). A bitmap of non-empty buckets lets the
// reactor find how long it may sleep without walking buckets. A timer never fires early; it
// fires at most one tick late plus however late `advance` is called.
//
// Owned by one thread (the reactor's); callbacks run inside advance() on that thread and may
// schedule and cancel timers, including themselves.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "ringactor/runtime/unique_function.hpp"

namespace ringactor::runtime {

// Names one scheduled timer. Default-constructed ids name nothing; cancelling one is a no-op.
struct TimerId {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;  // 0 never names a live timer
  explicit operator bool() const noexcept { return generation != 0; }
};

// Names a hook (Reactor::add_tick_hook, http::Server::add_deferred_hook) for its removal.
struct HookId {
  std::uint64_t serial = 0;  // 0 never names a hook
  explicit operator bool() const noexcept { return serial != 0; }
};

class TimerWheel {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::uint32_t kBuckets = 1024;  // ~1 s of 1 ms ticks per turn

  explicit TimerWheel(Clock::time_point origin,
                      Clock::duration resolution = std::chrono::milliseconds(1));

  // Runs `fn` once, at the first advance() whose `now` is at or after `when`. O(1).
  // A `when` in the past fires at the next advance(). Allocates only when the node pool grows.
  TimerId schedule(Clock::time_point when, UniqueFunction<void()> fn);

  // Stops a pending timer. O(1). Returns false when it already fired or was cancelled.
  bool cancel(TimerId id) noexcept;

  // Fires every timer due at `now`: earlier due ticks first, and timers due in the same
  // tick in the order they were scheduled. Returns how many fired. A callback that throws
  // does not stop the others: `on_error(what)` is told and advancing goes on.
  using ErrorSink = UniqueFunction<void(const char*)>;
  std::size_t advance(Clock::time_point now, ErrorSink on_error = {});

  // Upper bound on how long the caller may sleep before the next timer is due: the time to
  // the next non-empty bucket (an underestimate when that bucket holds later turns), or
  // nullopt when no timer is pending.
  std::optional<Clock::duration> time_until_next(Clock::time_point now) const noexcept;

  std::size_t size() const noexcept { return pending_; }
  Clock::duration resolution() const noexcept { return resolution_; }

 private:
  static constexpr std::uint32_t kNil = 0xFFFFFFFFu;
  static constexpr std::uint32_t kDueBucket = kBuckets;  // timers already due when scheduled

  struct Node {
    std::int64_t due_tick = 0;
    std::uint64_t seq = 0;  // schedule order, to fire timers due in one tick in that order
    std::uint32_t prev = kNil;
    std::uint32_t next = kNil;
    std::uint32_t bucket = kNil;  // kNil when not linked (free or firing)
    std::uint32_t generation = 1;
    UniqueFunction<void()> fn;
  };

  std::int64_t tick_of(Clock::time_point t) const noexcept;
  void link(std::uint32_t node, std::uint32_t bucket) noexcept;
  void unlink(std::uint32_t node) noexcept;
  void free_node(std::uint32_t node) noexcept;
  void collect(std::uint32_t bucket, std::int64_t upto_tick);

  Clock::time_point origin_;
  Clock::duration resolution_;
  std::int64_t current_tick_ = 0;  // every timer due at or before this tick has fired
  std::size_t pending_ = 0;
  std::uint64_t next_seq_ = 0;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> free_nodes_;
  std::vector<std::uint32_t> firing_;
  std::array<std::uint32_t, kBuckets + 1> heads_{};
  std::array<std::uint64_t, kBuckets / 64> nonempty_{};
};

}  // namespace ringactor::runtime

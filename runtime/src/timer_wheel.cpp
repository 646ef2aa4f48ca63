#include "ringactor/runtime/timer_wheel.hpp"

#include <algorithm>
#include <bit>
#include <exception>
#include <stdexcept>

namespace ringactor::runtime {

TimerWheel::TimerWheel(Clock::time_point origin, Clock::duration resolution)
    : origin_(origin), resolution_(resolution) {
  if (resolution <= Clock::duration::zero()) {
    throw std::invalid_argument("TimerWheel resolution must be positive");
  }
  heads_.fill(kNil);
}

std::int64_t TimerWheel::tick_of(Clock::time_point t) const noexcept {
  return (t - origin_) / resolution_;
}

void TimerWheel::link(std::uint32_t n, std::uint32_t bucket) noexcept {
  Node& node = nodes_[n];
  node.bucket = bucket;
  node.prev = kNil;
  node.next = heads_[bucket];
  if (node.next != kNil) nodes_[node.next].prev = n;
  heads_[bucket] = n;
  if (bucket < kBuckets) nonempty_[bucket / 64] |= (1ull << (bucket % 64));
}

void TimerWheel::unlink(std::uint32_t n) noexcept {
  Node& node = nodes_[n];
  if (node.prev != kNil) {
    nodes_[node.prev].next = node.next;
  } else {
    heads_[node.bucket] = node.next;
    if (node.next == kNil && node.bucket < kBuckets) {
      nonempty_[node.bucket / 64] &= ~(1ull << (node.bucket % 64));
    }
  }
  if (node.next != kNil) nodes_[node.next].prev = node.prev;
  node.prev = node.next = node.bucket = kNil;
}

void TimerWheel::free_node(std::uint32_t n) noexcept {
  Node& node = nodes_[n];
  node.fn.reset();
  node.generation = node.generation == 0xFFFFFFFFu ? 1 : node.generation + 1;
  free_nodes_.push_back(n);
}

TimerId TimerWheel::schedule(Clock::time_point when, UniqueFunction<void()> fn) {
  std::uint32_t n;
  if (!free_nodes_.empty()) {
    n = free_nodes_.back();
    free_nodes_.pop_back();
  } else {
    n = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& node = nodes_[n];
  node.fn = std::move(fn);
  // Round up so a timer never fires before `when`.
  const auto since = when - origin_;
  std::int64_t due = since / resolution_;
  if (since % resolution_ != Clock::duration::zero() && since > Clock::duration::zero()) ++due;
  node.due_tick = due;
  node.seq = next_seq_++;
  link(n, due <= current_tick_ ? kDueBucket : static_cast<std::uint32_t>(due % kBuckets));
  ++pending_;
  return TimerId{n, node.generation};
}

bool TimerWheel::cancel(TimerId id) noexcept {
  if (!id || id.index >= nodes_.size()) return false;
  Node& node = nodes_[id.index];
  if (node.generation != id.generation || !node.fn) return false;
  if (node.bucket != kNil) {
    unlink(id.index);
    free_node(id.index);
  } else {
    node.fn.reset();  // collected for firing in this advance(); it will be skipped and freed
  }
  --pending_;
  return true;
}

void TimerWheel::collect(std::uint32_t bucket, std::int64_t upto_tick) {
  std::uint32_t n = heads_[bucket];
  while (n != kNil) {
    const std::uint32_t next = nodes_[n].next;
    if (nodes_[n].due_tick <= upto_tick) {
      unlink(n);
      firing_.push_back(n);
    }
    n = next;
  }
}

std::size_t TimerWheel::advance(Clock::time_point now, ErrorSink on_error) {
  const std::int64_t now_tick = tick_of(now);
  firing_.clear();
  collect(kDueBucket, now_tick);
  if (now_tick > current_tick_) {
    const std::int64_t steps = now_tick - current_tick_;
    if (steps >= kBuckets) {
      for (std::uint32_t b = 0; b < kBuckets; ++b) collect(b, now_tick);
    } else {
      for (std::int64_t t = current_tick_ + 1; t <= now_tick; ++t) {
        collect(static_cast<std::uint32_t>(t % kBuckets), now_tick);
      }
    }
    current_tick_ = now_tick;
  }
  if (firing_.size() > 1) {
    std::sort(firing_.begin(), firing_.end(), [this](std::uint32_t a, std::uint32_t b) {
      const Node& x = nodes_[a];
      const Node& y = nodes_[b];
      return x.due_tick != y.due_tick ? x.due_tick < y.due_tick : x.seq < y.seq;
    });
  }
  std::size_t fired = 0;
  // Callbacks may schedule or cancel; firing_ is only appended to by collect(), which does
  // not run until the next advance(), so indexing it here stays valid.
  for (std::size_t i = 0; i < firing_.size(); ++i) {
    const std::uint32_t n = firing_[i];
    UniqueFunction<void()> fn = std::move(nodes_[n].fn);
    const bool live = static_cast<bool>(fn);
    free_node(n);
    if (live) {
      --pending_;
      ++fired;
      try {
        fn();
      } catch (const std::exception& e) {
        if (on_error) on_error(e.what());
      } catch (...) {
        if (on_error) on_error("an exception not derived from std::exception");
      }
    }
  }
  firing_.clear();
  return fired;
}

std::optional<TimerWheel::Clock::duration> TimerWheel::time_until_next(
    Clock::time_point now) const noexcept {
  if (pending_ == 0) return std::nullopt;
  if (heads_[kDueBucket] != kNil) return Clock::duration::zero();
  // Find the first non-empty bucket after current_tick_, wrapping once around the wheel.
  const std::uint32_t start = static_cast<std::uint32_t>((current_tick_ + 1) % kBuckets);
  for (std::uint32_t scanned = 0; scanned < kBuckets;) {
    const std::uint32_t b = (start + scanned) % kBuckets;
    const std::uint64_t word = nonempty_[b / 64] >> (b % 64);
    if (word != 0) {
      const auto offset = scanned + static_cast<std::uint32_t>(std::countr_zero(word));
      if (offset >= kBuckets) break;
      const auto due = origin_ + resolution_ * (current_tick_ + 1 + offset);
      return due > now ? due - now : Clock::duration::zero();
    }
    scanned += 64 - (b % 64);
  }
  return Clock::duration::zero();  // only reached if bookkeeping is inconsistent: wake now
}

}  // namespace ringactor::runtime

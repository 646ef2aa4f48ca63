// The inside of actors::Mesh (mesh.hpp): the SPSC rings and each member's port. Internal to
// the actors module.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "ringactor/actors/detail/ring_queue.hpp"
#include "ringactor/actors/mesh.hpp"
#include "ringactor/actors/stage.hpp"

namespace ringactor::actors::detail {

struct MeshEnvelope {
  MeshEnvelope(std::uint32_t s, std::uint32_t g, Stage::Message&& m) : slot(s), generation(g), msg(std::move(m)) {}
  std::uint32_t slot;
  std::uint32_t generation;
  Stage::Message msg;
};

// MeshOptions::ring_capacity's cost is documented per envelope.
static_assert(sizeof(MeshEnvelope) <= 96, "MeshEnvelope grew: update MeshOptions' memory figures");

// A bounded single-producer single-consumer ring of envelopes. The producer is one
// reactor thread, the consumer another; indexes only grow (64-bit: no wrap in practice).
class SpscRing {
 public:
  explicit SpscRing(std::uint32_t capacity)
      : mask_(capacity - 1), slots_(std::make_unique<Slot[]>(capacity)) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;
  ~SpscRing() { drop_all(); }

  // Producer. False when full (nothing is moved from `m` then).
  bool try_push(std::uint32_t slot, std::uint32_t generation, Stage::Message& m) {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ > mask_) return false;
    }
    ::new (static_cast<void*>(slots_[t & mask_].bytes)) MeshEnvelope(slot, generation, std::move(m));
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Consumer. Calls f(envelope) for up to `budget` envelopes in order, each in place (its
  // slot is reused only after f returned); returns how many.
  template <typename F>
  std::size_t drain(std::size_t budget, F&& f) {
    std::uint64_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) return 0;
    }
    std::size_t n = 0;
    while (n < budget && h != tail_cache_) {
      MeshEnvelope& e = at(h);
      f(e);
      e.~MeshEnvelope();
      head_.store(++h, std::memory_order_release);
      ++n;
      if (h == tail_cache_) tail_cache_ = tail_.load(std::memory_order_acquire);
    }
    return n;
  }

  // Producer. True when a push would succeed now.
  bool has_room() noexcept {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ <= mask_) return true;
    head_cache_ = head_.load(std::memory_order_acquire);
    return t - head_cache_ <= mask_;
  }

  // Consumer (or anyone once both ends are quiet). True when something waits.
  bool has_items() const noexcept {
    return head_.load(std::memory_order_relaxed) != tail_.load(std::memory_order_acquire);
  }

  // Once no thread uses the ring any more: destroys what is left; returns how many.
  std::size_t drop_all() noexcept {
    std::size_t n = 0;
    std::uint64_t h = head_.load(std::memory_order_relaxed);
    const std::uint64_t t = tail_.load(std::memory_order_acquire);
    for (; h != t; ++h, ++n) at(h).~MeshEnvelope();
    head_.store(h, std::memory_order_release);
    return n;
  }

  // Set by a producer whose backlog waits for room; the consumer clears it and wakes it.
  alignas(64) std::atomic<bool> producer_waiting{false};

 private:
  struct Slot {
    alignas(MeshEnvelope) unsigned char bytes[sizeof(MeshEnvelope)];
  };
  MeshEnvelope& at(std::uint64_t i) noexcept {
    return *std::launder(reinterpret_cast<MeshEnvelope*>(slots_[i & mask_].bytes));
  }

  alignas(64) std::atomic<std::uint64_t> tail_{0};  // written by the producer
  std::uint64_t head_cache_ = 0;                    // the producer's last look at head_
  alignas(64) std::atomic<std::uint64_t> head_{0};  // written by the consumer
  std::uint64_t tail_cache_ = 0;                    // the consumer's last look at tail_
  alignas(64) const std::uint64_t mask_;
  std::unique_ptr<Slot[]> slots_;
};

using Backlog = ChunkQueue<MeshEnvelope, 64>;

// One member of a mesh: its stage, its rings in both directions and, per destination, the
// backlog and whether it must be woken before this reactor sleeps.
struct MeshPort {
  Mesh::Impl* mesh = nullptr;
  Stage* stage = nullptr;
  unsigned index = 0;
  std::vector<SpscRing*> out;  // by destination index (null for itself)
  std::vector<SpscRing*> in;   // by source index (null for itself)
  std::vector<std::unique_ptr<Backlog>> backlog;  // by destination; null while empty
  std::vector<unsigned char> wake_pending;        // by destination
  std::vector<unsigned> to_wake;                  // destinations flagged this iteration
  unsigned backlogged_destinations = 0;
  std::uint32_t since_refill = 0;  // sends into backlogs since the last refill attempt
  // Spinning (MeshOptions::spin): the time of the last message taken from a ring.
  std::chrono::steady_clock::time_point last_received{};
  std::chrono::nanoseconds spin{0};
  bool stopped = false;  // its reactor ran its stop hooks: sends from it go another way

  // Reactor thread of this port. Puts a message for `dst` into the ring (or the backlog).
  void send(MeshPort& dst, std::uint32_t slot, std::uint32_t generation, Stage::Message& m);
  // Before this reactor may sleep: refill rings from backlogs, wake destinations.
  void before_wait();
  // Moves what fits from the backlog for `d` into its ring.
  void refill(unsigned d);
  // Tick: deliver what the rings brought, up to `budget`; returns how many.
  std::size_t drain(std::size_t budget);
  // Stop hook: deliver (as dead letters, the actors are gone) what the rings hold, and hand
  // backlogs over to their destinations.
  void stop();
  bool inbound_waiting() const noexcept;
  // Park check: messages wait in an incoming ring, or a backlog could move into its ring
  // (the consumer made room after this reactor's last look: it may have woken us too early).
  bool must_stay_awake() noexcept;
  MeshPort& mesh_member(unsigned i) const noexcept;

  struct Atomics {
    std::atomic<std::uint64_t> sent{0}, backlogged{0}, received{0}, wakeups{0}, handed_over{0};
  } c;
};

// The calling thread's port, when it runs a member's reactor (set before every iteration).
MeshPort*& tl_mesh_port() noexcept;

}  // namespace ringactor::actors::detail

// ActorId and the small value types that travel with actors: why an actor stopped, the
// notice a monitor receives, an actor timer's handle. Plain values; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringactor::actors {

class Stage;

// Why an actor stopped. One line per value; to_string() gives a stable name.
enum class StopReason : std::uint8_t {
  kNormal,     // stop() was called, or its connection closed
  kException,  // an exception escaped a handler; DownNotice::message holds what()
  kShutdown,   // its reactor shut down
  kUnknown,    // monitor() of an actor that was already gone: the reason is not known
  kNodeDown,   // (cluster monitors) the actor's process stopped answering and was declared down
};
std::string_view to_string(StopReason r) noexcept;

// Names one actor (one use of one slot of one stage), untyped. Trivially copyable; safe to
// keep after the actor is gone. Compare it with Ref<T>::id().
struct ActorId {
  Stage* stage = nullptr;
  std::uint32_t slot = 0xFFFFFFFFu;
  std::uint32_t generation = 0;
  explicit operator bool() const noexcept { return stage != nullptr; }
  friend bool operator==(const ActorId&, const ActorId&) = default;
};

// What a monitor receives when the actor it watches stops.
struct DownNotice {
  ActorId who;
  StopReason reason = StopReason::kNormal;
  std::string message;  // the exception's what() for kException, else empty
};

// Names one timer of one actor; cancelling a stale or empty handle does nothing.
struct ActorTimer {
  std::uint32_t index = 0;
  std::uint32_t serial = 0;  // 0 never names a live timer
  explicit operator bool() const noexcept { return serial != 0; }
};

// What a fixed-rate tick (Actor::every_tick) does when the loop was late and several of its
// deadlines passed before it could run.
enum class CatchUp : std::uint8_t {
  // One call for the newest due tick; the older ones are skipped (counted in TickStats and
  // the stage's ticks_skipped), and that call's dt covers them all: period x (1 + skipped).
  kSkip,
  // The due ticks run back to back, each with dt = period, at most TickOptions::max_burst
  // per firing; older ones beyond the bound are skipped and counted.
  kBurst,
};

struct TickOptions {
  CatchUp catch_up = CatchUp::kSkip;
  std::uint32_t max_burst = 4;  // kBurst: calls per firing at most (>= 1)
};

// A tick timer's record (Actor::tick_stats).
struct TickStats {
  std::uint64_t ran = 0;         // calls made
  std::uint64_t skipped = 0;     // ticks whose deadline passed without a call
  std::uint64_t next_index = 0;  // the index the next tick will have
};

}  // namespace ringactor::actors

// Actor: the base class of everything that keeps state on a reactor (rooms, players,
// connections, services).
//
// An actor lives on exactly one Stage (one reactor) and every one of its handlers (typed
// messages, timers, lifecycle hooks, down notices) runs on that reactor's thread, one at a
// time, so its state needs no locks. Create actors with Stage::spawn or Actor::spawn, talk to
// them through Ref<T> (ref.hpp). Never call an actor's methods directly from another actor
// or thread; never keep a pointer to one: keep its Ref.
//
// Lifecycle: on_start runs inside spawn; stop() ends the actor after the current handler
// returns; then its timers are cancelled, on_stop runs once, every monitor is sent a
// DownNotice, and the object is destroyed. An exception escaping any handler stops that
// actor alone (reason kException, logged, monitors told); the reactor and every other actor
// go on. When the reactor shuts down, each remaining actor stops with reason kShutdown.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <ringactor/runtime/timer_wheel.hpp>
#include <ringactor/runtime/unique_function.hpp>

#include "ringactor/actors/actor_id.hpp"

namespace ringactor::runtime {
class Reactor;
}

namespace ringactor::actors {

template <typename T>
class Ref;

class Actor {
 public:
  using Clock = std::chrono::steady_clock;

  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;
  virtual ~Actor();

  // This actor's id (valid once spawned).
  ActorId id() const noexcept { return {stage_, slot_, generation_}; }

 protected:
  Actor() = default;

  // Lifecycle hooks, each run once on the actor's reactor thread. Default: nothing.
  virtual void on_start() {}
  virtual void on_stop() {}
  // A monitored actor stopped (see monitor()).
  virtual void on_down(const DownNotice& /*notice*/) {}

  // The following may be called only from this actor's own handlers.

  // Stops this actor once the current handler returns. Idempotent.
  void stop() noexcept { stop_requested_ = true; }
  bool stopping() const noexcept { return stop_requested_; }

  // Runs fn on this actor once after `delay`; cancelled automatically when the actor
  // stops. O(1); allocates only when this actor's timer table grows.
  template <typename F>
  ActorTimer after(Clock::duration delay, F&& fn);
  // Runs fn every `period` (first run after one period) until cancelled or the actor stops.
  template <typename F>
  ActorTimer every(Clock::duration period, F&& fn);
  // A fixed-rate tick: calls fn(std::uint64_t tick_index, Clock::duration dt) with tick k
  // due at start + (k + 1) x period (start: the current loop iteration's time), so the
  // schedule never drifts however long a call takes; dt is the scheduled time the call
  // covers (period, or more after skipped ticks). When the loop was late and several
  // deadlines passed, `options.catch_up` decides (see CatchUp). Timer precision: the
  // reactor's timer wheel (1 ms). Cancel with cancel(); ends when the actor stops.
  // std::invalid_argument for a period that is not positive or max_burst 0. O(1).
  template <typename F>
  ActorTimer every_tick(Clock::duration period, F&& fn, TickOptions options = {});
  // Calls made and ticks skipped so far by a tick timer of this actor (zeros for another
  // handle).
  TickStats tick_stats(ActorTimer timer) const noexcept;
  // Cancels a timer of this actor. Returns false if it already fired (one-shot) or was
  // cancelled.
  bool cancel(ActorTimer timer) noexcept;

  // Asks to be told (on_down) when `target` stops, wherever it lives. If it is already
  // gone, on_down arrives with reason kUnknown.
  template <typename T>
  void monitor(const Ref<T>& target) {
    monitor_id(target.id());
  }
  void monitor_id(ActorId target);

  // Spawns an actor on this actor's stage (see Stage::spawn).
  template <typename T, typename... A>
  Ref<T> spawn(A&&... args);

  // A typed reference to this actor. T must be this actor's type or a base of it.
  template <typename T>
  Ref<T> self() const noexcept;

  Stage& stage() const noexcept { return *stage_; }
  runtime::Reactor& reactor() const noexcept;

 private:
  friend class Stage;
  using TickFn = runtime::UniqueFunction<void(std::uint64_t, Clock::duration)>;
  // A fixed-rate tick's state (every_tick); plain timers have none.
  struct TickState {
    TickFn fn;
    Clock::time_point deadline{};  // of the next tick
    TickOptions options{};
    TickStats stats{};
  };
  struct TimerEntry {
    runtime::TimerId wheel_id;
    Clock::duration period{};  // zero for a one-shot timer
    runtime::UniqueFunction<void()> fn;
    std::unique_ptr<TickState> tick;  // every_tick timers only
    std::uint32_t serial = 0;  // 0 = free entry
  };
  ActorTimer add_timer(Clock::duration delay, Clock::duration period, runtime::UniqueFunction<void()> fn);
  ActorTimer add_tick(Clock::duration period, TickFn fn, TickOptions options);
  TimerEntry* timer_entry(ActorTimer timer) noexcept;
  void cancel_all_timers() noexcept;
  // Called by the stage when the actor stops, before on_stop (connection actors close
  // their connection here).
  virtual void detach_internal() noexcept {}

  Stage* stage_ = nullptr;
  std::uint32_t slot_ = 0;
  std::uint32_t generation_ = 0;
  std::uint32_t next_timer_serial_ = 1;
  bool stop_requested_ = false;
  std::unique_ptr<std::vector<TimerEntry>> timers_;  // allocated by the first timer
};

}  // namespace ringactor::actors

#define RINGACTOR_ACTORS_ACTOR_COMPLETE
#include "ringactor/actors/stage.hpp"  // Stage and the template definitions

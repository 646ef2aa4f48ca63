// Actor timers: one-shot (after), periodic (every) and fixed-rate ticks (every_tick), each an
// entry in the actor's timer table whose callback the reactor's timer wheel reaches through
// (slot, generation, index, serial), so a stale wheel entry never touches a newer timer.
#include <algorithm>
#include <stdexcept>

#include "ringactor/actors/stage.hpp"

namespace ringactor::actors {

namespace {
void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
}  // namespace

runtime::TimerId Stage::schedule_timer(const Actor& actor, std::uint32_t index, std::uint32_t serial,
                                       Actor::Clock::duration delay) {
  return reactor_.after(delay, [this, slot = actor.slot_, gen = actor.generation_, index, serial] {
    on_timer(slot, gen, index, serial);
  });
}

Actor::TimerEntry* Stage::live_timer(std::uint32_t slot, std::uint32_t generation, std::uint32_t index,
                                     std::uint32_t serial) noexcept {
  Entry* e = table_.find(slot, generation);
  if (e == nullptr || e->stopping || !e->actor->timers_) return nullptr;
  auto& timers = *e->actor->timers_;
  if (index >= timers.size() || timers[index].serial != serial) return nullptr;
  return &timers[index];
}

void Stage::on_timer(std::uint32_t slot, std::uint32_t generation, std::uint32_t index, std::uint32_t serial) {
  Actor::TimerEntry* t = live_timer(slot, generation, index, serial);
  if (t == nullptr) return;
  if (t->tick) {
    on_tick(slot, generation, index, serial);
    return;
  }
  Actor& a = *table_[slot].actor;
  runtime::UniqueFunction<void()> fn = std::move(t->fn);
  const bool periodic = t->period > Actor::Clock::duration::zero();
  if (periodic) {
    t->wheel_id = schedule_timer(a, index, serial, t->period);
  } else {
    t->serial = 0;  // one-shot: the entry is free again
  }
  run_handler(slot, [&](Actor&) { fn(); });
  // Give a periodic callback back to its entry unless it was cancelled meanwhile (the table
  // may have grown during the call: look the entry up again).
  if (!periodic) return;
  if (Actor::TimerEntry* again = live_timer(slot, generation, index, serial)) again->fn = std::move(fn);
}

// A fixed-rate tick came due: count the deadlines that passed (the loop may have been late),
// move the deadline past now by whole periods, schedule it, then make the calls the catch-up
// policy allows. The schedule only ever moves by whole periods, so it never drifts.
void Stage::on_tick(std::uint32_t slot, std::uint32_t generation, std::uint32_t index, std::uint32_t serial) {
  Actor::TimerEntry* t = live_timer(slot, generation, index, serial);
  Actor::TickState& ts = *t->tick;
  const Actor::Clock::duration period = t->period;
  const Actor::Clock::time_point now = reactor_.now();
  std::uint64_t due = 1;
  if (now > ts.deadline) due += static_cast<std::uint64_t>((now - ts.deadline) / period);
  const std::uint64_t calls = ts.options.catch_up == CatchUp::kBurst ? std::min<std::uint64_t>(due, ts.options.max_burst) : 1;
  const std::uint64_t skipped = due - calls;
  ts.stats.skipped += skipped;
  ts.stats.next_index += skipped;
  if (skipped != 0) bump(c_.ticks_skipped, skipped);
  ts.deadline += period * static_cast<Actor::Clock::duration::rep>(due);
  t->wheel_id = schedule_timer(*table_[slot].actor, index, serial, ts.deadline - now);
  // kSkip: the one call covers the skipped ticks too.
  const Actor::Clock::duration dt = ts.options.catch_up == CatchUp::kSkip ? period * static_cast<Actor::Clock::duration::rep>(due) : period;
  Actor::TickFn fn = std::move(ts.fn);
  std::uint64_t tick_index = ts.stats.next_index;
  for (std::uint64_t i = 0; i < calls; ++i) {
    // The entry is looked up again after every call: the callback may cancel it, stop the
    // actor or add timers (which may move the table).
    Actor::TimerEntry* live = live_timer(slot, generation, index, serial);
    if (live == nullptr) return;
    live->tick->stats.next_index = tick_index + 1;
    ++live->tick->stats.ran;
    bump(c_.ticks);
    run_handler(slot, [&](Actor&) { fn(tick_index, dt); });
    ++tick_index;
  }
  if (Actor::TimerEntry* again = live_timer(slot, generation, index, serial)) again->tick->fn = std::move(fn);
}

ActorTimer Actor::add_timer(Clock::duration delay, Clock::duration period, runtime::UniqueFunction<void()> fn) {
  if (!timers_) timers_ = std::make_unique<std::vector<TimerEntry>>();
  auto& timers = *timers_;
  std::uint32_t index = 0;
  while (index < timers.size() && timers[index].serial != 0) ++index;
  if (index == timers.size()) timers.emplace_back();
  TimerEntry& t = timers[index];
  t.fn = std::move(fn);
  t.period = period;
  t.tick.reset();
  t.serial = next_timer_serial_++;
  if (next_timer_serial_ == 0) next_timer_serial_ = 1;
  t.wheel_id = stage_->schedule_timer(*this, index, t.serial, delay);
  return ActorTimer{index, t.serial};
}

ActorTimer Actor::add_tick(Clock::duration period, TickFn fn, TickOptions options) {
  if (period <= Clock::duration::zero()) throw std::invalid_argument("Actor::every_tick: the period must be positive");
  if (options.max_burst == 0) throw std::invalid_argument("Actor::every_tick: max_burst must be at least 1");
  auto tick = std::make_unique<TickState>();
  tick->fn = std::move(fn);
  tick->deadline = reactor().now() + period;
  tick->options = options;
  const ActorTimer handle = add_timer(period, period, nullptr);
  (*timers_)[handle.index].tick = std::move(tick);
  return handle;
}

Actor::TimerEntry* Actor::timer_entry(ActorTimer timer) noexcept {
  if (!timer || !timers_ || timer.index >= timers_->size()) return nullptr;
  TimerEntry& t = (*timers_)[timer.index];
  return t.serial == timer.serial ? &t : nullptr;
}

TickStats Actor::tick_stats(ActorTimer timer) const noexcept {
  const TimerEntry* t = const_cast<Actor*>(this)->timer_entry(timer);
  return t != nullptr && t->tick ? t->tick->stats : TickStats{};
}

bool Actor::cancel(ActorTimer timer) noexcept {
  TimerEntry* t = timer_entry(timer);
  if (t == nullptr) return false;
  reactor().cancel(t->wheel_id);
  t->serial = 0;
  t->fn.reset();
  t->tick.reset();
  return true;
}

void Actor::cancel_all_timers() noexcept {
  if (!timers_) return;
  for (TimerEntry& t : *timers_) {
    if (t.serial != 0) {
      reactor().cancel(t.wheel_id);
      t.serial = 0;
      t.fn.reset();
      t.tick.reset();
    }
  }
}

}  // namespace ringactor::actors

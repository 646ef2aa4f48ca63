// Stage: actor table, run queue, delivery, lifecycle and monitors (actor timers:
// actor_timers.cpp; groups: group.cpp).
#include "ringactor/actors/stage.hpp"

#include <cstdio>

namespace ringactor::actors {

namespace {
thread_local ActorId tl_current_actor;

void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
}  // namespace

namespace detail {
ActorId swap_current(ActorId id) noexcept { return std::exchange(tl_current_actor, id); }
}  // namespace detail

std::string_view to_string(StopReason r) noexcept {
  switch (r) {
    case StopReason::kNormal: return "normal";
    case StopReason::kException: return "exception";
    case StopReason::kShutdown: return "shutdown";
    case StopReason::kUnknown: return "unknown";
    case StopReason::kNodeDown: return "node_down";
  }
  return "?";
}

std::string_view to_string(AskError e) noexcept {
  switch (e) {
    case AskError::kNone: return "none";
    case AskError::kDead: return "dead";
    case AskError::kException: return "exception";
    case AskError::kShutdown: return "shutdown";
    case AskError::kTimeout: return "timeout";
    case AskError::kNoRoute: return "no_route";
    case AskError::kMalformed: return "malformed";
    case AskError::kNodeDown: return "node_down";
  }
  return "?";
}

Stage::Stage(runtime::Reactor& reactor, StageOptions options)
    : reactor_(reactor), options_(options), table_(options.max_actors) {
  if (options_.run_budget == 0) throw std::invalid_argument("StageOptions: run_budget must be positive");
  reactor_.add_tick_hook([this] { drain_run_queue(); });
  reactor_.add_stop_hook([this] { stop_all(StopReason::kShutdown); });
}

Stage::~Stage() {
  // Actors still alive here never saw their reactor run or stop: stop them now, on this
  // thread. Messages still queued are dropped (asks answer kShutdown).
  stop_all(StopReason::kShutdown);
  destroying_.store(true, std::memory_order_relaxed);
  queue_.clear();
}

void Stage::check_thread(const char* what) const {
  // Before run() no thread owns the reactor; afterwards only its own thread may do this.
  if (!reactor_.in_reactor_thread() && reactor_.counters().iterations != 0) {
    throw std::logic_error(std::string("Stage::") + what + ": call it on the reactor thread (or before run())");
  }
}

void Stage::log_error(std::string_view what) const noexcept {
  std::fprintf(stderr, "ringactor[stage of reactor %u]: %.*s\n", static_cast<unsigned>(reactor_.id()),
               static_cast<int>(what.size()), what.data());
}

StageCounters Stage::counters() const noexcept {
  auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  StageCounters out;
  out.spawned = v(c_.spawned);
  out.stopped = v(c_.stopped);
  out.live = out.spawned - out.stopped;
  out.messages = v(c_.messages);
  out.remote_messages = v(c_.remote_messages);
  out.dead_letters = v(c_.dead_letters);
  out.handler_exceptions = v(c_.handler_exceptions);
  out.ticks = v(c_.ticks);
  out.ticks_skipped = v(c_.ticks_skipped);
  return out;
}

void write_metrics(const StageCounters& c, runtime::MetricsWriter& w) {
  w.gauge("ringactor_actors_live", "Actors alive now.", c.live);
  w.counter("ringactor_actors_spawned_total", "Actors started.", c.spawned);
  w.counter("ringactor_actors_stopped_total", "Actors stopped, for any reason.", c.stopped);
  w.family("ringactor_actor_messages_total", "counter", "Messages handled, by where they came from.");
  w.sample("ringactor_actor_messages_total", c.messages - c.remote_messages, {{"from", "local"}});
  w.sample("ringactor_actor_messages_total", c.remote_messages, {{"from", "other_thread"}});
  w.counter("ringactor_actor_dead_letters_total", "Messages (and replies) for actors that were gone.", c.dead_letters);
  w.counter("ringactor_actor_handler_exceptions_total", "Exceptions that escaped a handler and stopped its actor.",
            c.handler_exceptions);
  w.counter("ringactor_actor_ticks_total", "Fixed-rate tick calls (Actor::every_tick).", c.ticks);
  w.counter("ringactor_actor_ticks_skipped_total", "Fixed-rate ticks whose deadline passed without a call.",
            c.ticks_skipped);
}

bool Stage::alive(ActorId id) const noexcept {
  if (id.stage != this) return false;
  const Entry* e = table_.find(id.slot, id.generation);
  return e != nullptr && !e->stopping;
}

ActorId Stage::current() noexcept { return tl_current_actor; }

ActorId Stage::adopt(std::unique_ptr<Actor> actor) { return adopt(std::move(actor), nullptr); }

ActorId Stage::adopt(std::unique_ptr<Actor> actor, runtime::UniqueFunction<void(ActorId)> routed) {
  if (!actor) throw std::invalid_argument("Stage::adopt: null actor");
  if (table_.full()) {
    throw std::length_error("Stage::spawn: " + std::to_string(table_.capacity()) +
                            " actors are alive (StageOptions::max_actors)");
  }
  const std::uint32_t slot = table_.acquire();
  Entry& e = table_[slot];
  e.actor = std::move(actor);
  Actor& a = *e.actor;
  a.stage_ = this;
  a.slot_ = slot;
  a.generation_ = table_.generation(slot);
  bump(c_.spawned);
  const ActorId id = a.id();
  if (routed) routed(id);
  run_handler(slot, [](Actor& x) { x.on_start(); });
  return id;
}

// ---- delivery ----------------------------------------------------------------------------

void Stage::deliver_remote(std::uint32_t slot, std::uint32_t generation, Message& msg) {
  bump(c_.remote_messages);
  deliver(slot, generation, msg);
}

void Stage::count_lost_letter() noexcept {
  // Any thread may count a dead letter (a send to a finished reactor), so always an RMW.
  c_.dead_letters.fetch_add(1, std::memory_order_relaxed);
}

void Stage::deliver(std::uint32_t slot, std::uint32_t generation, Message& msg) {
  Entry* e = table_.find(slot, generation);
  if (e == nullptr || e->stopping) {
    count_lost_letter();
    try {
      msg(nullptr);  // lets an ask answer kDead
    } catch (...) {
    }
    return;
  }
  bump(c_.messages);
  run_handler(slot, [&](Actor& a) { msg(&a); });
}

void Stage::drain_run_queue() {
  for (std::size_t n = 0; n < options_.run_budget && !queue_.empty(); ++n) {
    // Run it in place: queued elements never move, so the handler may push meanwhile.
    Envelope& env = queue_.front();
    deliver(env.slot, env.generation, env.msg);
    queue_.pop_front();
  }
  if (!queue_.empty()) reactor_.request_iteration();  // budget spent: I/O first, then more
}

void Stage::run_detached(runtime::Task fn) {
  runtime::Task guarded = [f = std::move(fn), this]() mutable {
    try {
      f();
    } catch (const std::exception& e) {
      log_error(std::string("reply callback threw: ") + e.what());
    } catch (...) {
      log_error("reply callback threw");
    }
  };
  // A finished reactor (or a stage being destroyed) cannot run it on its thread: run it
  // here rather than never (an ask's reply must arrive).
  if (destroying_.load(std::memory_order_relaxed) || !reactor_.post(std::move(guarded))) guarded();
}

// ---- lifecycle -------------------------------------------------------------------------

bool Stage::handler_failed(std::uint32_t slot, const char* what) noexcept {
  bump(c_.handler_exceptions);
  std::string message = what;
  log_error("actor " + std::to_string(slot) + " stopped: handler threw: " + message);
  finalize(slot, StopReason::kException, std::move(message));
  return true;
}

void Stage::request_stop(ActorId target) {
  send(target, [](Actor* a) {
    if (a != nullptr) a->stop();
  });
}

void Stage::finalize(std::uint32_t slot, StopReason reason, std::string message) {
  // The idle-memory target (256 B per connection, bench/README.md) counts one entry per
  // connection actor.
  static_assert(sizeof(Entry) <= 24, "Stage::Entry grew: re-measure idle memory per connection");
  Entry& e = table_[slot];
  if (e.stopping) return;
  if (e.running > 0) {
    // A handler of this actor is still on the stack: the outermost one finishes the stop.
    if (!e.deferred) {
      e.deferred = true;
      e.deferred_reason = reason;
      if (!e.extras) e.extras = std::make_unique<Extras>();
      e.extras->deferred_message = std::move(message);
    }
    return;
  }
  if (e.deferred) {
    reason = e.deferred_reason;
    if (e.extras) message = std::move(e.extras->deferred_message);
  }
  e.stopping = true;
  Actor& a = *e.actor;
  const ActorId id = a.id();
  a.cancel_all_timers();
  a.detach_internal();
  {
    const ActorId saved = detail::swap_current(id);
    try {
      a.on_stop();
    } catch (const std::exception& ex) {
      bump(c_.handler_exceptions);
      log_error(std::string("on_stop threw: ") + ex.what());
    } catch (...) {
      bump(c_.handler_exceptions);
      log_error("on_stop threw");
    }
    detail::swap_current(saved);
  }
  std::unique_ptr<Extras> extras = std::move(e.extras);
  // Timers cancelled in on_stop's wake are gone; destroy the actor, then free the slot so
  // messages still addressed to it become dead letters.
  table_[slot].actor.reset();
  table_.release(slot);
  bump(c_.stopped);
  if (extras) {
    for (const Watcher& w : extras->watchers) send_down(w, DownNotice{id, reason, message});
  }
}

void Stage::stop_all(StopReason reason) {
  std::vector<std::uint32_t> live(table_.live().begin(), table_.live().end());
  for (std::uint32_t slot : live) {
    if (table_.is_live(slot) && !table_[slot].stopping) finalize(slot, reason, {});
  }
}

// ---- monitors (and the watches of groups) --------------------------------------------------

void Stage::send_down(Watcher watcher, DownNotice notice) {
  if (watcher.group) {
    send(watcher.id, [n = std::make_unique<DownNotice>(std::move(notice))](Actor* a) {
      if (a != nullptr) a->stage().groups_down(a->id(), *n);
    });
    return;
  }
  send(watcher.id, [n = std::make_unique<DownNotice>(std::move(notice))](Actor* a) {
    if (a != nullptr) a->on_down(*n);
  });
}

void Stage::monitor(ActorId watcher, ActorId target) {
  const Watcher w{watcher, false};
  if (!target) {
    send_down(w, DownNotice{target, StopReason::kUnknown, {}});
    return;
  }
  watch(w, target);
}

void Stage::watch(Watcher w, ActorId target) {
  Stage* ts = target.stage;
  if (ts->reactor_.in_reactor_thread()) {
    ts->add_watcher(target, w);
    return;
  }
  const bool queued = ts->reactor_.post([ts, target, w] { ts->add_watcher(target, w); });
  if (!queued) send_down(w, DownNotice{target, StopReason::kShutdown, {}});
}

void Stage::add_watcher(ActorId target, Watcher watcher) {
  Entry* e = table_.find(target.slot, target.generation);
  if (e == nullptr || e->stopping) {
    send_down(watcher, DownNotice{target, StopReason::kUnknown, {}});
    return;
  }
  if (!e->extras) e->extras = std::make_unique<Extras>();
  e->extras->watchers.push_back(watcher);
}

Actor::~Actor() = default;

runtime::Reactor& Actor::reactor() const noexcept { return stage_->reactor(); }

void Actor::monitor_id(ActorId target) { stage_->monitor(id(), target); }

}  // namespace ringactor::actors

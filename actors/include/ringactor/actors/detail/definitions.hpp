// The template definitions of Actor, Ref and Stage. Included at the end of stage.hpp once
// all three types are complete (actor.hpp and ref.hpp include stage.hpp at their end, so any
// of the three headers alone is enough for a user).
#if defined(RINGACTOR_ACTORS_ACTOR_COMPLETE) && defined(RINGACTOR_ACTORS_REF_COMPLETE) && \
    defined(RINGACTOR_ACTORS_STAGE_COMPLETE) && !defined(RINGACTOR_ACTORS_DEFINITIONS_DONE)
#define RINGACTOR_ACTORS_DEFINITIONS_DONE

#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace ringactor::actors {

// ---- template definitions -----------------------------------------------------------------

namespace detail {

// Sets the actor whose handler runs on this thread; returns the previous one.
ActorId swap_current(ActorId id) noexcept;

// Carries an ask's callback to its reply. Exactly one reply is delivered: succeed/fail, or
// kShutdown from the destructor if the request was dropped unanswered (a reactor shut
// down). Moving transfers the duty.
template <typename R, typename Cb>
class AskState {
 public:
  AskState(ActorId caller, ActorId target, Cb cb) : caller_(caller), target_(target), cb_(std::move(cb)) {}
  AskState(AskState&& o) noexcept(std::is_nothrow_move_constructible_v<Cb>)
      : caller_(o.caller_), target_(o.target_), cb_(std::move(o.cb_)), armed_(std::exchange(o.armed_, false)) {}
  AskState& operator=(AskState&&) = delete;
  ~AskState() {
    if (armed_) fail(AskError::kShutdown);
  }
  void succeed(Reply<R> reply) { deliver(std::move(reply)); }
  void fail(AskError e, std::string message = {}) { deliver(Reply<R>(e, std::move(message))); }

 private:
  void deliver(Reply<R> reply) noexcept {
    if (!armed_) return;
    armed_ = false;
    try {
      if (caller_) {
        // Back to the asking actor, on its thread, only while it lives.
        Stage::send(caller_, [cb = std::move(cb_), r = std::move(reply)](Actor* a) mutable {
          if (a != nullptr) cb(std::move(r));
        });
      } else if (target_) {
        // No asking actor: run on the target's thread, outside any actor.
        target_.stage->run_detached([cb = std::move(cb_), r = std::move(reply)]() mutable { cb(std::move(r)); });
      } else {
        cb_(std::move(reply));
      }
    } catch (...) {
      // An allocation failure or a throwing callback run inline: nothing sane to do.
    }
  }
  ActorId caller_;
  ActorId target_;
  Cb cb_;
  bool armed_ = true;
};

}  // namespace detail

template <typename F>
void Stage::send(ActorId target, F&& message) {
  Stage* s = target.stage;
  if (s == nullptr) return;
  if (s->destroying_.load(std::memory_order_relaxed) || s->reactor_.finished()) {
    // Nobody will ever run it: a dead letter. Destroying it uncalled makes an ask answer
    // kShutdown.
    s->count_lost_letter();
    Message dropped(std::forward<F>(message));
    return;
  }
  if (s->reactor_.in_reactor_thread()) {
    if (s->queue_.empty()) s->reactor_.request_iteration();  // do not sleep with messages queued
    s->queue_.emplace_back(target.slot, target.generation, std::forward<F>(message));
    return;
  }
  // Another reactor of the same mesh: through the ring from this reactor to that one.
  Message m(std::forward<F>(message));
  if (s->port_ != nullptr && send_across(target, m)) return;
  // Another thread: through the target reactor's invoke queue. The task (stage, slot,
  // generation, an inline Message) is 96 bytes, the invoke queue's inline size.
  const bool queued = s->reactor_.post([s, slot = target.slot, gen = target.generation, m = std::move(m)]() mutable {
    s->deliver_remote(slot, gen, m);
  });
  // The reactor has finished: the task (and any ask in it, which answers kShutdown) is gone.
  if (!queued) s->count_lost_letter();
}

template <typename F>
void Stage::run_handler(std::uint32_t slot, F&& f) {
  Entry& e = table_[slot];  // the table never moves its entries
  Actor& a = *e.actor;
  const std::uint32_t gen = table_.generation(slot);
  const char* failure = nullptr;
  std::string what;
  ++e.running;
  {
    const ActorId saved = detail::swap_current(a.id());
    try {
      std::forward<F>(f)(a);
    } catch (const std::exception& ex) {
      what = ex.what();
      failure = what.c_str();
    } catch (...) {
      failure = "an exception not derived from std::exception";
    }
    detail::swap_current(saved);
  }
  --e.running;
  // A stop requested while this or an outer handler of the same actor runs (a handler can
  // re-enter through its connection closing) is carried out by the outermost one, so the
  // actor is never destroyed under a frame that still uses it.
  if (table_.find(slot, gen) == nullptr || e.stopping) return;
  if (failure != nullptr) {
    handler_failed(slot, failure);
  } else if (a.stop_requested_) {
    finalize(slot, StopReason::kNormal, {});
  } else if (e.deferred && e.running == 0) {
    finalize(slot, e.deferred_reason, {});
  }
}

template <typename F>
bool Stage::with_actor(ActorId id, F&& f) {
  Entry* e = table_.find(id.slot, id.generation);
  if (e == nullptr || e->stopping) return false;
  run_handler(id.slot, std::forward<F>(f));
  return true;
}

template <typename T>
template <typename M, typename... A>
void Ref<T>::tell(M method, A&&... args) const {
  using Traits = detail::MethodTraits<M>;
  static_assert(std::is_base_of_v<typename Traits::Class, T>, "tell: the method is not a member of this actor type");
  static_assert(sizeof...(A) == Traits::kArity, "tell: wrong number of arguments for the method");
  if (!id_) return;
  Stage::send(id_, [method, stored = typename Traits::Stored(std::forward<A>(args)...)](Actor* actor) mutable {
    if (actor == nullptr) return;
    std::apply([&](auto&... a) { std::invoke(method, static_cast<T&>(*actor), std::move(a)...); }, stored);
  });
}

template <typename T>
template <typename M, typename... A>
void Ref<T>::ask(M method, A&&... all) const {
  using Traits = detail::MethodTraits<M>;
  using R = typename Traits::Result;
  constexpr std::size_t kArgs = sizeof...(A) - 1;
  static_assert(sizeof...(A) >= 1, "ask: the last argument is the callback");
  static_assert(std::is_base_of_v<typename Traits::Class, T>, "ask: the method is not a member of this actor type");
  static_assert(kArgs == Traits::kArity, "ask: wrong number of arguments for the method");
  using Cb = std::decay_t<std::tuple_element_t<kArgs, std::tuple<A...>>>;
  static_assert(std::is_invocable_v<Cb&, Reply<R>>, "ask: the callback must accept Reply<R>");

  auto all_args = std::forward_as_tuple(std::forward<A>(all)...);
  auto stored = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return typename Traits::Stored(std::get<I>(std::move(all_args))...);
  }(std::make_index_sequence<kArgs>{});
  detail::AskState<R, Cb> state(Stage::current(), id_, Cb(std::get<kArgs>(std::move(all_args))));
  if (!id_) {
    state.fail(AskError::kDead);
    return;
  }
  Stage::send(id_, [method, stored = std::move(stored), state = std::move(state)](Actor* actor) mutable {
    if (actor == nullptr) {
      state.fail(AskError::kDead);
      return;
    }
    try {
      if constexpr (std::is_void_v<R>) {
        std::apply([&](auto&... a) { std::invoke(method, static_cast<T&>(*actor), std::move(a)...); }, stored);
        state.succeed(Reply<void>());
      } else {
        state.succeed(Reply<R>(
            std::apply([&](auto&... a) { return std::invoke(method, static_cast<T&>(*actor), std::move(a)...); },
                       stored)));
      }
    } catch (const std::exception& e) {
      state.fail(AskError::kException, e.what());
      throw;  // the actor stops, as for any handler exception
    } catch (...) {
      state.fail(AskError::kException, "an exception not derived from std::exception");
      throw;
    }
  });
}

template <typename T>
void Ref<T>::stop() const {
  if (id_) id_.stage->request_stop(id_);
}

template <typename F>
ActorTimer Actor::after(Clock::duration delay, F&& fn) {
  return add_timer(delay, Clock::duration::zero(), runtime::UniqueFunction<void()>(std::forward<F>(fn)));
}

template <typename F>
ActorTimer Actor::every(Clock::duration period, F&& fn) {
  if (period <= Clock::duration::zero()) throw std::invalid_argument("Actor::every: the period must be positive");
  return add_timer(period, period, runtime::UniqueFunction<void()>(std::forward<F>(fn)));
}

template <typename F>
ActorTimer Actor::every_tick(Clock::duration period, F&& fn, TickOptions options) {
  static_assert(std::is_invocable_v<std::decay_t<F>&, std::uint64_t, Clock::duration>,
                "every_tick's callback takes (std::uint64_t tick_index, Clock::duration dt)");
  return add_tick(period, TickFn(std::forward<F>(fn)), options);
}

template <typename T, typename... A>
Ref<T> Actor::spawn(A&&... args) {
  return stage_->spawn<T>(std::forward<A>(args)...);
}

template <typename T>
Ref<T> Actor::self() const noexcept {
  static_assert(std::is_base_of_v<Actor, T>);
  return Ref<T>(id());
}

}  // namespace ringactor::actors

#endif

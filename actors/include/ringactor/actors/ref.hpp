// Ref<T>: a typed, trivially copyable name for an actor, and the way to message it.
//
//   Ref<Room> room = stage.spawn<Room>("lobby");
//   room.tell(&Room::join, player_id);                          // fire and forget
//   room.ask(&Room::score, player_id, [](Reply<int> r) { ... });  // result comes back
//
// A Ref holds (stage, slot, generation): it stays safe to keep and use after the actor
// stops; a message to a stopped actor is counted as a dead letter and never touches freed
// memory. tell/ask may be called from any thread: on the target's reactor thread the
// message goes onto the stage's run queue; from another reactor or a worker thread it goes
// through the target reactor's invoke queue. Messages from one sender (one thread) to one
// actor arrive in the order they were sent. Arguments are moved (or copied) into the
// message; references are never kept. A Ref must not be used after its Stage is destroyed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ringactor/actors/actor_id.hpp"
#include "ringactor/actors/reply.hpp"

namespace ringactor::actors {

template <typename T>
class Ref {
 public:
  Ref() noexcept = default;
  explicit Ref(ActorId id) noexcept : id_(id) {}
  // A Ref to a derived actor converts to a Ref to its base.
  template <typename U, typename = std::enable_if_t<std::is_base_of_v<T, U> && !std::is_same_v<T, U>>>
  Ref(const Ref<U>& other) noexcept : id_(other.id()) {}  // NOLINT(google-explicit-constructor)

  ActorId id() const noexcept { return id_; }
  explicit operator bool() const noexcept { return static_cast<bool>(id_); }
  friend bool operator==(const Ref& a, const Ref& b) noexcept { return a.id_ == b.id_; }

  // Calls `(actor.*method)(args...)` on the actor's thread. Any thread. Never blocks; no
  // heap allocation when the member pointer and arguments fit in 64 bytes and the target
  // is on this thread (see Stage for the run queue and invoke-queue paths).
  template <typename M, typename... A>
  void tell(M method, A&&... args) const;

  // Like tell, and the last argument is a callback `void(Reply<R>)` that receives the
  // method's return value (or the error). Inside an actor's handler the callback runs on
  // that actor, on its thread, and only while it lives (a reply to a stopped asker is
  // dropped and counted). Outside any actor it runs on the target actor's thread. The
  // callback always runs at most once and never hangs: a request that cannot be handled
  // (dead actor, exception, shutdown) answers with an error.
  template <typename M, typename... A>
  void ask(M method, A&&... args_then_callback) const;

  // Asks the actor to stop (reason kNormal), after the messages already sent to it.
  void stop() const;

 private:
  ActorId id_;
};

}  // namespace ringactor::actors

#define RINGACTOR_ACTORS_REF_COMPLETE
#include "ringactor/actors/stage.hpp"  // Stage and the template definitions

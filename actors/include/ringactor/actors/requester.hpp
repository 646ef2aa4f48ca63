// Requester: on whose behalf a piece of work runs (an offload, for example).
//
// `actor` is the actor whose handler receives the result, on its own reactor thread;
// `lifeline` is cut when nobody waits for the result any more (an HTTP request whose client
// left, a server that began to stop), so the work can be skipped or stopped early. Plain
// value; any thread. http::DeferredResponse::requester() makes one for a deferred answer.
#pragma once

#include <concepts>

#include <ringactor/runtime/lifeline.hpp>

#include "ringactor/actors/actor_id.hpp"

namespace ringactor::actors {

struct Requester {
  ActorId actor;
  runtime::Lifeline lifeline;  // default: never cut (the actor itself decides)
};

// A pending answer that knows its requester: a type with `Requester requester() const`
// (http::DeferredResponse). WorkerArena::offload accepts one and hands it to `then`.
template <typename P>
concept PendingAnswer = requires(const P& p) {
  { p.requester() } -> std::same_as<Requester>;
};

}  // namespace ringactor::actors

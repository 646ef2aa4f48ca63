// Task: a closure posted to a reactor from any thread (Reactor::post, the actors'
// cross-thread messages). Move-only, 96 inline bytes: a cross-thread actor message (target,
// member pointer, a few arguments) or a wrapped 48-byte closure travels without a heap
// allocation. Larger closures allocate once.
#pragma once

#include "ringactor/runtime/unique_function.hpp"

namespace ringactor::runtime {

using Task = UniqueFunction<void(), 96>;

}  // namespace ringactor::runtime

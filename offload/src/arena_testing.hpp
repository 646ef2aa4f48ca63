// Fault injection for the offload tests; not part of the public API.
#pragma once

#include <atomic>

namespace ringactor::offload::detail {

// The next N runner starts fail as if TBB had no memory for the task (std::bad_alloc from
// task_arena::enqueue). Any thread.
extern std::atomic<int> fail_runner_starts;

}  // namespace ringactor::offload::detail

// The game's gauges and counters for /metrics.
#include <algorithm>

#include <ringactor/runtime/metrics.hpp>

#include "game.hpp"

namespace arena {

void write_metrics(const std::vector<Game*>& shards, ringactor::runtime::MetricsWriter& w) {
  const auto sum = [&](Stats::Cell Stats::*cell) {
    std::uint64_t v = 0;
    for (const Game* g : shards) v += (g->stats.*cell).load(std::memory_order_relaxed);
    return v;
  };
  std::uint64_t step_ns_last = 0;
  for (const Game* g : shards) step_ns_last = std::max(step_ns_last, g->stats.step_ns_last.load(std::memory_order_relaxed));
  w.gauge("arena_rooms", "Rooms open now.", sum(&Stats::rooms));
  w.gauge("arena_players", "Players connected now (WebSocket).", sum(&Stats::players));
  w.counter("arena_rounds_total", "Rounds finished or aborted.", sum(&Stats::rounds));
  w.counter("arena_ticks_total", "Room ticks run.", sum(&Stats::ticks));
  w.counter("arena_tick_overruns_total", "Ticks skipped because the previous simulation step was still running.",
            sum(&Stats::tick_overruns));
  w.counter("arena_steps_total", "Simulation steps applied.", sum(&Stats::steps));
  w.counter("arena_step_microseconds_total", "Worker time spent in simulation steps.", sum(&Stats::step_ns_total) / 1000);
  w.gauge("arena_step_microseconds_last", "The last simulation step's worker time (the largest of the reactors').",
          step_ns_last / 1000);
  w.counter("arena_frames_total", "State frames published.", sum(&Stats::frames));
  w.counter("arena_frame_bytes_total", "State frame payload bytes published (once per frame, not per player).",
            sum(&Stats::frame_bytes));
  w.counter("arena_bad_messages_total", "Client messages refused (the connection was closed).", sum(&Stats::bad_messages));
  w.counter("arena_gpu_steps_total", "Simulation steps run on the CUDA device (--gpu).", sum(&Stats::gpu_steps));
  w.counter("arena_gpu_checks_total", "Device steps also run on the CPU and compared.", sum(&Stats::gpu_checks));
  w.counter("arena_gpu_mismatches_total", "Device steps that differed from the CPU step.", sum(&Stats::gpu_mismatches));
}

}  // namespace arena

// The game's gauges and counters for /metrics.
#include <ringactor/runtime/metrics.hpp>

#include "game.hpp"

namespace arena {

void Stats::write(ringactor::runtime::MetricsWriter& w) const {
  w.gauge("arena_rooms", "Rooms open now.", rooms);
  w.gauge("arena_players", "Players connected now (WebSocket).", players);
  w.counter("arena_rounds_total", "Rounds finished or aborted.", rounds);
  w.counter("arena_ticks_total", "Room ticks run.", ticks);
  w.counter("arena_tick_overruns_total", "Ticks skipped because the previous simulation step was still running.",
            tick_overruns);
  w.counter("arena_steps_total", "Simulation steps applied.", steps);
  w.counter("arena_step_microseconds_total", "Worker time spent in simulation steps.", step_ns_total / 1000);
  w.gauge("arena_step_microseconds_last", "The last simulation step's worker time.", step_ns_last / 1000);
  w.counter("arena_frames_total", "State frames published.", frames);
  w.counter("arena_frame_bytes_total", "State frame payload bytes published (once per frame, not per player).",
            frame_bytes);
  w.counter("arena_bad_messages_total", "Client messages refused (the connection was closed).", bad_messages);
  w.counter("arena_gpu_steps_total", "Simulation steps run on the CUDA device (--gpu).", gpu_steps);
  w.counter("arena_gpu_checks_total", "Device steps also run on the CPU and compared.", gpu_checks);
  w.counter("arena_gpu_mismatches_total", "Device steps that differed from the CPU step.", gpu_mismatches);
}

}  // namespace arena

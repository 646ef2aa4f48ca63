// What every actor of the arena shares: the settings, the server (topics), the worker arena,
// the leaderboard and the gauges served on /metrics. Lives in main() for the whole run; read
// and written on the reactor thread only (the leaderboard has its own rules).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <ringactor/actors/ref.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/metrics.hpp>

namespace arena {

class Leaderboard;
class Matchmaker;

struct Config {
  unsigned seats = 4;             // players per room (bots fill the empty seats)
  unsigned units_per_seat = 48;   // each player's army
  std::chrono::milliseconds tick{50};           // 20 Hz
  std::chrono::milliseconds countdown{5'000};   // before a round
  std::chrono::milliseconds round{60'000};      // a round's length at most
  std::chrono::milliseconds bot_wait{5'000};    // a queued player waits this long for humans
  std::chrono::milliseconds grace{15'000};      // a dropped player may rejoin within this
  std::chrono::milliseconds linger{5'000};      // a finished room shows its result this long
  bool gpu = false;               // steps run on the CUDA device (built with CUDA only)
  unsigned gpu_check_every = 20;  // with gpu: every Nth step of a room is also run on the CPU
                                  // and compared (0: never)
};

// Gauges and counters for /metrics (reactor thread).
struct Stats {
  std::uint64_t rooms = 0;           // rooms open now
  std::uint64_t players = 0;         // WebSocket players connected now
  std::uint64_t rounds = 0;          // rounds finished (or aborted)
  std::uint64_t ticks = 0;           // room ticks run
  std::uint64_t tick_overruns = 0;   // ticks skipped: the previous step was still running
  std::uint64_t steps = 0;           // simulation steps applied
  std::uint64_t step_ns_total = 0;   // worker time spent in them
  std::uint64_t step_ns_last = 0;
  std::uint64_t frames = 0;          // state frames published
  std::uint64_t frame_bytes = 0;     // their payload bytes (once per publish)
  std::uint64_t bad_messages = 0;    // client messages refused (connection closed)
  std::uint64_t gpu_steps = 0;       // steps that ran on the device
  std::uint64_t gpu_checks = 0;      // of them, compared with the CPU step
  std::uint64_t gpu_mismatches = 0;  // compared and different (logged)
  void write(ringactor::runtime::MetricsWriter& w) const;
};

struct Game {
  Config config;
  ringactor::http::Server* server = nullptr;
  ringactor::offload::WorkerArena* workers = nullptr;
  Leaderboard* leaderboard = nullptr;
  ringactor::actors::Ref<Matchmaker> matchmaker{};
  Stats stats{};
};

}  // namespace arena

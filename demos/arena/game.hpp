// What the arena's actors of one reactor share: the settings, that reactor's server
// (topics), the worker arena, the leaderboard, the matchmaker and the gauges served on
// /metrics. One per reactor (--reactors N), living in main() for the whole run. The stats
// are atomics (relaxed), so /metrics on any reactor can sum every reactor's; the rest is
// read-only once the reactors run, or has its own rules (the leaderboard, the workers).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <ringactor/actors/ref.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/metrics.hpp>

namespace arena {

class Leaderboard;
class Matchmaker;
}  // namespace arena
namespace ringactor::cluster {
class Cluster;
}
namespace arena {

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
  // --nats: a process that finds no lobby in the cluster this long after it joined (and
  // has the lowest id of those it hears) becomes the lobby.
  std::chrono::milliseconds lobby_settle{1'000};
};

// Gauges and counters for /metrics: written by one reactor's actors, read by any.
struct Stats {
  using Cell = std::atomic<std::uint64_t>;
  Cell rooms{0};           // rooms open now
  Cell players{0};         // WebSocket players connected now
  Cell rounds{0};          // rounds finished (or aborted)
  Cell ticks{0};           // room ticks run
  Cell tick_overruns{0};   // ticks skipped: the previous step was still running
  Cell steps{0};           // simulation steps applied
  Cell step_ns_total{0};   // worker time spent in them
  Cell step_ns_last{0};
  Cell frames{0};          // state frames published
  Cell frame_bytes{0};     // their payload bytes (once per publish)
  Cell bad_messages{0};    // client messages refused (connection closed)
  Cell gpu_steps{0};       // steps that ran on the device
  Cell gpu_checks{0};      // of them, compared with the CPU step
  Cell gpu_mismatches{0};  // compared and different (logged)
};

class RoomHost;
struct Game;

// Every reactor's Stats summed (step_ns_last: the largest), in the Prometheus format.
void write_metrics(const std::vector<Game*>& shards, ringactor::runtime::MetricsWriter& w);

struct Game {
  Config config;
  ringactor::actors::Stage* stage = nullptr;            // this reactor's
  ringactor::cluster::Cluster* cluster = nullptr;       // --nats: the process's (else null)
  std::string process_name{};                           // --nats: this process in /api/rooms
  ringactor::http::Server* server = nullptr;           // this reactor's
  ringactor::offload::WorkerArena* workers = nullptr;  // the process's
  Leaderboard* leaderboard = nullptr;
  ringactor::actors::Ref<Matchmaker> matchmaker{};      // on reactor 0
  std::vector<ringactor::actors::Ref<RoomHost>> hosts{};  // one per reactor: rooms open there
  std::vector<Game*> shards{};                          // every reactor's Game (this one too)
  Stats stats{};
};

}  // namespace arena

// demos/arena: a real-time arena game served by ringactor, played in a browser.
//
//   ./build/release/bin/arena --port 8080        then open http://127.0.0.1:8080/
//
// Players pick a name and join a lobby over WebSocket; the matchmaker fills rooms of four
// (bots take the empty seats after a short wait); a room counts down, then plays a round at
// 20 Hz: the simulation step of hundreds of units runs on the worker arena and comes back to
// the room on the IO thread, which broadcasts a compact binary state frame to the room's
// topic. Scores go to a leaderboard in SQLite, written on the worker arena.
//
//   GET /                  the browser client (static files, demos/arena/web)
//   GET /ws                the game's WebSocket (protocol.hpp)
//   GET /api/rooms         the rooms and the queue, as JSON
//   GET /api/leaderboard   the best players, as JSON (read from SQLite on a worker)
//   GET /metrics           every module's counters plus the game's, for Prometheus
//
// --gpu runs the steps on a CUDA device instead (the CPU step checks it; see gpu/sim_gpu.hpp).
// --reactors N runs N IO threads (node::Node), each with its own server on the one port:
// players stay on the reactor that accepted them, rooms open on the reactor hosting the
// fewest, and the servers are linked so that a room's frames reach its players anywhere.
// --nats URL makes this process one of a cluster (remote.hpp): start several on one
// nats-server and they share one lobby; a player connects to any of them, rooms open on
// the process hosting the fewest, and a room's inputs and frames cross processes.
//
// SIGTERM or Ctrl-C: rounds in play end (aborted, scores saved), players get close 1001,
// the leaderboard is flushed, exit 0.
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include <memory>
#include <vector>

#include <ringactor/actors/stage.hpp>
#include <ringactor/assets/assets.hpp>
#include <ringactor/cluster/cluster.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/node/node.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "../common/cli.hpp"
#include "game.hpp"
#if defined(RINGACTOR_ARENA_GPU)
#include "gpu/sim_gpu.hpp"
#endif
#include "leaderboard.hpp"
#include "matchmaker.hpp"
#include "player.hpp"
#include "remote.hpp"
#include "room.hpp"

namespace rt = ringactor::runtime;
namespace ra = ringactor::actors;
namespace http = ringactor::http;
namespace off = ringactor::offload;
namespace assets = ringactor::assets;
namespace node = ringactor::node;
namespace cl = ringactor::cluster;

#ifndef RINGACTOR_ARENA_WEB
#define RINGACTOR_ARENA_WEB "demos/arena/web"
#endif

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: arena [options]\n"
               "  --port N              TCP port (0 picks a free one; default 8080)\n"
               "  --address A           address to bind (default 127.0.0.1; 0.0.0.0 for every interface)\n"
               "  --web DIR             the browser client's files (default: the source tree's demos/arena/web)\n"
               "  --db PATH             the leaderboard's SQLite file (default arena.db)\n"
               "  --seats N             players per room (default 4)\n"
               "  --units N             units per player (default 48)\n"
               "  --countdown-ms N      countdown before a round (default 5000)\n"
               "  --round-ms N          a round's length at most (default 60000)\n"
               "  --bot-wait-ms N       how long a queued player waits before bots fill (default 5000)\n"
               "  --grace-ms N          how long a dropped player's seat waits for a rejoin (default 15000)\n"
               "  --max-connections N   connection slots of the process (default: from the descriptor limit)\n"
               "  --reactors N          IO threads, each serving its share of the players and rooms (default 1)\n"
               "  --nats URL            join the cluster of arena processes on this NATS server: one lobby,\n"
               "                        rooms on the least loaded process (default: a single process)\n"
               "  --name NAME           with --nats: this process's name (default HOST:PID)\n"
               "  --nats-prefix P       with --nats: the cluster's subjects start with P (default arena)\n"
               "  --heartbeat-ms N      with --nats: heartbeat period (default 500)\n"
               "  --down-after-ms N     with --nats: silence after which a process is down (default 2000)\n"
               "  --gpu                 run the simulation steps on the CUDA device, after a self-test\n"
               "                        against the CPU step (builds with a CUDA compiler only)\n"
               "  --gpu-check N         with --gpu: also run every Nth step of a room on the CPU and\n"
               "                        compare (arena_gpu_mismatches_total; default 20, 0: never)\n"
               "  --gpu-self-test       run the self-test of --gpu, print its verdict and exit (0: match)\n"
               "  --help                this text\n");
}

}  // namespace

int main(int argc, char** argv) {
  rt::ReactorOptions options{.handle_signals = true};
  rt::ListenOptions listen{.port = 8080};
  arena::Config config;
  std::string web = RINGACTOR_ARENA_WEB;
  std::string db = "arena.db";
  bool gpu_self_test = false;
  unsigned reactors = 1;
  std::optional<cl::ClusterOptions> nats;
  cl::ClusterOptions cluster_options{.prefix = "arena"};
  ringactor::demo::Args args("arena", argc, argv);
  using ms = std::chrono::milliseconds;
  while (args.next()) {
    if (args.is("--help") || args.is("-h")) {
      usage(stdout);
      return 0;
    } else if (args.server_flag(options, listen)) {
    } else if (args.is("--web")) {
      web = args.value();
    } else if (args.is("--db")) {
      db = args.value();
    } else if (args.is("--seats")) {
      config.seats = static_cast<unsigned>(args.number(64));
    } else if (args.is("--units")) {
      config.units_per_seat = static_cast<unsigned>(args.number(1024));
    } else if (args.is("--countdown-ms")) {
      config.countdown = ms(args.number(600'000));
    } else if (args.is("--round-ms")) {
      config.round = ms(args.number(3'600'000));
    } else if (args.is("--bot-wait-ms")) {
      config.bot_wait = ms(args.number(3'600'000));
    } else if (args.is("--grace-ms")) {
      config.grace = ms(args.number(3'600'000));
    } else if (args.is("--reactors")) {
      reactors = static_cast<unsigned>(args.number(256));
    } else if (args.is("--nats")) {
      cluster_options.url = args.value();
      nats = cluster_options;
    } else if (args.is("--name")) {
      cluster_options.process_name = args.value();
    } else if (args.is("--nats-prefix")) {
      cluster_options.prefix = args.value();
    } else if (args.is("--heartbeat-ms")) {
      cluster_options.heartbeat = ms(args.number(3'600'000));
    } else if (args.is("--down-after-ms")) {
      cluster_options.down_after = ms(args.number(3'600'000));
    } else if (args.is("--gpu")) {
      config.gpu = true;
    } else if (args.is("--gpu-check")) {
      config.gpu_check_every = static_cast<unsigned>(args.number(1'000'000));
    } else if (args.is("--gpu-self-test")) {
      gpu_self_test = true;
    } else {
      return args.unknown(usage);
    }
  }
  if (config.seats < 2 || config.units_per_seat == 0 || config.seats * config.units_per_seat > 65535) {
    std::fprintf(stderr, "arena: need 2..64 seats, at least 1 unit each, and at most 65535 units per room\n");
    return 2;
  }
  if (config.round < config.tick) {
    std::fprintf(stderr, "arena: --round-ms must be at least one tick (%lld ms)\n",
                 static_cast<long long>(config.tick.count()));
    return 2;
  }

  if (nats) {
    const std::string url = nats->url;
    nats = cluster_options;  // the flags after --nats count too
    nats->url = url;
    if (nats->process_name.empty()) {
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      nats->process_name = std::string(host).append(":").append(std::to_string(::getpid()));
    }
    config.lobby_settle = 2 * nats->heartbeat;
  }

  if (config.gpu || gpu_self_test) {
    // The device step must compute what the CPU step computes before it serves a game.
#if defined(RINGACTOR_ARENA_GPU)
    try {
      std::printf("arena: GPU self-test on %s\n", arena::gpu::self_test(config.seats, config.units_per_seat, 200).c_str());
      std::fflush(stdout);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "arena: --gpu: %s\n", e.what());
      return 1;
    }
    if (gpu_self_test) return 0;
#else
    std::fprintf(stderr, "arena: --gpu: this build has no CUDA support (no CUDA compiler was found when it was configured)\n");
    return 2;
#endif
  }

  try {
    arena::Leaderboard leaderboard(db);
    // N reactors, each with its own server on the one port (SO_REUSEPORT: the kernel
    // spreads the players), linked so that a room's frames reach its players on every
    // reactor; one worker arena runs the simulation steps and SQLite for all of them.
    node::Node node({.reactors = reactors, .reactor = options});
    off::WorkerArena& workers = node.workers();
    std::vector<ra::Stage*> stages;
    for (unsigned i = 0; i < node.size(); ++i) stages.push_back(&node.stage(i));
    // --nats: this process in the cluster (throws, with the reason, when NATS is not there).
    // Destroyed before the node: after the loops ended, before the stages go.
    std::optional<cl::Cluster> cluster;
    if (nats) cluster.emplace(stages, *nats);
    std::vector<std::unique_ptr<arena::Game>> games;
    std::vector<std::unique_ptr<http::Server>> servers;
    std::vector<arena::Game*> shards;
    for (unsigned i = 0; i < node.size(); ++i) {
      games.push_back(std::make_unique<arena::Game>());
      arena::Game& g = *games.back();
      g.config = config;
      g.workers = &workers;
      g.leaderboard = &leaderboard;
      g.stage = stages[i];
      g.cluster = cluster ? &*cluster : nullptr;
      if (nats) g.process_name = nats->process_name;
      shards.push_back(&g);
    }
    const auto matchmaker = node.stage(0).spawn<arena::Matchmaker>(*games[0]);
    std::vector<ra::Ref<arena::RoomHost>> hosts;
    for (unsigned i = 0; i < node.size(); ++i) hosts.push_back(node.stage(i).spawn<arena::RoomHost>(*games[i]));
    for (auto& g : games) {
      g->matchmaker = matchmaker;
      g->hosts = hosts;
      g->shards = shards;
    }
    if (cluster) {
      // What other processes (and this one's rooms and players, by name) send.
      cluster->handle(&arena::Matchmaker::lobby_enqueue);
      cluster->handle(&arena::Matchmaker::lobby_dequeue);
      cluster->handle(&arena::Matchmaker::lobby_status);
      cluster->handle(&arena::Matchmaker::lobby_rooms);
      cluster->handle(&arena::Matchmaker::open_here);
      cluster->handle(&arena::Matchmaker::to_player);
      cluster->handle(&arena::Room::remote_input);
      cluster->handle(&arena::Room::remote_rejoin);
      cluster->handle(&arena::Room::remote_leave);
      cluster->register_name(arena::gateway_name(cluster->id()), matchmaker);
    }

    // One route table for every reactor (built once, immutable once served). A handler runs
    // on the reactor its connection is on and finds that reactor's game through the
    // request's stage.
    auto game_on = [&games, stages](const ra::Stage& stage) -> arena::Game& {
      for (std::size_t i = 0; i < stages.size(); ++i) {
        if (stages[i] == &stage) return *games[i];
      }
      throw std::logic_error("arena: a request on an unknown reactor");
    };
    auto routes = std::make_shared<http::Routes>();
    // The game's WebSocket: one PlayerSocket actor per player, on its connection's reactor.
    http::WsOptions ws{.max_message = 4096, .idle_timeout = ms(30'000), .pong_timeout = ms(10'000)};
    routes->ws("/ws", ws, [game_on](http::Request& req, http::WsUpgrade&) {
      return std::make_unique<arena::PlayerSocket>(game_on(req.stage()));
    });
    routes->get("/api/rooms", [matchmaker](http::Request&, http::Response& res) {
      matchmaker.ask(&arena::Matchmaker::rooms_json, [answer = res.defer()](ra::Reply<std::string> r) mutable {
        if (r) {
          answer.json(std::move(*r));
        } else {
          answer.status(503).text(r.message() + "\n");
        }
      });
    });
    routes->get("/api/leaderboard", [&workers, &leaderboard](http::Request&, http::Response& res) {
      workers.offload(
          res.defer(), [&leaderboard] { return leaderboard.top_json(20); },
          [](off::Result<std::string> r, http::DeferredResponse& answer) {
            if (r) {
              answer.json(std::move(*r));
            } else {
              answer.status(503).text("leaderboard unavailable: " + r.message() + "\n");
            }
          });
    });
    // /metrics: the answering reactor's modules, then the game's and the static files'
    // figures summed over every reactor.
    routes->metrics("/metrics");
    // The browser client: static files, baked into memory once for every reactor,
    // revalidated on change.
    assets::AssetOptions files;
    files.root = web;
    assets::Assets site(stages, workers, std::move(files));
    routes->fallback(site.handler());
    for (unsigned i = 0; i < node.size(); ++i) {
      servers.push_back(std::make_unique<http::Server>(node.stage(i), routes));
      http::Server& server = *servers.back();
      games[i]->server = &server;
      server.add_metrics([&workers](rt::MetricsWriter& w) { workers.write_metrics(w); });
      server.add_metrics([&shards](rt::MetricsWriter& w) { arena::write_metrics(shards, w); });
      server.add_metrics([&site](rt::MetricsWriter& w) { site.write_metrics(w); });
      if (cluster) server.add_metrics([&cluster](rt::MetricsWriter& w) { cluster->write_metrics(w); });
    }
    std::vector<http::Server*> linked;
    for (auto& s : servers) linked.push_back(s.get());
    http::Server::link(linked);

    listen.reuse_port = node.size() > 1;
    std::uint16_t port = 0;
    for (auto& s : servers) {
      port = s->listen(listen);
      listen.port = port;  // the others on the port the first one got (with --port 0)
    }
    std::printf("arena: listening on http://%s:%u/ (open it in a browser)\n", listen.address.c_str(),
                static_cast<unsigned>(port));
    if (cluster) std::printf("arena: %s joined the cluster on %s\n", nats->process_name.c_str(), nats->url.c_str());
    std::fflush(stdout);
    node.run();
    // The loops have ended: nothing waits on their threads any more. Save what the rounds of
    // the last moments queued (their worker writes may have been skipped by the stop).
    workers.shutdown();
    const std::size_t rows = leaderboard.flush();
    std::uint64_t rounds = 0;
    for (const arena::Game* g : shards) rounds += g->stats.rounds.load();
    std::printf("arena: stopped after %llu rounds; leaderboard rows written at exit: %zu\n",
                static_cast<unsigned long long>(rounds), rows);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "arena: %s\n", e.what());
    return 1;
  }
}

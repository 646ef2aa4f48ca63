// cluster: one process of a cluster over NATS. Start several (each with its own --name) on
// one nats-server and they find each other:
//
//   nats-server -a 127.0.0.1 -p 4222 &
//   build/dev/bin/cluster --name a --port 8081 &
//   build/dev/bin/cluster --name b --port 8082 &
//
// Each process registers a room as "room/NAME" that any process can message by name
// (Move tells, GetScore and GetStats asks: messages.hpp), and serves a lobby: WebSocket
// members on GET /ws/lobby ("subscribed" is their first message) and POST /publish, whose
// body reaches the lobby's members in this process and, through the cluster, in every other
// one (one NATS message per process); GET /metrics has the cluster's counters beside the
// rest. tests/cluster runs it as the processes of its tests.
//
// It prints "cluster NAME: listening on http://ADDRESS:PORT" once it serves, and stops on
// SIGTERM or SIGINT (its names leave with it; the others hear its goodbye).
#include <cstdio>
#include <exception>
#include <string>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/stage.hpp>
#include <ringactor/cluster/cluster.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/http/websocket.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "../common/cli.hpp"
#include "messages.hpp"

namespace ra = ringactor::actors;
namespace rt = ringactor::runtime;
namespace cl = ringactor::cluster;
namespace http = ringactor::http;

namespace {

// A room: other processes move in it and ask for its score.
class Room : public ra::Actor {
 public:
  explicit Room(cl::Cluster& cluster) : cluster_(cluster) {}
  void move(Move m) {
    in_order_ += m.seq == last_ + 1 ? 1 : 0;
    last_ = m.seq;
    ++moves_;
    sum_ += m.seq;
  }
  std::uint32_t score(GetScore q) { return static_cast<std::uint32_t>(sum_) + q.bonus; }
  RoomStats stats(GetStats) {
    const cl::ClusterCounters c = cluster_.counters();
    return RoomStats{moves_, in_order_, last_, c.lost, c.reconnects, c.downs};
  }

 private:
  cl::Cluster& cluster_;
  std::uint64_t moves_ = 0, in_order_ = 0, sum_ = 0;
  std::uint32_t last_ = 0;
};

struct Member {};

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: cluster --name NAME [--nats URL] [--port N] [--address A]\n"
               "               [--heartbeat-ms N] [--down-after-ms N]\n"
               "  --nats URL          the NATS server (default nats://127.0.0.1:4222)\n"
               "  --name NAME         this process (its room is \"room/NAME\")\n"
               "  --port N            HTTP port (0: a free one; default 0)\n"
               "  --heartbeat-ms N    heartbeat period (default 500)\n"
               "  --down-after-ms N   silence after which a process is declared down (default 2000)\n");
}

}  // namespace

int main(int argc, char** argv) try {
  namespace demo = ringactor::demo;
  rt::ReactorOptions reactor_options{.handle_signals = true};
  rt::ListenOptions listen{.address = "127.0.0.1", .port = 0};
  cl::ClusterOptions options{.url = "nats://127.0.0.1:4222", .prefix = "demo"};
  std::string name;
  demo::Args args("cluster", argc, argv);
  while (args.next()) {
    if (args.is("--nats")) {
      options.url = args.value();
    } else if (args.is("--name")) {
      name = args.value();
    } else if (args.is("--heartbeat-ms")) {
      options.heartbeat = std::chrono::milliseconds(args.number(3'600'000));
    } else if (args.is("--down-after-ms")) {
      options.down_after = std::chrono::milliseconds(args.number(3'600'000));
    } else if (args.is("--prefix")) {
      options.prefix = args.value();
    } else if (args.server_flag(reactor_options, listen)) {
    } else if (args.is("--help")) {
      usage(stdout);
      return 0;
    } else {
      return args.unknown(usage);
    }
  }
  if (name.empty()) {
    std::fprintf(stderr, "cluster: --name is required\n");
    usage(stderr);
    return 2;
  }
  options.process_name = name;

  rt::Reactor::block_stop_signals();
  rt::Reactor reactor(reactor_options);
  ra::Stage stage(reactor);
  http::Server server(stage);
  {
    cl::Cluster cluster(stage, options);  // throws (with the reason) when NATS is not there
    // Room actors take these from any process.
    cluster.handle(&Room::move);
    cluster.handle(&Room::score);
    cluster.handle(&Room::stats);
    // What other processes publish on the lobby reaches the members here. (Subscribed
    // before the name is announced: whoever sees the name may publish and be heard.)
    cluster.subscribe("lobby", stage, [&server](std::string_view m) { server.publish("lobby", m); });
    cluster.register_name("room/" + name, stage.spawn<Room>(cluster));

    server.ws<Member>("/ws/lobby", {.open = [](http::WsConnection<Member>& ws) {
                                      ws.subscribe("lobby");
                                      ws.send("subscribed");
                                    }});
    server.post("/publish", [&cluster, &server](http::Request& req, http::Response& res) {
      server.publish("lobby", req.body());   // the members here (and on linked reactors)
      cluster.publish("lobby", req.body());  // every other process, once each
      res.text("ok\n");
    });

    server.metrics("/metrics");  // the reactor's, the actors', HTTP's, and the cluster's:
    server.add_metrics([&cluster](rt::MetricsWriter& w) { cluster.write_metrics(w); });

    const std::uint16_t port = server.listen(listen);
    std::printf("cluster %s: listening on http://%s:%u\n", name.c_str(), listen.address.c_str(),
                static_cast<unsigned>(port));
    std::fflush(stdout);
    reactor.run();
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "cluster: %s\n", e.what());
  return 1;
}

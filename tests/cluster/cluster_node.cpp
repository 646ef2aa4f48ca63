// A test node for the cluster tests: one process of a cluster, started by the tests
// (tests/cluster/cluster_process_test.cpp) as many times as they need.
//
//   cluster_node NATS_URL NAME [HEARTBEAT_MS DOWN_AFTER_MS]
//
// It joins the cluster, registers a room as "room/NAME" (Move tells, GetScore and GetStats
// asks), serves HTTP on a free loopback port with WebSocket members of the topic "lobby"
// (GET /ws/lobby: "subscribed" is the first message) and POST /publish (the body goes to
// the lobby here and, through the cluster, in every other process), prints
// "ready PORT" on stdout, and runs until SIGTERM.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/stage.hpp>
#include <ringactor/cluster/cluster.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/http/websocket.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "cluster_messages.hpp"

namespace ra = ringactor::actors;
namespace rt = ringactor::runtime;
namespace cl = ringactor::cluster;
namespace http = ringactor::http;

namespace {

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
  NodeStats stats(GetStats) {
    const cl::ClusterCounters c = cluster_.counters();
    return NodeStats{moves_, in_order_, last_, c.lost, c.reconnects, c.downs};
  }

 private:
  cl::Cluster& cluster_;
  std::uint64_t moves_ = 0, in_order_ = 0, sum_ = 0;
  std::uint32_t last_ = 0;
};

struct Member {};

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 3 && argc != 5) {
    std::fprintf(stderr, "usage: cluster_node NATS_URL NAME [HEARTBEAT_MS DOWN_AFTER_MS]\n");
    return 2;
  }
  const std::string name = argv[2];
  cl::ClusterOptions options{.url = argv[1], .prefix = "test", .process_name = name};
  if (argc == 5) {
    options.heartbeat = std::chrono::milliseconds(std::atoi(argv[3]));
    options.down_after = std::chrono::milliseconds(std::atoi(argv[4]));
  }
  rt::Reactor::block_stop_signals();
  rt::Reactor reactor(rt::ReactorOptions{.handle_signals = true});
  ra::Stage stage(reactor);
  http::Server server(stage);
  {
    cl::Cluster cluster(stage, options);
    cluster.handle(&Room::move);
    cluster.handle(&Room::score);
    cluster.handle(&Room::stats);
    // What other processes publish reaches the members here. (Subscribed before the name is
    // announced: whoever sees the name may publish and be heard.)
    cluster.subscribe("lobby", stage, [&server](std::string_view m) { server.publish("lobby", m); });
    cluster.register_name("room/" + name, stage.spawn<Room>(cluster));
    server.ws<Member>("/ws/lobby", {.open = [](http::WsConnection<Member>& ws) {
                                      ws.subscribe("lobby");
                                      ws.send("subscribed");
                                    }});
    server.post("/publish", [&cluster, &server](http::Request& req, http::Response& res) {
      server.publish("lobby", req.body());   // the members here (and on linked reactors)
      cluster.publish("lobby", req.body());  // every other process, once each
      res.text("ok");
    });

    const std::uint16_t port = server.listen(rt::ListenOptions{.address = "127.0.0.1", .port = 0});
    std::printf("ready %u\n", static_cast<unsigned>(port));
    std::fflush(stdout);
    reactor.run();
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "cluster_node: %s\n", e.what());
  return 1;
}

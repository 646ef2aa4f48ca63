// node_http: hello's /plaintext and /ws/echo served by N reactors of one node::Node, each
// with its own http::Server on one SO_REUSEPORT port (the kernel spreads connections), for
// measuring what a second reactor costs per request (bench/README.md, "Several reactors").
//   node_http --reactors N [--port P]      (reactor i pinned to the i-th CPU of its affinity set)
// prints "node_http: listening on PORT"; SIGTERM stops it and prints each reactor's
// connections and requests.
#include <pthread.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <ringactor/http/server.hpp>
#include <ringactor/node/node.hpp>

namespace http = ringactor::http;
namespace rt = ringactor::runtime;

int main(int argc, char** argv) {
  unsigned reactors = 1;
  std::uint16_t port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--reactors") == 0) reactors = static_cast<unsigned>(std::atoi(argv[i + 1]));
    else if (std::strcmp(argv[i], "--port") == 0) port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "usage: node_http --reactors N [--port P]\n");
      return 2;
    }
  }
  try {
    ringactor::node::Node node({.reactors = reactors,
                                .pin_threads = true,
                                .reactor = {.idle_timeout = std::chrono::milliseconds(0), .handle_signals = true},
                                .workers = {.threads = 1}});
    auto routes = std::make_shared<http::Routes>();  // one table, shared by every reactor
    routes->get("/plaintext", [](http::Request&, http::Response& res) { res.text("Hello, World!"); });
    routes->ws("/ws/echo", {.message = [](http::WsConnection<>& ws, std::string_view m, http::WsOpcode op) { ws.send(m, op); }});
    std::vector<std::unique_ptr<http::Server>> servers;
    for (unsigned i = 0; i < node.size(); ++i) {
      servers.push_back(std::make_unique<http::Server>(node.stage(i), routes));
      port = servers.back()->listen({.port = port, .reuse_port = true});
    }
    std::printf("node_http: listening on %u\n", static_cast<unsigned>(port));
    std::fflush(stdout);
    node.run();
    for (unsigned i = 0; i < node.size(); ++i) {
      const http::ServerCounters c = servers[i]->counters();
      std::printf("node_http: reactor %u: %llu connections, %llu requests, %llu ws messages\n", i,
                  static_cast<unsigned long long>(c.connections), static_cast<unsigned long long>(c.requests),
                  static_cast<unsigned long long>(c.ws_messages_in));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "node_http: %s\n", e.what());
    return 1;
  }
}

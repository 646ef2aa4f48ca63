// A tiny user program built against an installed ringactor: it includes every module's main
// header (so each compiles from the installed prefix alone), starts a reactor with an actor
// stage and an HTTP server, schedules a stop and runs the loop to completion.
#include <cstdio>
#include <memory>

#include <ringactor/actors/stage.hpp>
#include <ringactor/assets/assets.hpp>
#include <ringactor/cluster/cluster.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/node/node.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/reactor.hpp>

namespace rt = ringactor::runtime;
namespace ra = ringactor::actors;
namespace http = ringactor::http;

int main() {
  rt::Reactor reactor;
  ra::Stage stage(reactor);
  http::Server server(stage);
  server.get("/plaintext", [](http::Request&, http::Response& res) { res.text("Hello, World!"); });
  const auto port = server.listen({.port = 0});
  reactor.post([&] { reactor.after(std::chrono::milliseconds(5), [&] { reactor.stop(); }); });
  reactor.run();
  std::printf("consumer ok: listened on port %u, %llu iterations\n", static_cast<unsigned>(port),
              static_cast<unsigned long long>(reactor.counters().iterations));
  return port != 0 ? 0 : 1;
}

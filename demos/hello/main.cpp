// demos/hello: the HTTP server's hello world, the TechEmpower way.
//
//   GET  /plaintext  "Hello, World!" as text/plain
//   GET  /json       {"message":"Hello, World!"} as application/json
//   POST /echo       the request body back, with the request's Content-Type
//   GET  /compute?n=K  a deterministic battle simulation of K rounds, run on the worker
//                      arena (not the IO thread), answered as JSON; 503 + Retry-After
//                      when the arena is full, 400 for a bad K; cancelled when the client
//                      leaves or the server stops
//   GET  /metrics    the counters of every module, in the Prometheus text format
//   GET  /ws/echo    WebSocket: every message comes back with its opcode (up to 16 MiB;
//                    permessage-deflate when the client offers it)
//   GET  /ws/room/:name  WebSocket: every message a member sends goes to all members of
//                    room :name, the sender included, each sender's messages in order
//   POST /rooms/:id/join  a player joins room :id of the Lobby actor (asked, answered later)
//   GET  /rooms/:id       the room as JSON: {"room":..,"players":N}
//   anything else    a file under --root DIR if given (see demos/static), else 404 (405
//                    with Allow for a known path and another method)
//
// Try it:
//
//   ./build/release/bin/hello --port 8080 &
//   curl -i http://127.0.0.1:8080/plaintext
//   curl -i -d '{"a":1}' -H 'Content-Type: application/json' http://127.0.0.1:8080/echo
//   curl -i 'http://127.0.0.1:8080/compute?n=1000000'
//   kill -TERM %1        # finishes the responses in flight, then exits 0
//
// `--port 0` picks a free port; the one line printed when listening names it.
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include <ringactor/actors/stage.hpp>
#include <ringactor/assets/assets.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "../common/cli.hpp"

namespace rt = ringactor::runtime;
namespace ra = ringactor::actors;
namespace http = ringactor::http;
namespace off = ringactor::offload;
namespace assets = ringactor::assets;

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: hello [options]\n"
               "  --port N              TCP port (0 picks a free one; default 8080)\n"
               "  --address A           address to bind (default 127.0.0.1)\n"
               "  --max-connections N   connection slots (default: from the descriptor limit)\n"
               "  --idle-timeout-ms N   close keep-alive connections idle this long (0 = never; default 60000)\n"
               "  --root DIR            also serve the files under DIR for paths no route claims\n"
               "  --help                this text\n");
}


// A deterministic two-team battle: `rounds` exchanges of blows driven by a xorshift
// generator, with both teams respawning when one falls. CPU-bound on purpose.
struct Battle {
  std::uint64_t rounds = 0;
  std::uint64_t checksum = 0;
  std::uint64_t blue_wins = 0;
  std::uint64_t red_wins = 0;
};

Battle simulate(std::uint64_t rounds, const off::CancelToken& cancel) {
  Battle b;
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  std::int64_t blue = 10'000, red = 10'000;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    if ((i & 0xFFFFF) == 0 && cancel.cancelled()) break;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const auto damage = static_cast<std::int64_t>(x % 97);
    ((x >> 32) & 1 ? red : blue) -= damage;
    b.checksum = b.checksum * 31 + (x >> 40);
    if (blue <= 0 || red <= 0) {
      (blue <= 0 ? b.red_wins : b.blue_wins) += 1;
      blue = red = 10'000;
    }
    b.rounds = i + 1;
  }
  return b;
}

constexpr std::uint64_t kMaxRounds = 200'000'000;

// Game state lives in actors on the IO thread: routes ask them and answer when they reply.
class Lobby : public ra::Actor {
 public:
  std::size_t join(std::string room) { return ++players_[std::move(room)]; }
  std::string describe(const std::string& room) const {
    const auto it = players_.find(room);
    return nlohmann::json{{"room", room}, {"players", it == players_.end() ? 0 : it->second}}.dump();
  }

 private:
  std::map<std::string, std::size_t> players_;
};

}  // namespace

int main(int argc, char** argv) {
  // Output may hold two 16 MiB WebSocket echoes (WsOptions::max_buffered is at most half).
  rt::ReactorOptions options{.max_output_bytes = 64u << 20, .handle_signals = true};
  rt::ListenOptions listen{.port = 8080};
  std::string root;
  ringactor::demo::Args args("hello", argc, argv);
  while (args.next()) {
    if (args.is("--help") || args.is("-h")) {
      usage(stdout);
      return 0;
    } else if (args.server_flag(options, listen)) {
    } else if (args.is("--root")) {
      root = args.value();
    } else {
      return args.unknown(usage);
    }
  }


  try {
    rt::Reactor::block_stop_signals();  // before any thread exists: only the signalfd sees them
    rt::Reactor reactor(options);
    ra::Stage stage(reactor);
    off::WorkerArena arena({.reactors = 1});  // CPU work goes here, never on the IO thread
    http::Server server(stage);

    server.get("/plaintext", [](http::Request&, http::Response& res) { res.bytes("Hello, World!", "text/plain"); });
    // The JSON body is built per request by nlohmann::json, as a real handler would.
    server.get("/json", [](http::Request&, http::Response& res) {
      res.json(nlohmann::json{{"message", "Hello, World!"}}.dump());
    });
    ra::Ref<Lobby> lobby = stage.spawn<Lobby>();
    server.get("/rooms/:id", [lobby](http::Request& req, http::Response& res) {
      // Ask the actor, answer when it replies (the reply runs on this connection's actor).
      lobby.ask(&Lobby::describe, std::string(req.param("id")),
                [answer = res.defer()](ra::Reply<std::string> r) mutable {
                  if (r) {
                    answer.json(std::move(*r));
                  } else {
                    answer.status(503).text(r.message() + "\n");
                  }
                });
    });
    server.post("/rooms/:id/join", [lobby](http::Request& req, http::Response& res) {
      lobby.ask(&Lobby::join, std::string(req.param("id")), [answer = res.defer()](ra::Reply<std::size_t> r) mutable {
        if (r) {
          answer.json("{\"players\":" + std::to_string(*r) + "}");
        } else {
          answer.status(503).text(r.message() + "\n");
        }
      });
    });
    server.post("/echo", [](http::Request& req, http::Response& res) {
      res.bytes(req.body(), req.header("Content-Type").value_or("application/octet-stream"));
    });

    server.get("/compute", [&arena](http::Request& req, http::Response& res) {
      const std::string text = req.query_param("n").value_or("");
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc() || end != text.data() + text.size() || n == 0 || n > kMaxRounds) {
        res.status(400).text("n must be a number of rounds from 1 to " + std::to_string(kMaxRounds) + "\n");
        return;
      }
      // The work runs on a worker for this deferred answer: if the client leaves or the server
      // begins to stop first, queued work is skipped and running work sees `cancel` set.
      arena.offload(
          res.defer(), [n](const off::CancelToken& cancel) { return simulate(n, cancel); },
          [](off::Result<Battle> r, http::DeferredResponse& answer) {  // back on the IO thread
            if (r) {
              answer.json(nlohmann::json{{"rounds", r->rounds},
                                         {"checksum", r->checksum},
                                         {"blue_wins", r->blue_wins},
                                         {"red_wins", r->red_wins}}
                              .dump());
            } else if (r.failure() == off::Failure::kOverloaded) {
              answer.status(503).header("Retry-After", "1").text("the simulation workers are busy; retry\n");
            } else {
              answer.status(503).text("simulation not run: " + r.message() + "\n");
            }
          });
    });

    // WebSocket. Echo: each message back as it came (text or binary).
    http::WsOptions echo_options{.max_message = 16u << 20, .max_buffered = 32u << 20};
    echo_options.deflate.enabled = true;
    server.ws("/ws/echo", {.options = echo_options,
                           .message = [](http::WsConnection<>& ws, std::string_view message, http::WsOpcode op) {
                             ws.send(message, op);
                           }});
    // Rooms: a topic per room; a publish is framed once and referenced by every member's output.
    struct Member {
      std::string topic;
    };
    http::WsOptions room_options{.max_message = 1u << 20};
    room_options.deflate.enabled = true;
    server.ws<Member>("/ws/room/:name",
                      {.options = room_options,
                       .upgrade = [](http::Request& req, http::WsUpgrade&,
                                     Member& m) { m.topic = "room/" + std::string(req.param("name")); },
                       .open = [](http::WsConnection<Member>& ws) { ws.subscribe(ws.data().topic); },
                       .message = [](http::WsConnection<Member>& ws, std::string_view message,
                                     http::WsOpcode op) { ws.publish(ws.data().topic, message, op); }});

    // Static files for everything the routes above do not claim (a game's web client).
    std::optional<assets::Assets> site;
    if (!root.empty()) {
      assets::AssetOptions files;
      files.root = root;
      site.emplace(stage, arena, std::move(files));
      server.fallback(site->handler());
    }

    // Counters of every module for Prometheus (curl http://127.0.0.1:8080/metrics).
    server.metrics("/metrics");
    server.add_metrics([&arena](rt::MetricsWriter& w) { arena.write_metrics(w); });
    if (site) server.add_metrics([&site](rt::MetricsWriter& w) { site->write_metrics(w); });

    const std::uint16_t port = server.listen(listen);
    std::printf("hello: listening on http://%s:%u\n", listen.address.c_str(), static_cast<unsigned>(port));
    std::fflush(stdout);
    reactor.run();
    const http::ServerCounters c = server.counters();
    std::printf("hello: stopped after %llu connections, %llu requests\n",
                static_cast<unsigned long long>(c.connections), static_cast<unsigned long long>(c.requests));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hello: %s\n", e.what());
    return 1;
  }
}

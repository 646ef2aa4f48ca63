// demos/hello: the HTTP server's hello world, the TechEmpower way.
//
//   GET  /plaintext  "Hello, World!" as text/plain
//   GET  /json       {"message":"Hello, World!"} as application/json
//   POST /echo       the request body back, with the request's Content-Type
//   anything else    404 (405 with Allow for a known path and another method)
//
// Try it:
//
//   ./build/release/bin/hello --port 8080 &
//   curl -i http://127.0.0.1:8080/plaintext
//   curl -i -d '{"a":1}' -H 'Content-Type: application/json' http://127.0.0.1:8080/echo
//   kill -TERM %1        # finishes the responses in flight, then exits 0
//
// `--port 0` picks a free port; the one line printed when listening names it.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include <ringactor/actors/stage.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/runtime/reactor.hpp>

namespace rt = ringactor::runtime;
namespace ra = ringactor::actors;
namespace http = ringactor::http;

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: hello [options]\n"
               "  --port N              TCP port (0 picks a free one; default 8080)\n"
               "  --address A           address to bind (default 127.0.0.1)\n"
               "  --max-connections N   connection slots (default: from the descriptor limit)\n"
               "  --idle-timeout-ms N   close keep-alive connections idle this long (0 = never; default 60000)\n"
               "  --help                this text\n");
}

unsigned long parse_number(const char* flag, const char* text, unsigned long max) {
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v > max || text[0] == '-') {
    std::fprintf(stderr, "hello: %s needs a number up to %lu, got '%s'\n", flag, max, text);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  rt::ReactorOptions options{.handle_signals = true};
  rt::ListenOptions listen{.port = 8080};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "hello: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else if (arg == "--port") {
      listen.port = static_cast<std::uint16_t>(parse_number("--port", value(), 65535));
    } else if (arg == "--address") {
      listen.address = value();
    } else if (arg == "--max-connections") {
      options.max_connections = static_cast<std::uint32_t>(parse_number("--max-connections", value(), 10'000'000));
    } else if (arg == "--idle-timeout-ms") {
      options.idle_timeout = std::chrono::milliseconds(parse_number("--idle-timeout-ms", value(), 86'400'000));
    } else {
      std::fprintf(stderr, "hello: unknown option '%s'\n", arg.c_str());
      usage(stderr);
      return 2;
    }
  }

  try {
    rt::Reactor::block_stop_signals();  // before any thread exists: only the signalfd sees them
    rt::Reactor reactor(options);
    ra::Stage stage(reactor);
    http::Server server(stage);

    server.get("/plaintext", [](http::Request&, http::Response& res) { res.text("Hello, World!"); });
    // The JSON body is built per request by nlohmann::json, as a real handler would.
    server.get("/json", [](http::Request&, http::Response& res) {
      res.json(nlohmann::json{{"message", "Hello, World!"}}.dump());
    });
    server.post("/echo", [](http::Request& req, http::Response& res) {
      res.bytes(req.body(), req.header("Content-Type").value_or("application/octet-stream"));
    });

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

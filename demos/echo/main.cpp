// demos/echo: a TCP echo server on one reactor, one actor per connection.
//
// Shows the smallest complete protocol: a ConnectionActor that sends back every byte it
// receives. Every connection is an actor on the reactor's stage, the model every protocol
// (HTTP, WebSocket) follows. Try it:
//
//   ./build/demos/echo --port 7000 &
//   printf 'hello\n' | nc -q1 127.0.0.1 7000      # prints hello
//   kill -TERM %1                                  # graceful stop, exit status 0
//
// `--port 0` picks a free port; the one line printed when listening names it.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include <ringactor/actors/connection_actor.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "../common/cli.hpp"

namespace rt = ringactor::runtime;
namespace ra = ringactor::actors;

namespace {

class Echo final : public ra::ConnectionActor {
 protected:
  std::size_t on_data(std::span<const std::byte> bytes) override {
    send(bytes);  // copies into pooled output slabs; sent at the end of this iteration
    return bytes.size();
  }
};

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: echo [options]\n"
               "  --port N              TCP port (0 picks a free one; default 7000)\n"
               "  --address A           address to bind (default 127.0.0.1)\n"
               "  --max-connections N   connection slots (default: from the descriptor limit)\n"
               "  --idle-timeout-ms N   close connections idle this long (0 = never; default 60000)\n"
               "  --max-output-bytes N  queued output before a slow reader is cut off (default 4194304)\n"
               "  --help                this text\n");
}


}  // namespace

int main(int argc, char** argv) {
  rt::ReactorOptions options{.handle_signals = true};
  rt::ListenOptions listen{.port = 7000};
  ringactor::demo::Args args("echo", argc, argv);
  while (args.next()) {
    if (args.is("--help") || args.is("-h")) {
      usage(stdout);
      return 0;
    } else if (args.server_flag(options, listen)) {
    } else if (args.is("--max-output-bytes")) {
      options.max_output_bytes = args.number(1ul << 40);
    } else {
      return args.unknown(usage);
    }
  }


  try {
    rt::Reactor::block_stop_signals();  // before any thread exists: only the signalfd sees them
    rt::Reactor reactor(options);
    ra::Stage stage(reactor);  // the reactor's actors
    const std::uint16_t port = stage.listen(listen, [](rt::Connection) { return std::make_unique<Echo>(); });
    std::printf("echo: listening on %s:%u\n", listen.address.c_str(), static_cast<unsigned>(port));
    std::fflush(stdout);
    reactor.run();
    const rt::Counters c = reactor.counters();
    std::printf("echo: stopped after %llu connections, %llu bytes in, %llu bytes out\n",
                static_cast<unsigned long long>(c.connections_accepted),
                static_cast<unsigned long long>(c.bytes_in), static_cast<unsigned long long>(c.bytes_out));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo: %s\n", e.what());
    return 1;
  }
}

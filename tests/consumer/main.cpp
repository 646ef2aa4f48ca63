// A tiny user program built against an installed ringactor: it starts a reactor, listens,
// schedules a stop and runs the loop to completion.
#include <cstdio>
#include <memory>

#include <ringactor/runtime/reactor.hpp>

namespace rt = ringactor::runtime;

struct Quiet : rt::ConnectionHandler {
  std::size_t on_data(rt::Connection, std::span<const std::byte> b) override { return b.size(); }
};

int main() {
  rt::Reactor reactor;
  const auto port = reactor.listen({.port = 0}, [](rt::Connection) { return std::make_unique<Quiet>(); });
  reactor.post([&] { reactor.after(std::chrono::milliseconds(5), [&] { reactor.stop(); }); });
  reactor.run();
  std::printf("consumer ok: listened on port %u, %llu iterations\n", static_cast<unsigned>(port),
              static_cast<unsigned long long>(reactor.counters().iterations));
  return port != 0 ? 0 : 1;
}

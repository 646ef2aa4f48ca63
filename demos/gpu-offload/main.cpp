// demos/gpu-offload: a CUDA kernel as a polled offload task.
//
// An actor asks the worker arena for a GPU battle simulation: a worker launches the kernel
// on its own stream and hands back a poll function (cudaStreamQuery); the arena's poller
// checks it every poll interval without holding a thread, and the checksum comes back to
// the actor on its reactor thread. Built only when CMake finds the CUDA toolkit; needs a
// GPU to run.
//
//   gpu-offload --self-test            one simulation, checked against the CPU; exit 0 if equal
//   gpu-offload --port 8090            HTTP: GET /battle?teams=N&rounds=R answers JSON
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>

#include <ringactor/actors/stage.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "gpu_battle.hpp"

namespace rt = ringactor::runtime;
namespace ra = ringactor::actors;
namespace http = ringactor::http;
namespace off = ringactor::offload;

namespace {

// Launches on a worker; the returned poll function answers once the stream is done.
auto gpu_task(std::uint32_t teams, std::uint32_t rounds) {
  return [teams, rounds] {
    std::shared_ptr<gpu::Job> job(gpu::launch(teams, rounds), gpu::release);
    return [job]() -> std::optional<std::uint64_t> {
      if (!gpu::done(job.get())) return std::nullopt;
      return gpu::result(job.get());
    };
  };
}

class SelfTest : public ra::Actor {
 public:
  SelfTest(off::WorkerArena& arena, std::uint32_t teams, std::uint32_t rounds, int& status)
      : arena_(arena), teams_(teams), rounds_(rounds), status_(status) {}
  void on_start() override {
    const auto t0 = std::chrono::steady_clock::now();
    arena_.offload_polled(*this, gpu_task(teams_, rounds_), [this, t0](off::Result<std::uint64_t> r) {
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!r) {
        std::fprintf(stderr, "gpu-offload: %s\n", r.message().c_str());
        status_ = 1;
      } else {
        const std::uint64_t cpu = gpu::reference(teams_, rounds_);
        std::printf("gpu-offload: %u battles of %u rounds on the GPU in %.2f ms (%llu polls): checksum %llu, CPU %llu: %s\n",
                    teams_, rounds_, ms, static_cast<unsigned long long>(arena_.counters().polls),
                    static_cast<unsigned long long>(*r), static_cast<unsigned long long>(cpu),
                    *r == cpu ? "match" : "MISMATCH");
        status_ = *r == cpu ? 0 : 1;
      }
      reactor().stop();
    });
  }

 private:
  off::WorkerArena& arena_;
  std::uint32_t teams_, rounds_;
  int& status_;
};

std::optional<std::uint32_t> number(std::optional<std::string_view> text, std::uint32_t max) {
  if (!text) return std::nullopt;
  std::uint32_t v = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || v == 0 || v > max) return std::nullopt;
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  bool self_test = false;
  std::uint16_t port = 8090;
  std::uint32_t teams = 1 << 16, rounds = 4096;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--self-test") {
      self_test = true;
    } else if ((arg == "--port" || arg == "--teams" || arg == "--rounds") && i + 1 < argc) {
      const auto v = number(std::string_view(argv[++i]), arg == "--port" ? 65535u : 1u << 24);
      if (!v && !(arg == "--port" && std::strcmp(argv[i], "0") == 0)) {
        std::fprintf(stderr, "gpu-offload: bad value for %s\n", arg.c_str());
        return 2;
      }
      if (arg == "--port") port = static_cast<std::uint16_t>(v.value_or(0));
      if (arg == "--teams") teams = *v;
      if (arg == "--rounds") rounds = *v;
    } else {
      std::fprintf(stderr, "usage: gpu-offload [--self-test] [--teams N] [--rounds R] [--port P]\n");
      return arg == "--help" ? 0 : 2;
    }
  }
  try {
    std::printf("gpu-offload: device %s\n", gpu::device_name().c_str());
    rt::Reactor::block_stop_signals();
    rt::Reactor reactor({.handle_signals = true});
    ra::Stage stage(reactor);
    off::WorkerArena arena({.poll_interval = std::chrono::microseconds(50)});
    if (self_test) {
      int status = 1;
      stage.spawn<SelfTest>(arena, teams, rounds, status);
      reactor.run();
      return status;
    }
    http::Server server(stage);
    server.get("/battle", [&arena](http::Request& req, http::Response& res) {
      const auto t = number(req.raw_query_param("teams"), 1u << 24);
      const auto r = number(req.raw_query_param("rounds"), 1u << 20);
      if (!t || !r) {
        res.status(400).text("teams (1..16777216) and rounds (1..1048576) are required\n");
        return;
      }
      arena.offload_polled(res.defer(), gpu_task(*t, *r),
                           [t = *t, r = *r](off::Result<std::uint64_t> out, http::DeferredResponse& d) {
                             if (out) {
                               d.json("{\"teams\":" + std::to_string(t) + ",\"rounds\":" + std::to_string(r) +
                                      ",\"checksum\":" + std::to_string(*out) + "}");
                             } else if (out.failure() == off::Failure::kOverloaded) {
                               d.status(503).header("Retry-After", "1").text("busy\n");
                             } else {
                               d.status(500).text(out.message() + "\n");
                             }
                           });
    });
    const std::uint16_t bound = server.listen({.port = port});
    std::printf("gpu-offload: listening on http://127.0.0.1:%u\n", static_cast<unsigned>(bound));
    std::fflush(stdout);
    reactor.run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu-offload: %s\n", e.what());
    return 1;
  }
}

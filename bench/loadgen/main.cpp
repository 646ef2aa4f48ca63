// loadgen: a load generator for HTTP/1.1 (keep-alive, pipelined) and WebSocket (echo,
// rooms) servers on io_uring, made to outrun the server it measures: one ring per thread,
// one io_uring_enter per loop iteration, multishot receives into provided buffers, sends
// straight from an immutable request tape, no allocation per request. It links nothing of
// ringactor. `loadgen --help` lists the flags; bench/README.md shows it against wrk.
//
// The main thread parses the flags, starts the workers, holds them until every connection
// is up (or has failed once), starts them together, prints a progress line once a second
// when stdout is a terminal, and after the join prints the summary and its JSON line.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "options.hpp"
#include "protocol.hpp"
#include "report.hpp"
#include "worker.hpp"

namespace loadgen {
int run_self_test();
}

namespace {

using namespace loadgen;

std::atomic<int> g_signal{0};

std::int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void on_signal(int sig) { g_signal.store(sig, std::memory_order_relaxed); }

// Raises the descriptor limit to what the connections need; false if the hard limit is lower.
bool raise_fd_limit(unsigned need) {
  rlimit l{};
  ::getrlimit(RLIMIT_NOFILE, &l);
  if (l.rlim_cur >= need) return true;
  if (l.rlim_max != RLIM_INFINITY && l.rlim_max < need) return false;
  l.rlim_cur = need;
  return ::setrlimit(RLIMIT_NOFILE, &l) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse_options(argc, argv);
  } catch (const UsageError& e) {
    if (e.what()[0] == '\0') {
      std::fputs(usage_text(), stdout);
      return 0;
    }
    std::fprintf(stderr, "loadgen: %s (see loadgen --help)\n", e.what());
    return 2;
  }
  if (o.self_test) return run_self_test();
  if (!raise_fd_limit(o.connections + 64)) {
    std::fprintf(stderr,
                 "loadgen: %u connections need more descriptors than the hard limit allows (ulimit -Hn)\n",
                 o.connections);
    return 2;
  }
  RequestSet rs;
  if (o.mode == Mode::Http) {
    try {
      rs = build_request_set(o);
    } catch (const UsageError& e) {
      std::fprintf(stderr, "loadgen: %s\n", e.what());
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  const unsigned T = o.threads;
  RunControl rc;
  std::unique_ptr<Published[]> pub(new Published[T]);
  std::vector<WorkerResult> results(T);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < T; ++t) {
    const unsigned n = o.connections / T + (t < o.connections % T ? 1 : 0);
    const std::uint64_t budget = o.count == 0 ? 0 : o.count / T + (t < o.count % T ? 1 : 0);
    threads.emplace_back([&, t, n, budget] {
      Worker w(o, &rs, rc, pub[t], t, n, budget, results[t]);
      w.run();
    });
  }

  Summary s;
  auto finish = [&](const char* result) {
    for (std::thread& th : threads) th.join();
    for (const WorkerResult& r : results) {
      s.counters.merge(r.counters);
      s.latency.merge(r.latency);
      s.jitter.merge(r.jitter);
      if (s.first_error.empty()) s.first_error = !r.fatal.empty() ? r.fatal : r.first_error;
      if (r.ring_setup[0] != '\0') s.ring = r.ring_setup;
    }
    if (s.result == "ok" && result != nullptr) s.result = result;
  };

  // Hold the start until every worker's connections are up or have failed once.
  const std::int64_t t0 = mono_ns();
  const auto hold = static_cast<std::int64_t>((o.timeout_s + 2) * 1e9);
  while (rc.prepared.load(std::memory_order_acquire) < T && mono_ns() - t0 < hold && g_signal.load() == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::uint64_t established = 0;
  for (unsigned t = 0; t < T; ++t) established += pub[t].established.load(std::memory_order_relaxed);
  bool fatal = false;
  for (unsigned t = 0; t < T; ++t)
    fatal |= pub[t].done.load(std::memory_order_acquire) && !results[t].fatal.empty();
  if (fatal || established == 0 || g_signal.load() != 0) {
    rc.go_ns.store(-1, std::memory_order_release);
    finish(fatal ? "setup_failed" : g_signal.load() != 0 ? "interrupted" : "no_connection");
    std::fprintf(stderr, "loadgen: %s: %s\n",
                 fatal                       ? "set-up failed"
                 : s.result == "interrupted" ? "interrupted"
                                             : ("cannot connect to " + o.url).c_str(),
                 s.first_error.empty() ? "no connection came up within --timeout" : s.first_error.c_str());
    print_summary(o, s);
    return exit_status(s);
  }

  const double cpu0 = cpu_seconds();
  const std::int64_t go = mono_ns();
  rc.go_ns.store(go, std::memory_order_release);
  const bool show = o.progress && ::isatty(STDOUT_FILENO) == 1;
  std::int64_t next_line = go + 1000000000;
  std::uint64_t last_answers = 0;
  const char* stop_reason = nullptr;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    unsigned done = 0;
    for (unsigned t = 0; t < T; ++t) {
      if (!pub[t].done.load(std::memory_order_acquire)) continue;
      ++done;
      // One stalled worker means the server is gone for all of them: stop them all.
      if (results[t].stalled && stop_reason == nullptr) {
        stop_reason = "stalled";
        rc.stop.store(true, std::memory_order_relaxed);
      }
    }
    if (done == T) break;
    if (g_signal.load() != 0 && stop_reason == nullptr) {
      stop_reason = "interrupted";
      rc.stop.store(true, std::memory_order_relaxed);
    }
    const std::int64_t now = mono_ns();
    if (show && now >= next_line) {
      std::uint64_t answers = 0, errors = 0;
      for (unsigned t = 0; t < T; ++t) {
        answers += pub[t].answers.load(std::memory_order_relaxed);
        errors += pub[t].errors.load(std::memory_order_relaxed);
      }
      std::printf("\r  %5.0f s  %12.0f %s/s  %14llu total  %llu errors   ",
                  static_cast<double>(now - go) / 1e9, static_cast<double>(answers - last_answers),
                  o.mode == Mode::Http ? "req" : o.mode == Mode::Arena ? "frames" : "msg", static_cast<unsigned long long>(answers),
                  static_cast<unsigned long long>(errors));
      std::fflush(stdout);
      last_answers = answers;
      next_line += 1000000000;
    }
  }
  const double cpu1 = cpu_seconds();
  if (show) std::printf("\r%78s\r", "");
  finish(stop_reason);
  std::int64_t end = go;
  bool max_time = false;
  for (const WorkerResult& r : results) {
    end = std::max(end, r.end_ns);
    max_time |= r.max_time;
  }
  s.duration_s = static_cast<double>(end - go) / 1e9;
  s.cpu_s = cpu1 - cpu0;
  if (s.result == "ok" && max_time) s.result = "max_time";
  const Counters& c = s.counters;
  if (s.result == "ok" && (c.error_total() != 0 || c.status[4] != 0 || c.status[5] != 0 || c.status[0] != 0))
    s.result = "errors";
  print_summary(o, s);
  if (s.result == "stalled")
    std::fprintf(stderr, "loadgen: no progress for %.1f s, stopped (%s)\n", o.timeout_s,
                 s.first_error.empty() ? "no answers" : s.first_error.c_str());
  else if (s.result == "max_time")
    std::fprintf(stderr, "loadgen: stopped at --max-time %.1f s before the run was complete\n", o.max_time_s);
  return exit_status(s);
}

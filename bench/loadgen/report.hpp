// The end of a run: a short human summary, then exactly one JSON line (the last line on
// stdout), and the exit status. Called once, on the main thread, after the workers joined.
#pragma once

#include <cstdint>
#include <string>

#include "options.hpp"
#include "stats.hpp"

namespace loadgen {

struct Summary {
  Counters counters;
  Histogram latency;
  Histogram jitter;  // arena
  double duration_s = 0;  // the measured phase: from the common start to the last worker's end
  double cpu_s = -1;      // loadgen's own user+system CPU over it (all threads); -1: not measured
  const char* ring = "";  // how the rings were set up
  // "ok", "errors" (finished with errors or 4xx/5xx), "max_time", "stalled",
  // "no_connection", "interrupted" or "setup_failed".
  std::string result = "ok";
  std::string first_error;
};

// Prints the summary and the JSON line to stdout.
void print_summary(const Options& o, const Summary& s);

// 0 ok; 1 finished with errors or stopped at --max-time; 3 no connection, stalled or set-up
// failure (2, bad usage, is decided before a run).
int exit_status(const Summary& s);

}  // namespace loadgen

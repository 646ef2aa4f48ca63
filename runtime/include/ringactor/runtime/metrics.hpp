// MetricsWriter: renders counters and gauges in the Prometheus text exposition format
// (version 0.0.4), the format `promtool check metrics` and every Prometheus server read.
//
//   std::string body;
//   runtime::MetricsWriter w(body);
//   w.counter("ringactor_http_requests_total", "Requests handed to a handler.", n);
//   w.family("ringactor_connections_closed_total", "counter", "Connections torn down, by reason.");
//   w.sample("ringactor_connections_closed_total", 3, {{"reason", "idle_timeout"}});
//   runtime::write_metrics(reactor.counters(), w);   // a module's own metrics
//
// Each module offers `write_metrics(..., MetricsWriter&)` for its counters; the HTTP server
// serves them all at one path (http::Server::metrics). Names follow Prometheus practice:
// a `ringactor_` prefix, `_total` on counters, base units (seconds, bytes).
//
// Threads: a writer is a plain object used by one thread at a time. Costs: it appends to
// the caller's string (which keeps its capacity between renders), nothing else.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "ringactor/runtime/counters.hpp"

namespace ringactor::runtime {

struct MetricLabel {
  std::string_view name;
  std::string_view value;  // escaped as the format requires (\, ", newline)
};

class MetricsWriter {
 public:
  explicit MetricsWriter(std::string& out) noexcept : out_(&out) {}

  // Starts a family: its # HELP and # TYPE lines. `type` is "counter" or "gauge". Write
  // every sample of a family right after it, and each family once per render.
  void family(std::string_view name, std::string_view type, std::string_view help);
  // One sample line: name{labels} value.
  void sample(std::string_view name, std::uint64_t value, std::initializer_list<MetricLabel> labels = {});
  void sample(std::string_view name, double value, std::initializer_list<MetricLabel> labels = {});

  // A family with one unlabelled sample.
  void counter(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "counter", help);
    sample(name, value);
  }
  void gauge(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "gauge", help);
    sample(name, value);
  }

 private:
  void labels(std::initializer_list<MetricLabel> labels);
  std::string* out_;
};

// The reactor's counters (connections, closes by reason, bytes, submissions, completions,
// wake-ups, loop iterations, timeouts, errors).
void write_metrics(const Counters& c, MetricsWriter& w);

}  // namespace ringactor::runtime

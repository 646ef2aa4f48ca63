// MetricsWriter and the reactor's metrics.
#include "ringactor/runtime/metrics.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace ringactor::runtime {

void MetricsWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  std::string& o = *out_;
  o.append("# HELP ").append(name).append(" ");
  for (const char c : help) {  // HELP escapes backslash and newline
    if (c == '\\') {
      o.append("\\\\");
    } else if (c == '\n') {
      o.append("\\n");
    } else {
      o.push_back(c);
    }
  }
  o.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

void MetricsWriter::labels(std::initializer_list<MetricLabel> labels) {
  if (labels.size() == 0) return;
  std::string& o = *out_;
  o.push_back('{');
  bool first = true;
  for (const MetricLabel& l : labels) {
    if (!first) o.push_back(',');
    first = false;
    o.append(l.name).append("=\"");
    for (const char c : l.value) {
      if (c == '\\') {
        o.append("\\\\");
      } else if (c == '"') {
        o.append("\\\"");
      } else if (c == '\n') {
        o.append("\\n");
      } else {
        o.push_back(c);
      }
    }
    o.push_back('"');
  }
  o.push_back('}');
}

void MetricsWriter::sample(std::string_view name, std::uint64_t value, std::initializer_list<MetricLabel> l) {
  out_->append(name);
  labels(l);
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out_->append(" ").append(digits, end).append("\n");
}

void MetricsWriter::sample(std::string_view name, double value, std::initializer_list<MetricLabel> l) {
  out_->append(name);
  labels(l);
  char digits[32];
  int n = 0;
  if (std::isnan(value)) {
    n = std::snprintf(digits, sizeof digits, "NaN");
  } else if (std::isinf(value)) {
    n = std::snprintf(digits, sizeof digits, value > 0 ? "+Inf" : "-Inf");
  } else {
    n = std::snprintf(digits, sizeof digits, "%.17g", value);
  }
  out_->append(" ").append(digits, static_cast<std::size_t>(n)).append("\n");
}

void write_metrics(const Counters& c, MetricsWriter& w) {
  w.gauge("ringactor_connections_open", "Connections open now.", c.connections_open);
  w.counter("ringactor_connections_accepted_total", "Connections accepted and given a slot.", c.connections_accepted);
  w.counter("ringactor_connections_rejected_total", "Connections accepted and closed at once: no free slot.",
            c.connections_rejected);
  w.family("ringactor_connections_closed_total", "counter", "Connections torn down, by reason.");
  for (std::size_t i = 0; i < kCloseReasons; ++i) {
    w.sample("ringactor_connections_closed_total", c.closed_by_reason[i],
             {{"reason", to_string(static_cast<CloseReason>(i))}});
  }
  w.counter("ringactor_accept_errors_total", "Failed accept completions (EMFILE, ...).", c.accept_errors);
  w.counter("ringactor_receive_bytes_total", "Bytes received from clients.", c.bytes_in);
  w.counter("ringactor_send_bytes_total", "Bytes sent to clients.", c.bytes_out);
  w.counter("ringactor_submissions_total", "Operations (SQEs) handed to the kernel.", c.submissions);
  w.counter("ringactor_completions_total", "Completions (CQEs) processed.", c.completions);
  w.counter("ringactor_loop_iterations_total", "Reactor loop iterations.", c.iterations);
  w.counter("ringactor_wakeups_total", "Eventfd writes by other threads waking a sleeping reactor.", c.wakeups);
  w.counter("ringactor_posted_total", "Closures posted from other threads and run.", c.invokes);
  w.counter("ringactor_stale_completions_total", "Completions for a connection already gone, dropped.",
            c.stale_completions);
  w.counter("ringactor_sends_total", "Send calls that wrote or failed.", c.sends);
  w.counter("ringactor_receive_buffer_shortages_total", "Receives that found the buffer ring empty.", c.recv_enobufs);
  w.counter("ringactor_file_reads_total", "Positional file reads completed.", c.file_reads);
  w.counter("ringactor_timers_fired_total", "Timer callbacks run.", c.timers_fired);
  w.counter("ringactor_handler_errors_total", "Exceptions escaping handlers, timers or posted closures.",
            c.handler_errors);
}

}  // namespace ringactor::runtime

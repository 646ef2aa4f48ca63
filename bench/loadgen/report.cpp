// The summary and JSON line at the end of a loadgen run (see report.hpp).
#include "report.hpp"

#include <cstdio>

namespace loadgen {
namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(ch)));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string num(std::uint64_t v) { return std::to_string(v); }

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

}  // namespace

int exit_status(const Summary& s) {
  if (s.result == "no_connection" || s.result == "stalled" || s.result == "setup_failed") return 3;
  if (s.result != "ok") return 1;
  return 0;
}

void print_summary(const Options& o, const Summary& s) {
  const Counters& c = s.counters;
  const Histogram& h = s.latency;
  const double rate = s.duration_s > 0 ? static_cast<double>(c.answers) / s.duration_s : 0;
  const bool rooms = o.mode == Mode::WsRooms;
  const bool arena = o.mode == Mode::Arena;
  const char* what = o.mode == Mode::Http ? "requests" : rooms ? "deliveries" : arena ? "frames" : "messages";
  const double per_player_s = s.duration_s > 0 ? s.duration_s * o.connections : 0;
  const Histogram& jit = s.jitter;

  // Human summary.
  std::printf("loadgen %s %s: %u connections", mode_name(o.mode), o.url.c_str(), o.connections);
  if (o.mode == Mode::Http) std::printf(", depth %u", o.depth);
  if (o.mode == Mode::WsEcho) std::printf(", %u B messages, %u in flight each", o.size, o.inflight);
  if (rooms) std::printf(", %u rooms, %u B messages, %g/s per client", o.rooms, o.size, o.rate);
  std::printf(", %u thread%s, %.2f s\n", o.threads, o.threads == 1 ? "" : "s", s.duration_s);
  std::printf("  %-11s %llu (%.0f/s), sent %llu\n", what, static_cast<unsigned long long>(c.answers), rate,
              static_cast<unsigned long long>(c.sent));
  if (rooms)
    std::printf("  publishes   %llu, %.2f deliveries each (rooms of ~%.1f), %llu skipped\n",
                static_cast<unsigned long long>(c.sent),
                c.sent != 0 ? static_cast<double>(c.answers) / static_cast<double>(c.sent) : 0.0,
                static_cast<double>(o.connections) / o.rooms, static_cast<unsigned long long>(c.skipped));
  if (arena) {
    std::printf("  per player  %.1f frames/s, %.0f bytes/s in; %llu inputs sent, %llu acknowledged; %llu round results\n",
                per_player_s > 0 ? static_cast<double>(c.answers) / per_player_s : 0.0,
                per_player_s > 0 ? static_cast<double>(c.bytes_in) / per_player_s : 0.0,
                static_cast<unsigned long long>(c.sent), static_cast<unsigned long long>(c.acked),
                static_cast<unsigned long long>(c.rounds));
    std::printf("  tick jitter us  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f (|frame gap - tick|)\n", us(jit.quantile(0.5)),
                us(jit.quantile(0.99)), us(jit.quantile(0.999)), us(jit.max()));
    std::printf("  (latency: an input until the first state frame that acknowledges it)\n");
  }
  std::printf("  latency us  min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
              us(h.min()), us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)),
              us(h.quantile(0.999)), us(h.max()), h.mean() / 1000.0);
  if (o.mode == Mode::Http)
    std::printf("  status      2xx %llu  3xx %llu  4xx %llu  5xx %llu  other %llu\n",
                static_cast<unsigned long long>(c.status[2]), static_cast<unsigned long long>(c.status[3]),
                static_cast<unsigned long long>(c.status[4]), static_cast<unsigned long long>(c.status[5]),
                static_cast<unsigned long long>(c.status[0] + c.status[1]));
  std::printf("  errors      %llu", static_cast<unsigned long long>(c.error_total()));
  for (std::size_t i = 0; i < kErrorKinds; ++i)
    if (c.errors[i] != 0)
      std::printf("  %s %llu", kErrorNames[i], static_cast<unsigned long long>(c.errors[i]));
  std::printf("\n  bytes       in %.1f MB, out %.1f MB; %llu connects", static_cast<double>(c.bytes_in) / 1e6,
              static_cast<double>(c.bytes_out) / 1e6, static_cast<unsigned long long>(c.connects));
  if (s.cpu_s >= 0)
    std::printf("; loadgen CPU %.2f s (%.3f us per %s)", s.cpu_s,
                c.answers != 0 ? s.cpu_s * 1e6 / static_cast<double>(c.answers) : 0.0,
                o.mode == Mode::Http ? "request" : "message");
  std::printf("\n");
  if (s.result != "ok")
    std::printf("  result      %s%s%s\n", s.result.c_str(), s.first_error.empty() ? "" : ": ",
                s.first_error.c_str());

  // The JSON line.
  std::string j = "{\"mode\":\"";
  j += mode_name(o.mode);
  j += "\",\"url\":" + json_string(o.url);
  j += ",\"connections\":" + num(o.connections);
  j += ",\"threads\":" + num(o.threads);
  if (o.mode == Mode::Http) j += ",\"depth\":" + num(o.depth);
  if (o.mode != Mode::Http) j += ",\"size\":" + num(o.size);
  if (o.mode == Mode::WsEcho) j += ",\"inflight\":" + num(o.inflight);
  if (rooms) j += ",\"rooms\":" + num(o.rooms) + ",\"rate\":" + fmt("%g", o.rate);
  j += ",\"duration_s\":" + fmt("%.3f", s.duration_s);
  j += ",\"requests\":" + num(c.answers);
  j += ",\"rps\":" + fmt("%.1f", rate);
  j += ",\"sent\":" + num(c.sent);
  if (rooms) {
    j += ",\"publishes\":" + num(c.sent) + ",\"deliveries\":" + num(c.answers);
    j += ",\"deliveries_per_publish\":" +
         fmt("%.3f", c.sent != 0 ? static_cast<double>(c.answers) / static_cast<double>(c.sent) : 0.0);
    j += ",\"members_per_room\":" + fmt("%.2f", static_cast<double>(o.connections) / o.rooms);
    j += ",\"self_deliveries\":" + num(c.self_deliveries) + ",\"skipped\":" + num(c.skipped);
  }
  if (arena) {
    j += ",\"frames\":" + num(c.answers) + ",\"inputs\":" + num(c.sent) + ",\"acked\":" + num(c.acked) +
         ",\"rounds\":" + num(c.rounds);
    j += ",\"frames_per_player_s\":" + fmt("%.2f", per_player_s > 0 ? static_cast<double>(c.answers) / per_player_s : 0.0);
    j += ",\"bytes_per_player_s\":" + fmt("%.1f", per_player_s > 0 ? static_cast<double>(c.bytes_in) / per_player_s : 0.0);
    j += ",\"jitter_us\":{\"p50\":" + fmt("%.2f", us(jit.quantile(0.5))) + ",\"p99\":" + fmt("%.2f", us(jit.quantile(0.99))) +
         ",\"p999\":" + fmt("%.2f", us(jit.quantile(0.999))) + ",\"max\":" + fmt("%.2f", us(jit.max())) + "}";
  }
  j += ",\"bytes_in\":" + num(c.bytes_in) + ",\"bytes_out\":" + num(c.bytes_out);
  j += ",\"errors\":{\"total\":" + num(c.error_total());
  for (std::size_t i = 0; i < kErrorKinds; ++i)
    j += ",\"" + std::string(kErrorNames[i]) + "\":" + num(c.errors[i]);
  j += "}";
  if (o.mode == Mode::Http) {
    j += ",\"status\":{\"1xx\":" + num(c.status[1]) + ",\"2xx\":" + num(c.status[2]) +
         ",\"3xx\":" + num(c.status[3]) + ",\"4xx\":" + num(c.status[4]) + ",\"5xx\":" + num(c.status[5]) +
         ",\"other\":" + num(c.status[0]) + "}";
  }
  j += ",\"latency_us\":{\"min\":" + fmt("%.2f", us(h.min())) +
       ",\"p50\":" + fmt("%.2f", us(h.quantile(0.5))) + ",\"p90\":" + fmt("%.2f", us(h.quantile(0.9))) +
       ",\"p99\":" + fmt("%.2f", us(h.quantile(0.99))) + ",\"p999\":" + fmt("%.2f", us(h.quantile(0.999))) +
       ",\"max\":" + fmt("%.2f", us(h.max())) + ",\"mean\":" + fmt("%.2f", h.mean() / 1000.0) + "}";
  j += ",\"connects\":" + num(c.connects) + ",\"enobufs\":" + num(c.enobufs);
  if (s.cpu_s >= 0) {
    j += ",\"cpu_s\":" + fmt("%.3f", s.cpu_s);
    j += ",\"cpu_us_per_request\":" +
         fmt("%.4f", c.answers != 0 ? s.cpu_s * 1e6 / static_cast<double>(c.answers) : 0.0);
  }
  j += ",\"ring\":\"";
  j += s.ring;
  j += "\",\"result\":\"" + s.result + "\"";
  if (!s.first_error.empty()) j += ",\"first_error\":" + json_string(s.first_error);
  j += "}";
  std::printf("%s\n", j.c_str());
  std::fflush(stdout);
}

}  // namespace loadgen

// The HTTP server's counters: their snapshot and their metrics.
#include "ringactor/http/server.hpp"

#include "server_impl.hpp"

namespace ringactor::http {

void detail::ServerCore::snapshot(ServerCounters& s) const noexcept {
  auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  s.connections = get(c.connections);
  s.requests = get(c.requests);
  s.responses = get(c.responses);
  s.protocol_errors = get(c.protocol_errors);
  s.header_timeouts = get(c.header_timeouts);
  s.body_timeouts = get(c.body_timeouts);
  s.handler_errors = get(c.handler_errors);
  s.deferred = get(c.deferred);
  s.deferred_completed = get(c.deferred_completed);
  s.deferred_dropped = get(c.deferred_dropped);
  s.deferred_abandoned = get(c.deferred_abandoned);
  s.input_pauses = get(c.input_pauses);
  s.streams = get(c.streams);
  s.streams_cut = get(c.streams_cut);
  for (std::size_t i = 0; i < s.status_classes.size(); ++i) s.status_classes[i] = get(c.status_classes[i]);
  s.ws_upgrades = get(c.ws_upgrades);
  s.ws_refused = get(c.ws_refused);
  s.ws_open = get(c.ws_open);
  s.ws_messages_in = get(c.ws_messages_in);
  s.ws_messages_out = get(c.ws_messages_out);
  s.ws_protocol_errors = get(c.ws_protocol_errors);
  s.ws_slow_closed = get(c.ws_slow_closed);
  s.ws_pings = get(c.ws_pings);
  s.ws_ping_timeouts = get(c.ws_ping_timeouts);
  s.topic_relays_out = get(c.topic_relays_out);
  s.topic_relays_in = get(c.topic_relays_in);
}

void write_metrics(const ServerCounters& c, runtime::MetricsWriter& w) {
  w.counter("ringactor_http_connections_total", "HTTP connections accepted.", c.connections);
  w.counter("ringactor_http_requests_total", "Requests handed to a handler (or answered 404/405).", c.requests);
  w.family("ringactor_http_responses_total", "counter", "Final responses, by status class.");
  static constexpr std::string_view kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  for (std::size_t i = 0; i < c.status_classes.size(); ++i) {
    w.sample("ringactor_http_responses_total", c.status_classes[i], {{"class", kClasses[i]}});
  }
  w.family("ringactor_http_errors_total", "counter", "Requests refused or cut, by kind.");
  w.sample("ringactor_http_errors_total", c.protocol_errors, {{"kind", "protocol"}});
  w.sample("ringactor_http_errors_total", c.header_timeouts, {{"kind", "header_timeout"}});
  w.sample("ringactor_http_errors_total", c.body_timeouts, {{"kind", "body_timeout"}});
  w.sample("ringactor_http_errors_total", c.handler_errors, {{"kind", "handler"}});
  w.sample("ringactor_http_errors_total", c.streams_cut, {{"kind", "stream_cut"}});
  w.family("ringactor_http_deferred_total", "counter", "Deferred answers, by what became of them.");
  w.sample("ringactor_http_deferred_total", c.deferred, {{"outcome", "deferred"}});
  w.sample("ringactor_http_deferred_total", c.deferred_completed, {{"outcome", "sent"}});
  w.sample("ringactor_http_deferred_total", c.deferred_dropped, {{"outcome", "dropped"}});
  w.sample("ringactor_http_deferred_total", c.deferred_abandoned, {{"outcome", "abandoned"}});
  w.counter("ringactor_http_input_pauses_total", "Connections that paused reading (max_outstanding, output).",
            c.input_pauses);
  w.counter("ringactor_http_streams_total", "Streamed response bodies.", c.streams);
  w.counter("ringactor_ws_upgrades_total", "Connections switched to WebSocket.", c.ws_upgrades);
  w.counter("ringactor_ws_refused_total", "WebSocket upgrade requests refused.", c.ws_refused);
  w.gauge("ringactor_ws_connections", "WebSocket connections open.", c.ws_open);
  w.family("ringactor_ws_messages_total", "counter", "WebSocket messages, by direction.");
  w.sample("ringactor_ws_messages_total", c.ws_messages_in, {{"direction", "in"}});
  w.sample("ringactor_ws_messages_total", c.ws_messages_out, {{"direction", "out"}});
  w.family("ringactor_ws_closed_total", "counter", "WebSocket connections the server closed, by cause.");
  w.sample("ringactor_ws_closed_total", c.ws_protocol_errors, {{"cause", "protocol"}});
  w.sample("ringactor_ws_closed_total", c.ws_slow_closed, {{"cause", "slow_consumer"}});
  w.sample("ringactor_ws_closed_total", c.ws_ping_timeouts, {{"cause", "ping_timeout"}});
  w.counter("ringactor_ws_pings_total", "Pings sent to idle WebSocket connections.", c.ws_pings);
  w.family("ringactor_ws_topic_relays_total", "counter", "Publishes passed between linked servers, by direction.");
  w.sample("ringactor_ws_topic_relays_total", c.topic_relays_out, {{"direction", "out"}});
  w.sample("ringactor_ws_topic_relays_total", c.topic_relays_in, {{"direction", "in"}});
}

}  // namespace ringactor::http

// The WebSocket opening handshake (RFC 6455 section 4.2): checking the upgrade request,
// Sec-WebSocket-Accept (SHA-1 and base64 from OpenSSL), subprotocols, the permessage-deflate
// negotiation (RFC 7692 section 7.1), and registering WebSocket routes.
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <stdexcept>
#include <string>

#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "server_impl.hpp"

namespace ringactor::http {

namespace detail {

namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn on every comma-separated element of every `name` header line (empty ones skipped).
template <typename F>
void for_each_element(const Request& req, std::string_view name, F&& fn) {
  for (const Header& h : req.headers()) {
    if (!iequals(h.name, name)) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      const std::size_t comma = v.find(',');
      const std::string_view item = trim(v.substr(0, comma));
      if (!item.empty()) fn(item);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
}

bool has_token(const Request& req, std::string_view name, std::string_view token) {
  bool found = false;
  for_each_element(req, name, [&](std::string_view item) { found = found || iequals(item, token); });
  return found;
}

// Sec-WebSocket-Key: base64 of 16 bytes (24 characters, "==" at the end).
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 22; ++i) {
    const char c = key[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/')) {
      return false;
    }
  }
  unsigned char out[18];
  return EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(key.data()), 24) == 18;
}

// base64(SHA-1(key + the protocol's GUID)).
std::string accept_for(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char in[24 + 36];
  std::copy(key.begin(), key.end(), in);
  std::copy(kGuid.begin(), kGuid.end(), in + key.size());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(in, key.size() + kGuid.size(), digest, &n, EVP_sha1(), nullptr) != 1 || n != 20) {
    throw std::runtime_error("websocket: SHA-1 failed (OpenSSL)");
  }
  unsigned char b64[32];
  const int len = EVP_EncodeBlock(b64, digest, 20);
  return std::string(reinterpret_cast<const char*>(b64), static_cast<std::size_t>(len));
}

// One permessage-deflate offer, as the server will answer it.
struct DeflateAnswer {
  bool server_no_takeover = false;
  bool client_no_takeover = false;
  int server_window = 15;
  bool server_window_offered = false;  // then the answer must carry it (RFC 7692 7.1.2.1)
  std::optional<int> client_window;  // echoed only if the client offered the parameter
};

std::optional<int> window_bits(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  int bits = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), bits);
  if (ec != std::errc() || end != v.data() + v.size() || bits < 8 || bits > 15) return std::nullopt;
  return bits;
}

// Parses one offer ("permessage-deflate; p1; p2=v"): the answer, or nothing if the server
// must decline it (an unknown or repeated parameter, a bad value, a window we cannot use).
std::optional<DeflateAnswer> consider_offer(std::string_view offer, const WsDeflate& ours) {
  std::size_t semi = offer.find(';');
  if (!iequals(trim(offer.substr(0, semi)), "permessage-deflate")) return std::nullopt;
  DeflateAnswer a;
  a.server_no_takeover = !ours.server_context_takeover;
  a.client_no_takeover = !ours.client_context_takeover;
  a.server_window = ours.server_max_window_bits;
  bool seen_snt = false, seen_cnt = false, seen_smwb = false, seen_cmwb = false;
  while (semi != std::string_view::npos) {
    offer.remove_prefix(semi + 1);
    semi = offer.find(';');
    const std::string_view param = trim(offer.substr(0, semi));
    const std::size_t eq = param.find('=');
    const std::string_view name = trim(param.substr(0, eq));
    const std::optional<std::string_view> value =
        eq == std::string_view::npos ? std::nullopt : std::optional<std::string_view>(trim(param.substr(eq + 1)));
    if (iequals(name, "server_no_context_takeover")) {
      if (seen_snt || value) return std::nullopt;
      seen_snt = true;
      a.server_no_takeover = true;
    } else if (iequals(name, "client_no_context_takeover")) {
      if (seen_cnt || value) return std::nullopt;
      seen_cnt = true;
      a.client_no_takeover = true;
    } else if (iequals(name, "server_max_window_bits")) {
      if (seen_smwb || !value) return std::nullopt;
      seen_smwb = true;
      const std::optional<int> bits = window_bits(*value);
      // zlib cannot make a raw stream with an 8-bit window: decline such an offer.
      if (!bits || *bits < 9) return std::nullopt;
      a.server_window = std::min(a.server_window, *bits);
      a.server_window_offered = true;
    } else if (iequals(name, "client_max_window_bits")) {
      if (seen_cmwb) return std::nullopt;
      seen_cmwb = true;
      int bits = 15;
      if (value) {
        const std::optional<int> b = window_bits(*value);
        if (!b) return std::nullopt;
        bits = *b;
      }
      a.client_window = bits;  // our inflater's 15-bit window reads any smaller one
    } else {
      return std::nullopt;  // a parameter we do not know
    }
  }
  return a;
}

std::string deflate_header(const DeflateAnswer& a) {
  std::string h = "permessage-deflate";
  if (a.server_no_takeover) h += "; server_no_context_takeover";
  if (a.client_no_takeover) h += "; client_no_context_takeover";
  if (a.server_window < 15 || a.server_window_offered) h += "; server_max_window_bits=" + std::to_string(a.server_window);
  if (a.client_window) h += "; client_max_window_bits=" + std::to_string(*a.client_window);
  return h;
}

}  // namespace

class WsHandshake {
 public:
  static void handle(WsRoute& route, Request& req, Response& res);
};

void WsHandshake::handle(WsRoute& route, Request& req, Response& res) {
  ServerCore& core = *route.core;
  // A request that is not an upgrade to WebSocket: 426 says which protocol to use.
  if (req.method() != "GET" || req.version_minor() < 1 || !has_token(req, "Upgrade", "websocket")) {
    bump(core.c.ws_refused);
    res.status(426).header("Upgrade", "websocket").header("Sec-WebSocket-Version", "13");
    res.text("426 Upgrade Required: this is a WebSocket endpoint\n");
    return;
  }
  if (!has_token(req, "Connection", "upgrade")) {
    bump(core.c.ws_refused);
    res.status(400).text("400 Bad Request: the Connection header must list 'upgrade'\n");
    return;
  }
  int versions = 0;
  bool v13 = false;
  for_each_element(req, "Sec-WebSocket-Version", [&](std::string_view v) {
    ++versions;
    v13 = v13 || v == "13";
  });
  if (versions != 1 || !v13) {
    bump(core.c.ws_refused);
    res.status(426).header("Sec-WebSocket-Version", "13").text("426 Upgrade Required: WebSocket version 13 only\n");
    return;
  }
  std::optional<std::string_view> key;
  int keys = 0;
  for (const Header& h : req.headers()) {
    if (iequals(h.name, "Sec-WebSocket-Key")) {
      ++keys;
      key = trim(h.value);
    }
  }
  if (keys != 1 || !valid_key(*key)) {
    bump(core.c.ws_refused);
    res.status(400).text("400 Bad Request: Sec-WebSocket-Key must be base64 of 16 bytes\n");
    return;
  }

  WsUpgrade up;
  for_each_element(req, "Sec-WebSocket-Protocol", [&](std::string_view p) { up.offered_.push_back(p); });
  std::optional<DeflateAnswer> deflate;
  if (route.options.deflate.enabled) {
    for_each_element(req, "Sec-WebSocket-Extensions", [&](std::string_view offer) {
      if (!deflate) deflate = consider_offer(offer, route.options.deflate);
    });
  }
  std::unique_ptr<WebSocket> ws = route.factory(req, up);
  if (up.refused() || !ws) {
    bump(core.c.ws_refused);
    const int status = up.refused() ? up.refuse_status_ : 403;
    if (!up.headers_.empty()) core.headers += up.headers_;
    res.status(status);
    if (!up.refuse_body_.empty()) {
      res.text(up.refuse_body_);
    } else {
      res.text(std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n");
    }
    return;
  }
  ws->route_ = &route;
  // The 101's own headers (Connection and Upgrade are the server's to set, so they bypass
  // Response::header), then the hook's.
  std::string& h = core.headers;
  h.append("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ").append(accept_for(*key)).append("\r\n");
  if (!up.chosen_.empty() || deflate) ws->x_ = new WsExtras();
  if (!up.chosen_.empty()) {
    h.append("Sec-WebSocket-Protocol: ").append(up.chosen_).append("\r\n");
    ws->x_->protocol = std::move(up.chosen_);
  }
  if (deflate) {
    h.append("Sec-WebSocket-Extensions: ").append(deflate_header(*deflate)).append("\r\n");
    ws->deflate_ = true;
    ws->x_->server_window = static_cast<std::uint8_t>(deflate->server_window);
    ws->x_->client_no_takeover = deflate->client_no_takeover;
    ws->x_->server_takeover = !deflate->server_no_takeover;
  }
  h.append(up.headers_);
  res.status_ = 101;
  res.kind_ = Response::Kind::kUpgrade;
  core.upgrade = std::move(ws);
}

ws::Inflater& ServerCore::shared_inflater() {
  if (!ws_inflater) ws_inflater = std::make_unique<ws::Inflater>(15);
  return *ws_inflater;
}

ws::Deflater& ServerCore::shared_deflater(int window_bits) {
  const int bits = std::clamp(window_bits, 9, 15);
  std::unique_ptr<ws::Deflater>& d = ws_deflaters[static_cast<std::size_t>(bits - 9)];
  if (!d) d = std::make_unique<ws::Deflater>(bits, false);
  return *d;
}

}  // namespace detail

// ---- WsUpgrade ---------------------------------------------------------------------------

void WsUpgrade::protocol(std::string_view name) {
  if (std::find(offered_.begin(), offered_.end(), name) == offered_.end()) {
    throw std::invalid_argument("WsUpgrade::protocol: '" + std::string(name) + "' was not offered by the client");
  }
  chosen_.assign(name);
}

void WsUpgrade::refuse(int status, std::string_view body) {
  if (status < 400 || status > 599) throw std::invalid_argument("WsUpgrade::refuse: status must be 400..599");
  refuse_status_ = status;
  refuse_body_.assign(body);
}

void WsUpgrade::header(std::string_view name, std::string_view value) {
  for (const std::string_view reserved : {"upgrade", "sec-websocket-accept", "sec-websocket-protocol",
                                          "sec-websocket-extensions"}) {
    if (iequals(name, reserved)) {
      throw std::invalid_argument("WsUpgrade::header: '" + std::string(name) + "' is set by the server");
    }
  }
  detail::append_header(headers_, name, value);
}

// ---- WebSocket routes ----------------------------------------------------------------------

std::size_t Routes::add_ws(std::string_view pattern, WsOptions options, WsFactory factory,
                           std::shared_ptr<const void> behavior) {
  check_open("ws");
  if (!factory) throw std::invalid_argument("http::Routes::ws: empty factory");
  if (options.max_message == 0 || options.max_message > (std::size_t{1} << 30)) {
    throw std::invalid_argument("http::Routes::ws: max_message must be in [1, 1 GiB]");
  }
  if (options.max_buffered == 0) throw std::invalid_argument("http::Routes::ws: max_buffered must be positive");
  if (options.deflate.server_max_window_bits < 9 || options.deflate.server_max_window_bits > 15) {
    throw std::invalid_argument("http::Routes::ws: deflate.server_max_window_bits must be in 9..15");
  }
  if (options.idle_timeout.count() < 0 || options.pong_timeout.count() < 0 || options.close_timeout.count() <= 0) {
    throw std::invalid_argument("http::Routes::ws: timeouts must not be negative (close_timeout positive)");
  }
  if (options.idle_timeout.count() > 0 && options.pong_timeout.count() == 0) {
    throw std::invalid_argument("http::Routes::ws: pong_timeout must be positive when idle_timeout is");
  }
  const std::size_t index = table_->ws.size();
  detail::Route r;
  r.kind = detail::Route::Kind::kWebSocket;
  r.ws = static_cast<std::uint32_t>(index);
  table_->router.add("GET", pattern, std::move(r));  // throws for a bad or duplicate pattern
  table_->ws.push_back(detail::WsSpec{std::move(options), std::move(factory), std::move(behavior)});
  return index;
}

void Server::ws(std::string_view pattern, WsOptions options, WsFactory factory) {
  check_ws(options);
  own_routes().add_ws(pattern, std::move(options), std::move(factory), nullptr);
  adopt_ws();
}

void Server::check_ws(const WsOptions& options) const { core_->check_ws(options); }
void Server::adopt_ws() { core_->adopt_ws(); }

namespace detail {

void ServerCore::check_ws(const WsOptions& options) const {
  const std::size_t cap = stage->reactor().options().max_output_bytes;
  if (options.max_buffered == 0 || options.max_buffered > cap / 2) {
    throw std::invalid_argument("http::Server::ws: max_buffered must be in [1, ReactorOptions::max_output_bytes / 2] (" +
                                std::to_string(cap / 2) + ")");
  }
}

void ServerCore::adopt_ws() {
  for (std::size_t i = ws_routes.size(); i < table->ws.size(); ++i) {
    const WsSpec& spec = table->ws[i];
    check_ws(spec.options);
    auto route = std::make_unique<WsRoute>();
    route->core = this;
    route->options = spec.options;
    route->factory = spec.factory;
    route->behavior = spec.behavior;
    route->reader.max_message = spec.options.max_message;
    ws_routes.push_back(std::move(route));
  }
}

void ws_handshake(WsRoute& route, Request& req, Response& res) { WsHandshake::handle(route, req, res); }

}  // namespace detail

}  // namespace ringactor::http

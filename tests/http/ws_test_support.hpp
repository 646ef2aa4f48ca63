// A raw WebSocket client for tests: it writes any frame, well formed or not, and reads the
// server's frames one by one over a real loopback socket. Also a zlib helper for
// permessage-deflate.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "http_test_support.hpp"

namespace ringactor::test {

struct WsFrame {
  std::uint8_t opcode = 0;
  bool fin = false;
  bool rsv1 = false;
  bool masked = false;
  std::string payload;
  // A close frame's code (0: none) and reason.
  unsigned code() const {
    return payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]) : 0;
  }
  std::string reason() const { return payload.size() > 2 ? payload.substr(2) : std::string(); }
};

inline std::string ws_frame(std::uint8_t first_byte, std::string_view payload, bool mask = true,
                            std::optional<std::uint64_t> announced = std::nullopt) {
  std::string f;
  f.push_back(static_cast<char>(first_byte));
  const std::uint64_t n = announced.value_or(payload.size());
  const char m = mask ? static_cast<char>(0x80) : 0;
  if (n < 126) {
    f.push_back(static_cast<char>(m | static_cast<char>(n)));
  } else if (n <= 0xFFFF) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  }
  static std::mt19937 rng(42);
  const char key[4] = {static_cast<char>(rng()), static_cast<char>(rng()), static_cast<char>(rng()),
                       static_cast<char>(rng())};
  if (mask) f.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(mask ? static_cast<char>(payload[i] ^ key[i & 3]) : payload[i]);
  return f;
}

// Joins pieces with append (g++ 12 at -O3 warns falsely, -Wrestrict, on a literal + a
// temporary std::string).
template <typename... P>
std::string cat(const P&... pieces) {
  std::string out;
  (out.append(std::string_view(pieces)), ...);
  return out;
}

// Opcode byte helpers: FIN + opcode.
inline constexpr std::uint8_t kFinText = 0x81, kFinBinary = 0x82, kFinClose = 0x88, kFinPing = 0x89, kFinPong = 0x8A;

inline std::string close_payload(unsigned code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  p.append(reason);
  return p;
}

class WsClient {
 public:
  explicit WsClient(std::uint16_t port, std::chrono::milliseconds timeout = 10s, int rcvbuf = 0)
      : c_(port, timeout, rcvbuf) {}

  // Sends the opening handshake (plus `extra` header lines and `after` bytes in the same
  // write) and reads the answer's head. The status line and headers are kept.
  int handshake(std::string_view path = "/ws", std::string_view extra = {}, std::string_view after = {}) {
    std::string req = "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    req.append(extra);
    req.append("\r\n");
    req.append(after);
    c_.send_all(req);
    return read_head();
  }
  int read_head() {
    head_.clear();
    while (head_.find("\r\n\r\n") == std::string::npos) {
      const std::string b = c_.recv_exact(1);
      if (b.empty()) return 0;
      head_ += b;
    }
    return std::atoi(head_.c_str() + 9);
  }
  // A header of the last answer (case-sensitive name as the server writes it).
  std::optional<std::string> header(std::string_view name) const {
    const std::string key = "\r\n" + std::string(name) + ": ";
    const std::size_t at = head_.find(key);
    if (at == std::string::npos) return std::nullopt;
    const std::size_t from = at + key.size();
    return head_.substr(from, head_.find("\r\n", from) - from);
  }
  const std::string& head() const { return head_; }

  bool send_raw(std::string_view bytes) { return c_.send_all(bytes.data(), bytes.size()); }
  bool send(std::uint8_t first_byte, std::string_view payload) { return send_raw(ws_frame(first_byte, payload)); }
  bool text(std::string_view s) { return send(kFinText, s); }
  bool binary(std::string_view s) { return send(kFinBinary, s); }

  // The next frame, or nothing on EOF/timeout.
  std::optional<WsFrame> next() {
    const std::string h = c_.recv_exact(2);
    if (h.size() < 2) return std::nullopt;
    WsFrame f;
    f.fin = (h[0] & 0x80) != 0;
    f.rsv1 = (h[0] & 0x40) != 0;
    f.opcode = static_cast<std::uint8_t>(h[0] & 0x0F);
    f.masked = (h[1] & 0x80) != 0;
    std::uint64_t n = static_cast<unsigned char>(h[1]) & 0x7F;
    if (n == 126) {
      const std::string e = c_.recv_exact(2);
      if (e.size() < 2) return std::nullopt;
      n = (static_cast<unsigned char>(e[0]) << 8) | static_cast<unsigned char>(e[1]);
    } else if (n == 127) {
      const std::string e = c_.recv_exact(8);
      if (e.size() < 8) return std::nullopt;
      n = 0;
      for (char ch : e) n = (n << 8) | static_cast<unsigned char>(ch);
    }
    f.payload = c_.recv_exact(static_cast<std::size_t>(n));
    if (f.payload.size() != n) return std::nullopt;
    return f;
  }
  // The next data frame's payload (skipping nothing: a control frame here fails the test).
  std::string message() {
    auto f = next();
    if (!f) return "<none>";
    if (f->opcode != 1 && f->opcode != 2) return "<opcode " + std::to_string(f->opcode) + ">";
    return f->payload;
  }
  // Expects a close frame with `code`, then the TCP close.
  ::testing::AssertionResult closed_with(unsigned code) {
    auto f = next();
    if (!f) return ::testing::AssertionFailure() << "no close frame (connection ended or timed out)";
    if (f->opcode != 8) return ::testing::AssertionFailure() << "frame with opcode " << int(f->opcode) << ", not close";
    if (f->code() != code) return ::testing::AssertionFailure() << "close code " << f->code() << " (" << f->reason() << "), expected " << code;
    if (!c_.closed_by_peer()) return ::testing::AssertionFailure() << "the TCP connection stayed open after the close frame";
    return ::testing::AssertionSuccess();
  }
  Client& tcp() { return c_; }

 private:
  Client c_;
  std::string head_;
};

// Raw DEFLATE of `s` as a permessage-deflate sender makes it (tail 00 00 FF FF removed).
inline std::string deflate_message(std::string_view s) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(s.size())) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  z.avail_in = static_cast<uInt>(s.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (out.size() >= 4 && out.compare(out.size() - 4, 4, std::string("\0\0\xff\xff", 4)) == 0) out.resize(out.size() - 4);
  return out;
}

inline std::string inflate_message(std::string_view s) {
  z_stream z{};
  inflateInit2(&z, -15);
  std::string in(s);
  in.append("\0\0\xff\xff", 4);
  std::string out;
  char buf[65536];
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    const int rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (rc != Z_OK) break;
  } while (z.avail_in != 0 || z.avail_out == 0);
  inflateEnd(&z);
  return out;
}

}  // namespace ringactor::test

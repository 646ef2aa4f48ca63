// `loadgen --self-test`: checks of the pure parts (response parser, frame parser, histogram,
// handshake, request files), HTTP answers cut at every byte and WebSocket frames into pieces
// of many sizes, so that a broken parser shows before it miscounts a benchmark. Exit status 0 when all pass,
// 1 otherwise.
#include <cstdio>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "http_response_parser.hpp"
#include "options.hpp"
#include "protocol.hpp"
#include "ws_frame.hpp"
#include "ws_handshake.hpp"

namespace loadgen {
namespace {

int failures = 0;

void check(bool ok, const char* what, const std::string& detail = "") {
  if (!ok) {
    ++failures;
    std::printf("FAIL %s %s\n", what, detail.c_str());
  }
}

struct HttpSink {
  std::vector<bool> heads;  // per expected answer: a HEAD?
  std::vector<unsigned> got;
  std::size_t closes = 0;
  bool head_request() const { return got.size() < heads.size() && heads[got.size()]; }
  void on_response(unsigned status, bool close) {
    got.push_back(status);
    closes += close ? 1 : 0;
  }
};

// Feeds `in` in pieces cut at `cuts` and returns the statuses seen (or {999} on an error).
std::vector<unsigned> run_http(const std::string& in, const std::vector<bool>& heads, std::size_t piece,
                               HttpResponseParser::Error* err = nullptr, bool eof = false) {
  HttpResponseParser p;
  HttpSink sink;
  sink.heads = heads;
  for (std::size_t at = 0; at < in.size(); at += piece) {
    const std::size_t n = std::min(piece, in.size() - at);
    const HttpResponseParser::Error e = p.feed(in.data() + at, n, sink);
    if (e != HttpResponseParser::Error::Ok) {
      if (err != nullptr) *err = e;
      return {999};
    }
  }
  if (eof) p.finish(sink);
  return sink.got;
}

void test_http() {
  const std::string long_cookie = "Set-Cookie: " + std::string(300, 'a') + "\r\n";
  const std::string in =
      "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 201 Created\r\n" +
      long_cookie +
      "content-length:  5 \r\n\r\nabcde"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: "
      "1\r\n\r\n"
      "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"  // a HEAD answer: no body
      "HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\nConnection: keep-alive, Close\r\n\r\nno\n";
  const std::vector<bool> heads = {false, false, false, false, false, true, false};
  const std::vector<unsigned> want = {200, 201, 200, 204, 304, 200, 404};
  for (std::size_t piece = 1; piece <= in.size(); ++piece) {
    const std::vector<unsigned> got = run_http(in, heads, piece);
    check(got == want, "http: pipelined answers", "piece " + std::to_string(piece));
    if (got != want) break;
  }
  // Every two-piece split.
  for (std::size_t cut = 1; cut < in.size(); ++cut) {
    HttpResponseParser p;
    HttpSink sink;
    sink.heads = heads;
    p.feed(in.data(), cut, sink);
    p.feed(in.data() + cut, in.size() - cut, sink);
    if (sink.got != want || sink.closes != 1 || !p.idle()) {
      check(false, "http: split", "at " + std::to_string(cut));
      break;
    }
  }
  HttpResponseParser::Error e{};
  check(run_http("HTTP/1.1 20x OK\r\n\r\n", {}, 4, &e) == std::vector<unsigned>{999} &&
            e == HttpResponseParser::Error::BadStatusLine,
        "http: bad status line");
  check(run_http("SSH-2.0-OpenSSH\r\n", {}, 100, &e) == std::vector<unsigned>{999} &&
            e == HttpResponseParser::Error::BadStatusLine,
        "http: not http");
  check(
      run_http("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", {}, 100, &e) == std::vector<unsigned>{999} &&
          e == HttpResponseParser::Error::BadHeader,
      "http: bad length");
  check(run_http("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", {}, 100, &e) ==
                std::vector<unsigned>{999} &&
            e == HttpResponseParser::Error::BadChunk,
        "http: bad chunk");
  check(run_http("HTTP/1.1 101 Switching\r\n\r\n", {}, 100, &e) == std::vector<unsigned>{999} &&
            e == HttpResponseParser::Error::Upgrade,
        "http: 101");
  check(
      run_http("HTTP/1.1 200 OK\r\n\r\nbody until close", {}, 3, nullptr, true) == std::vector<unsigned>{200},
      "http: body to EOF");
  check(run_http(std::string(2u << 20, 'x'), {}, 65536, &e) == std::vector<unsigned>{999} &&
            e == HttpResponseParser::Error::TooLarge,
        "http: endless line");
}

struct WsSink {
  std::vector<std::uint64_t> lens;
  std::vector<std::string> heads;
  std::vector<int> controls;
  void on_message(std::uint8_t, const unsigned char* h, std::size_t hl, std::uint64_t len) {
    lens.push_back(len);
    heads.emplace_back(reinterpret_cast<const char*>(h), hl);
  }
  void on_control(std::uint8_t op, const unsigned char*, std::size_t) { controls.push_back(op); }
};

std::string server_frame(std::uint8_t b0, const std::string& payload) {
  std::string f(1, static_cast<char>(b0));
  const std::size_t n = payload.size();
  if (n < 126) {
    f += static_cast<char>(n);
  } else if (n <= 0xffff) {
    f += static_cast<char>(126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n & 0xff);
  } else {
    f += static_cast<char>(127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((n >> (8 * i)) & 0xff);
  }
  return f + payload;
}

void test_ws() {
  const std::string a = "0123456789abcdefXYZ";
  const std::string big(300, 'b');
  const std::string huge(70000, 'h');
  const std::string in = server_frame(0x82, a) + server_frame(0x89, "ping") + server_frame(0x02, big) +
                         server_frame(0x8a, "") + server_frame(0x80, "tail") + server_frame(0x82, huge) +
                         server_frame(0x81, "");
  for (std::size_t piece = 1; piece <= 4097; piece = piece < 20 ? piece + 1 : piece * 3) {
    WsFrameParser p;
    WsSink s;
    bool ok = true;
    for (std::size_t at = 0; at < in.size(); at += piece)
      ok &= p.feed(in.data() + at, std::min(piece, in.size() - at), s) == WsFrameParser::Error::Ok;
    const bool good = ok && s.lens == std::vector<std::uint64_t>{19, 304, 70000, 0} &&
                      s.heads[0] == a.substr(0, 16) && s.heads[1] == big.substr(0, 16) &&
                      s.controls == std::vector<int>{9, 10};
    check(good, "ws: frames", "piece " + std::to_string(piece));
    if (!good) break;
  }
  WsFrameParser p;
  WsSink s;
  const std::string masked = "\x82\x81\x01\x02\x03\x04x";
  check(p.feed(masked.data(), masked.size(), s) == WsFrameParser::Error::Masked, "ws: masked server frame");
  p.reset();
  const std::string cont = server_frame(0x80, "x");
  check(p.feed(cont.data(), cont.size(), s) == WsFrameParser::Error::BadOpcode, "ws: stray continuation");
  // Our own masked frame, unmasked again, gives the payload back.
  char buf[64];
  const std::uint32_t key = 0xa1b2c3d4;
  const std::size_t h = ws_frame_header(buf, kWsBinary, 20, key);
  std::string pl = "abcdefghijklmnopqrst";
  std::memcpy(buf + h, pl.data(), 20);
  ws_mask(buf + h, 20, key);
  const auto* kb = reinterpret_cast<const unsigned char*>(buf + h - 4);
  bool same = h == 6 && (static_cast<unsigned char>(buf[1]) & 0x80) != 0 && (buf[1] & 0x7f) == 20;
  for (int i = 0; i < 20; ++i) same &= static_cast<char>(buf[h + i] ^ kb[i & 3]) == pl[i];
  check(same, "ws: client frame masking");
  // RFC 6455 section 1.3's example.
  check(ws_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "ws: accept value");
  std::string why;
  check(ws_check_answer("HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", why),
        "ws: good answer", why);
  check(!ws_check_answer("HTTP/1.1 404 Not Found\r\n\r\n", "x", why), "ws: refused answer");
  std::uint64_t rng = 42;
  check(ws_key(rng).size() == 24, "ws: key length");
}

void test_histogram() {
  bool ok = true;
  for (std::uint64_t v = 1; v < (1ull << 62); v = v * 3 / 2 + 1) {
    const std::size_t i = Histogram::index(v);
    ok &= i < Histogram::kBuckets && Histogram::lowest(i) <= v &&
          v < Histogram::lowest(i) + Histogram::width(i);
    ok &= Histogram::width(i) == 1 ||
          static_cast<double>(Histogram::width(i)) / static_cast<double>(Histogram::lowest(i)) <= 1.0 / 128;
  }
  check(ok, "histogram: buckets within 1/128 of their values");
  Histogram h;
  for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);
  const auto near = [](std::uint64_t got, double want) {
    return std::abs(static_cast<double>(got) - want) <= want * 0.01;
  };
  check(near(h.quantile(0.5), 50000e3) && near(h.quantile(0.99), 99000e3) &&
            near(h.quantile(0.999), 99900e3) && h.min() == 1000 && h.max() == 100000000 &&
            near(static_cast<std::uint64_t>(h.mean()), 50000.5e3),
        "histogram: quantiles within 1%");
}

void test_request_file() {
  const std::vector<std::string> r = split_raw_requests(
      "GET /a HTTP/1.1\nHost: x\n\nPOST /b HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc\n\n");
  check(r.size() == 2 && r[0] == "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" &&
            r[1] == "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "request file: two requests");
  bool threw = false;
  try {
    split_raw_requests("GET / HTTP/1.1\r\nHost: x\r\n");
  } catch (const UsageError&) {
    threw = true;
  }
  check(threw, "request file: missing blank line is refused");
}

}  // namespace

int run_self_test() {
  test_http();
  test_ws();
  test_histogram();
  test_request_file();
  std::printf("self-test: %s (%d failure%s)\n", failures == 0 ? "all passed" : "FAILED", failures,
              failures == 1 ? "" : "s");
  return failures == 0 ? 0 : 1;
}

}  // namespace loadgen

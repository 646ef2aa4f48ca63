// RFC 6455 section 5 over real sockets: every violation closes with its code and then the
// TCP connection; fragmentation, control frames, UTF-8, close frames, message limits, pings
// and idle connections, and a client that vanishes mid-frame.
#include <gtest/gtest.h>

#include <string>

#include "ws_test_support.hpp"

using namespace ringactor::test;

namespace {

struct Seen {
  std::atomic<int> closes{0};
  std::atomic<unsigned> last_code{0};
  std::mutex m;
  std::string last_reason;
};

// /ws echoes; "throw" throws from on_message; "close:<code>" closes with that code.
auto echo_routes(Seen* seen, std::chrono::milliseconds idle = std::chrono::milliseconds(0),
                 std::chrono::milliseconds pong = std::chrono::milliseconds(0)) {
  return [=](http::Server& s) {
    http::WsOptions o;
    o.max_message = 64 * 1024;
    o.idle_timeout = idle;
    o.pong_timeout = pong;
    o.close_timeout = std::chrono::milliseconds(300);
    o.deflate.enabled = true;
    s.ws("/ws", {.options = o,
                 .message =
                     [](http::WsConnection<>& ws, std::string_view m, http::WsOpcode op) {
                       if (m == "throw") throw std::runtime_error("boom");
                       if (m.substr(0, 6) == "close:") {
                         ws.close(static_cast<std::uint16_t>(std::stoi(std::string(m.substr(6)))), "bye");
                         return;
                       }
                       ws.send(m, op);
                     },
                 .close =
                     [seen](http::WsConnection<>&, std::uint16_t code, std::string_view reason) {
                       std::lock_guard<std::mutex> lock(seen->m);
                       seen->last_reason = std::string(reason);
                       seen->last_code = code;
                       ++seen->closes;
                     }});
  };
}

struct EchoServer {
  Seen seen;
  HttpServerThread t;
  explicit EchoServer(std::chrono::milliseconds idle = std::chrono::milliseconds(0),
                      std::chrono::milliseconds pong = std::chrono::milliseconds(0))
      : t(echo_routes(&seen, idle, pong)) {}
  WsClient open(std::string_view extra = {}) {
    WsClient c(t.port());
    EXPECT_EQ(c.handshake("/ws", extra), 101);
    return c;
  }
};

}  // namespace

TEST(WsFrames, ViolationsCloseWithTheirCode) {
  EchoServer s;
  struct Case {
    const char* what;
    std::string bytes;
    unsigned code;
  };
  const std::string bad_utf8[] = {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "a\x80", "\xf0\x9f\x98"};
  std::vector<Case> cases = {
      {"unmasked frame", ws_frame(kFinText, "x", false), 1002},
      {"RSV2", ws_frame(0xA1, "x"), 1002},
      {"RSV3", ws_frame(0x91, "x"), 1002},
      {"RSV1 on a control frame", ws_frame(0xC9, "x"), 1002},
      {"reserved data opcode 3", ws_frame(0x83, "x"), 1002},
      {"reserved control opcode 11", ws_frame(0x8B, "x"), 1002},
      {"control frame over 125 bytes", ws_frame(kFinPing, std::string(126, 'p')), 1002},
      {"fragmented control frame", ws_frame(0x09, "p"), 1002},
      {"continuation without a message", ws_frame(0x80, "x"), 1002},
      {"new message inside a fragmented one", ws_frame(0x01, "a") + ws_frame(kFinText, "b"), 1002},
      {"close with a 1-byte payload", ws_frame(kFinClose, "x"), 1002},
      {"close code 999", ws_frame(kFinClose, close_payload(999)), 1002},
      {"close code 1004", ws_frame(kFinClose, close_payload(1004)), 1002},
      {"close code 1005", ws_frame(kFinClose, close_payload(1005)), 1002},
      {"close code 1006", ws_frame(kFinClose, close_payload(1006)), 1002},
      {"close code 1015", ws_frame(kFinClose, close_payload(1015)), 1002},
      {"close code 1016", ws_frame(kFinClose, close_payload(1016)), 1002},
      {"close code 2999", ws_frame(kFinClose, close_payload(2999)), 1002},
      {"close code 5000", ws_frame(kFinClose, close_payload(5000)), 1002},
      {"close reason not UTF-8", ws_frame(kFinClose, close_payload(1000, "\xff")), 1007},
      {"message over max_message (announced)", ws_frame(kFinBinary, "", true, 64 * 1024 + 1), 1009},
      {"fragments over max_message", ws_frame(0x02, std::string(40000, 'a')) + ws_frame(0x80, std::string(30000, 'b')), 1009},
      {"64-bit length with the top bit", ws_frame(kFinBinary, "", true, 1ull << 63), 1002},
      {"RSV1 on a continuation", ws_frame(0x41, deflate_message("a")) + ws_frame(0xC0, "x"), 1002},
  };
  for (const std::string& b : bad_utf8) cases.push_back({"invalid UTF-8 text", ws_frame(kFinText, b), 1007});
  for (const Case& k : cases) {
    WsClient c = s.open("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    ASSERT_TRUE(c.send_raw(k.bytes)) << k.what;
    EXPECT_TRUE(c.closed_with(k.code)) << k.what;
  }
  EXPECT_TRUE(eventually([&] { return s.t.counters().ws_open == 0; }));
  EXPECT_GE(s.t.counters().ws_protocol_errors, cases.size());
  // A valid connection alongside is unaffected.
  WsClient ok = s.open();
  ASSERT_TRUE(ok.text("still fine"));
  EXPECT_EQ(ok.message(), "still fine");
}

TEST(WsFrames, TooBigIsRefusedFromTheHeaderAlone) {
  EchoServer s;
  WsClient c = s.open();
  // Only the header: the payload (1 MiB) never comes, yet the close does.
  const std::string f = ws_frame(kFinBinary, "", true, 1 << 20);
  ASSERT_TRUE(c.send_raw(f));
  EXPECT_TRUE(c.closed_with(1009));
}

TEST(WsFrames, InvalidUtf8FailsAtTheFirstBadFragment) {
  EchoServer s;
  WsClient c = s.open();
  // The message never ends: the bad byte in the second fragment is enough.
  ASSERT_TRUE(c.send_raw(ws_frame(0x01, "valid start \xe2\x82")));  // a split euro sign: fine so far
  ASSERT_TRUE(c.send_raw(ws_frame(0x00, "\xac then \xc3\x28")));      // completes it, then a bad pair
  EXPECT_TRUE(c.closed_with(1007));
}

TEST(WsFrames, FragmentsWithControlFramesBetweenThem) {
  EchoServer s;
  WsClient c = s.open();
  const std::string euro = "\xe2\x82\xac";
  // Text split inside a character, a ping between fragments, binary in three pieces.
  ASSERT_TRUE(c.send_raw(ws_frame(0x01, cat("a", euro.substr(0, 1)))));
  ASSERT_TRUE(c.send_raw(ws_frame(kFinPing, "between")));
  auto pong = c.next();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, 10);
  EXPECT_EQ(pong->payload, "between");
  ASSERT_TRUE(c.send_raw(ws_frame(0x00, cat(euro.substr(1), "b"))));
  ASSERT_TRUE(c.send_raw(ws_frame(0x80, "c")));
  EXPECT_EQ(c.message(), cat("a", euro, "bc"));
  ASSERT_TRUE(c.send_raw(ws_frame(0x02, "x") + ws_frame(0x00, "") + ws_frame(0x80, "yz")));
  auto f = c.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, 2);
  EXPECT_TRUE(f->fin);
  EXPECT_FALSE(f->masked);  // server frames are never masked
  EXPECT_EQ(f->payload, "xyz");
  // Empty messages, and a frame split byte by byte.
  ASSERT_TRUE(c.text(""));
  EXPECT_EQ(c.message(), "");
  const std::string split = ws_frame(kFinText, std::string(300, 's'));
  for (char ch : split) ASSERT_TRUE(c.send_raw(std::string(1, ch)));
  EXPECT_EQ(c.message(), std::string(300, 's'));
}

TEST(WsFrames, PingIsAnsweredWithItsPayload) {
  EchoServer s;
  WsClient c = s.open();
  ASSERT_TRUE(c.send(kFinPing, "payload-123"));
  auto f = c.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, 10);
  EXPECT_EQ(f->payload, "payload-123");
  ASSERT_TRUE(c.send(kFinPong, "unsolicited"));  // ignored
  ASSERT_TRUE(c.text("after"));
  EXPECT_EQ(c.message(), "after");
}

TEST(WsFrames, ClientCloseIsAnsweredWithTheSameCode) {
  EchoServer s;
  for (unsigned code : {1000u, 1001u, 3000u, 4999u}) {
    WsClient c = s.open();
    ASSERT_TRUE(c.send(kFinClose, close_payload(code, "done")));
    EXPECT_TRUE(c.closed_with(code));
  }
  // An empty close is answered with an empty close; on_close sees 1005.
  WsClient c = s.open();
  ASSERT_TRUE(c.send(kFinClose, ""));
  auto f = c.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, 8);
  EXPECT_EQ(f->payload, "");
  EXPECT_TRUE(c.tcp().closed_by_peer());
  EXPECT_TRUE(eventually([&] { return s.seen.closes.load() == 5; }));
  EXPECT_EQ(s.seen.last_code.load(), 1005u);
}

TEST(WsFrames, ServerCloseWaitsForThePeerThenTimesOut) {
  EchoServer s;
  {
    WsClient c = s.open();
    ASSERT_TRUE(c.text("close:4000"));
    auto f = c.next();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, 8);
    EXPECT_EQ(f->code(), 4000u);
    EXPECT_EQ(f->reason(), "bye");
    ASSERT_TRUE(c.text("ignored after close"));  // data after the server's close is discarded
    ASSERT_TRUE(c.send(kFinClose, close_payload(4000)));
    EXPECT_TRUE(c.tcp().closed_by_peer());
  }
  {
    WsClient c = s.open();
    ASSERT_TRUE(c.text("close:1000"));
    auto f = c.next();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->code(), 1000u);
    // Never answered: the connection is closed after close_timeout (300 ms here).
    EXPECT_TRUE(c.tcp().closed_by_peer());
  }
  EXPECT_TRUE(eventually([&] { return s.seen.closes.load() == 2; }));
}

TEST(WsFrames, ExceptionInOnMessageClosesWith1011) {
  EchoServer s;
  WsClient c = s.open();
  ASSERT_TRUE(c.text("throw"));
  EXPECT_TRUE(c.closed_with(1011));
  WsClient d = s.open();
  ASSERT_TRUE(d.text("others go on"));
  EXPECT_EQ(d.message(), "others go on");
}

TEST(WsFrames, IdleConnectionsArePingedAndClosedWithoutAnswer) {
  EchoServer s(std::chrono::milliseconds(150), std::chrono::milliseconds(150));
  WsClient answering = s.open();
  WsClient silent = s.open();
  for (int i = 0; i < 2; ++i) {
    auto f = answering.next();
    ASSERT_TRUE(f);
    ASSERT_EQ(f->opcode, 9);
    ASSERT_TRUE(answering.send(kFinPong, f->payload));
  }
  auto f = silent.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, 9);
  EXPECT_TRUE(silent.tcp().closed_by_peer());  // no pong: closed
  EXPECT_TRUE(eventually([&] { return s.t.counters().ws_ping_timeouts >= 1; }));
  ASSERT_TRUE(answering.text("alive"));
  // A ping may come first.
  for (;;) {
    auto g = answering.next();
    ASSERT_TRUE(g);
    if (g->opcode == 9) continue;
    EXPECT_EQ(g->payload, "alive");
    break;
  }
  EXPECT_GE(s.t.counters().ws_pings, 3u);
}

TEST(WsFrames, ClientVanishingMidFrameLeaksNothing) {
  EchoServer s;
  for (int i = 0; i < 20; ++i) {
    WsClient c = s.open();
    // A fragment, then half of a large frame, then the client is gone (FIN or RST).
    ASSERT_TRUE(c.send_raw(ws_frame(0x02, std::string(1000, 'a'))));
    const std::string big = ws_frame(0x80, std::string(50000, 'b'));
    ASSERT_TRUE(c.send_raw(big.substr(0, 20000)));
    if (i % 2 == 0) c.tcp().reset();
  }
  EXPECT_TRUE(eventually([&] { return s.t.counters().ws_open == 0; }));
  EXPECT_TRUE(eventually([&] { return s.seen.closes.load() == 20; }));
  EXPECT_EQ(s.seen.last_code.load(), 1006u);
}

TEST(WsFrames, CompressedMessagesBothWays) {
  EchoServer s;
  WsClient c = s.open("Sec-WebSocket-Extensions: permessage-deflate\r\n");
  const std::string text(5000, 'z');
  ASSERT_TRUE(c.send(0xC1, deflate_message(text)));
  auto f = c.next();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->rsv1);  // at least min_size (64): compressed back
  EXPECT_EQ(inflate_message(f->payload), text);
  // Fragmented compressed message: RSV1 on the first frame only.
  const std::string z = deflate_message("fragmented and compressed");
  ASSERT_TRUE(c.send_raw(ws_frame(0x41, z.substr(0, 5)) + ws_frame(0x80, z.substr(5))));
  EXPECT_EQ(c.message(), "fragmented and compressed");  // under min_size: sent plain
  // A decompression bomb: 64 KiB limit, 10 MB of zeros in a few KiB.
  ASSERT_TRUE(c.send(0xC2, deflate_message(std::string(10'000'000, '\0'))));
  EXPECT_TRUE(c.closed_with(1009));
  // Corrupt compressed data.
  WsClient d = s.open("Sec-WebSocket-Extensions: permessage-deflate\r\n");
  ASSERT_TRUE(d.send(0xC1, std::string("\xff\xff\xff\xff garbage", 12)));
  EXPECT_TRUE(d.closed_with(1007));
}

TEST(WsFrames, StoppingTheServerSendsGoingAway) {
  EchoServer s;
  WsClient c = s.open();
  ASSERT_TRUE(c.text("hello"));
  ASSERT_EQ(c.message(), "hello");
  s.t.begin_stop();
  auto f = c.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, 8);
  EXPECT_EQ(f->code(), 1001u);
  ASSERT_TRUE(c.send(kFinClose, close_payload(1001)));
  EXPECT_TRUE(c.tcp().closed_by_peer());
  s.t.join();
  EXPECT_EQ(s.seen.closes.load(), 1);
  EXPECT_EQ(s.seen.last_code.load(), 1001u);
}

namespace {
// An ordinary actor that holds Refs to WebSocket connections and sends to them.
class Announcer : public ra::Actor {
 public:
  void add(ra::Ref<http::WebSocket> ws) { members_.push_back(ws); }
  void announce(std::string text) {
    for (const auto& m : members_) m.tell(&http::WebSocket::send_text, text);
  }

 private:
  std::vector<ra::Ref<http::WebSocket>> members_;
};
}  // namespace

TEST(WsFrames, OtherActorsAndThreadsMessageAConnectionThroughItsRef) {
  ra::Ref<Announcer> announcer;
  HttpServerThread t([&](http::Server& s) {
    s.ws("/ws", {.open = [&](http::WsConnection<>& ws) { announcer.tell(&Announcer::add, ra::Ref<http::WebSocket>(ws.id())); },
                 .message = [](http::WsConnection<>&, std::string_view, http::WsOpcode) {}});
  });
  // Set on the reactor thread, which reads it in `open` (the test thread reads it after).
  t.call([&] {
    announcer = t.stage().spawn<Announcer>();
    return 0;
  });
  WsClient a(t.port());
  WsClient b(t.port());
  ASSERT_EQ(a.handshake("/ws"), 101);
  ASSERT_EQ(b.handshake("/ws"), 101);
  // From this (non-reactor) thread: through the reactor's invoke queue.
  EXPECT_TRUE(eventually([&] { return t.counters().ws_open == 2; }));
  announcer.tell(&Announcer::announce, std::string("round starts"));
  EXPECT_EQ(a.message(), "round starts");
  EXPECT_EQ(b.message(), "round starts");
}

TEST(WsFrames, MessageStaysValidInOnMessageWhenASendClosesTheConnection) {
  std::atomic<std::size_t> counted{0};
  HttpServerThread t([&](http::Server& s) {
    http::WsOptions o;
    o.max_buffered = 4096;
    s.ws("/ws", {.options = o, .message = [&](http::WsConnection<>& ws, std::string_view m, http::WsOpcode op) {
                   ws.send(m, op);
                   ws.send(m, op);  // past max_buffered: closed with 1013 here
                   counted = static_cast<std::size_t>(std::count(m.begin(), m.end(), 'x'));  // m is still readable
                 }});
  });
  WsClient c(t.port());
  ASSERT_EQ(c.handshake("/ws"), 101);
  // Fragmented, so the message lives in the connection's partial state, not the scratch.
  const std::string half(3000, 'x');
  ASSERT_TRUE(c.send_raw(ws_frame(0x02, half)));
  ASSERT_TRUE(c.send_raw(ws_frame(0x80, half)));
  EXPECT_TRUE(eventually([&] { return counted.load() == 6000; }));
}

TEST(WsFrames, CompressedMessageEndingWithAFinalBlock) {
  EchoServer s;
  WsClient c = s.open("Sec-WebSocket-Extensions: permessage-deflate\r\n");
  auto final_block = [](std::string_view text) {  // BFINAL set (RFC 7692 7.2.3.4)
    z_stream z{};
    deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&z, static_cast<uLong>(text.size())) + 16, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    return out;
  };
  ASSERT_TRUE(c.send(0xC1, final_block("ended with a final block")));
  EXPECT_EQ(c.message(), "ended with a final block");
  ASSERT_TRUE(c.send(0xC1, deflate_message("and the next one")));  // a new stream after it
  EXPECT_EQ(c.message(), "and the next one");
  ASSERT_TRUE(c.send(0xC1, final_block("x") + "trailing"));  // bytes after the final block
  EXPECT_TRUE(c.closed_with(1007));
}

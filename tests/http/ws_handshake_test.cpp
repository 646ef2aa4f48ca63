// The WebSocket opening handshake over real sockets: what is accepted, what is refused with
// which status, middleware and upgrade hooks, subprotocols, permessage-deflate answers, and
// the bytes a client sends right after its handshake.
#include <gtest/gtest.h>

#include <string>

#include "ws_test_support.hpp"

using namespace ringactor::test;

namespace {

struct Player {
  std::string name;
  std::string room;
};

void routes(http::Server& s) {
  s.before([](http::Request& req, http::Response& res) {
    if (req.header("X-Deny")) res.status(401).text("401 Unauthorized\n");
  });
  http::WsOptions o;
  o.deflate.enabled = true;
  s.ws("/ws", {.options = o, .message = [](http::WsConnection<>& ws, std::string_view m, http::WsOpcode op) {
                 ws.send(m, op);
               }});
  // Answers every message with "<name>@<room>/<protocol>".
  s.ws<Player>("/ws/game/:room",
               {.upgrade =
                    [](http::Request& req, http::WsUpgrade& up, Player& p) {
                      if (req.query_param("token").value_or("") != "ok") {
                        up.refuse(403, "bad token\n");
                        return;
                      }
                      for (std::string_view offered : up.protocols()) {
                        if (offered == "game.v2") up.protocol(offered);
                      }
                      up.header("X-Game", "arena");
                      p.name = req.query_param("name").value_or("anon");
                      p.room = std::string(req.param("room"));
                    },
                .message = [](http::WsConnection<Player>& ws, std::string_view, http::WsOpcode) {
                  ws.send_text(ws.data().name + "@" + ws.data().room + "/" + std::string(ws.protocol()));
                }});
  s.get("/plain", [](http::Request&, http::Response& res) { res.text("plain\n"); });
}

std::string request(std::uint16_t port, const std::string& head) {
  Client c(port);
  c.send_all(head);
  std::string out;
  for (;;) {
    const std::string b = c.recv_exact(1);
    if (b.empty()) break;
    out += b;
    if (out.find("\r\n\r\n") != std::string::npos) break;
  }
  return out;
}

std::string upgrade_head(std::string_view path, std::string_view lines) {
  return cat("GET ", path, " HTTP/1.1\r\nHost: t\r\n", lines, "\r\n");
}

constexpr std::string_view kGood =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

}  // namespace

TEST(WsHandshake, AcceptKeyFromTheRfcExample) {
  HttpServerThread t(routes);
  WsClient c(t.port());
  ASSERT_EQ(c.handshake("/ws"), 101) << c.head();
  EXPECT_EQ(c.header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");  // RFC 6455 section 1.3
  EXPECT_EQ(c.header("Upgrade"), "websocket");
  EXPECT_EQ(c.header("Connection"), "Upgrade");
  EXPECT_FALSE(c.header("Sec-WebSocket-Extensions"));  // not offered
  ASSERT_TRUE(c.text("hi"));
  EXPECT_EQ(c.message(), "hi");
}

TEST(WsHandshake, TokensAreCaseInsensitiveListsOverSeveralLines) {
  HttpServerThread t(routes);
  const std::string head = request(
      t.port(), upgrade_head("/ws", "upgrade: WebSocket\r\nconnection: keep-alive\r\nConnection: UPGRADE\r\n"
                                    "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"));
  EXPECT_EQ(head.substr(0, 12), "HTTP/1.1 101") << head;
}

TEST(WsHandshake, RefusalsHaveTheirStatus) {
  HttpServerThread t(routes);
  const std::uint16_t p = t.port();
  // A plain GET on a WebSocket route: 426, naming the protocol.
  std::string h = request(p, upgrade_head("/ws", ""));
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 426") << h;
  EXPECT_NE(h.find("Upgrade: websocket"), std::string::npos);
  // Another upgrade protocol: 426.
  h = request(p, upgrade_head("/ws", "Upgrade: h2c\r\nConnection: Upgrade\r\n"));
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 426") << h;
  // Another version: 426 with Sec-WebSocket-Version: 13.
  h = request(p, upgrade_head("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     "Sec-WebSocket-Version: 8\r\n"));
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 426") << h;
  EXPECT_NE(h.find("Sec-WebSocket-Version: 13"), std::string::npos) << h;
  // No version at all: the same.
  h = request(p, upgrade_head("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 426") << h;
  // Keys that are not base64 of 16 bytes: 400.
  for (const char* key : {"short", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ!=", "dGhlIHNhbXBsZSBub25jZSE=",
                          "AAAAAAAAAAAAAAAAAAAAAAAAAA=="}) {
    h = request(p, upgrade_head("/ws", std::string("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ") + key +
                                           "\r\nSec-WebSocket-Version: 13\r\n"));
    EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 400") << key << ": " << h;
  }
  // Two keys: 400. No key: 400.
  h = request(p, upgrade_head("/ws", std::string(kGood) + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 400") << h;
  h = request(p, upgrade_head("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"));
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 400") << h;
  // Connection without "upgrade": 400.
  h = request(p, upgrade_head("/ws", "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     "Sec-WebSocket-Version: 13\r\n"));
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 400") << h;
  // Middleware refuses first (401); the upgrade hook refuses with its status (403).
  h = request(p, upgrade_head("/ws", std::string(kGood) + "X-Deny: 1\r\n"));
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 401") << h;
  h = request(p, upgrade_head("/ws/game/r1?token=no", kGood));
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 403") << h;
  // A POST to the route: 405 with Allow (the route is a GET route).
  h = request(p, "POST /ws HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 405") << h;
  EXPECT_GE(t.counters().requests, 11u);
  // Plain HTTP on the same server is unaffected.
  h = request(p, "GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(h.substr(0, 12), "HTTP/1.1 200") << h;
}

TEST(WsHandshake, UpgradeHookSetsDataProtocolAndHeaders) {
  HttpServerThread t(routes);
  WsClient c(t.port());
  ASSERT_EQ(c.handshake("/ws/game/r7?token=ok&name=ann", "Sec-WebSocket-Protocol: chat, game.v2\r\n"), 101) << c.head();
  EXPECT_EQ(c.header("Sec-WebSocket-Protocol"), "game.v2");
  EXPECT_EQ(c.header("X-Game"), "arena");
  ASSERT_TRUE(c.text("who"));
  EXPECT_EQ(c.message(), "ann@r7/game.v2");
  WsClient d(t.port());
  ASSERT_EQ(d.handshake("/ws/game/r8?token=ok", "Sec-WebSocket-Protocol: chat\r\n"), 101) << d.head();
  EXPECT_FALSE(d.header("Sec-WebSocket-Protocol"));  // none of ours offered: none chosen
  ASSERT_TRUE(d.text("who"));
  EXPECT_EQ(d.message(), "anon@r8/");
}

TEST(WsHandshake, BytesAfterTheHandshakeAreKept) {
  HttpServerThread t(routes);
  WsClient c(t.port());
  // Two frames in the same write as the handshake, the second split from its header.
  const std::string f1 = ws_frame(kFinText, "first");
  const std::string f2 = ws_frame(kFinBinary, std::string(3000, 'b'));
  ASSERT_EQ(c.handshake("/ws", {}, f1 + f2.substr(0, 3)), 101);
  ASSERT_TRUE(c.send_raw(f2.substr(3)));
  EXPECT_EQ(c.message(), "first");
  EXPECT_EQ(c.message(), std::string(3000, 'b'));
}

TEST(WsHandshake, PipelinedRequestsBeforeTheUpgradeAreAnsweredFirst) {
  HttpServerThread t(routes);
  WsClient c(t.port());
  const std::string before = "GET /plain HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(c.send_raw(before));
  ASSERT_EQ(c.read_head(), 200);
  EXPECT_EQ(c.tcp().recv_exact(6), "plain\n");
  ASSERT_EQ(c.handshake("/ws", {}, ws_frame(kFinText, "after")), 200);  // the second /plain
  EXPECT_EQ(c.tcp().recv_exact(6), "plain\n");
  ASSERT_EQ(c.read_head(), 101);
  EXPECT_EQ(c.message(), "after");
  EXPECT_TRUE(eventually([&] { return t.counters().ws_upgrades == 1; }));
}

TEST(WsHandshake, DeflateOffersGetTheRightAnswers) {
  HttpServerThread t(routes);
  struct Case {
    const char* offer;
    const char* answer;  // nullptr: declined
  };
  const Case cases[] = {
      {"permessage-deflate", "permessage-deflate; server_no_context_takeover"},
      {"permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover; client_max_window_bits=15"},
      {"permessage-deflate; client_max_window_bits=10", "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"},
      {"permessage-deflate; server_max_window_bits=10",
       "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"},
      {"permessage-deflate; server_max_window_bits=15",
       "permessage-deflate; server_no_context_takeover; server_max_window_bits=15"},  // offered: echoed
      {"permessage-deflate; client_no_context_takeover",
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
      {"permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"},
      // Declined: unknown or repeated parameters, values out of range or where none belongs,
      // an 8-bit server window (zlib cannot make one), another extension.
      {"permessage-deflate; foo", nullptr},
      {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", nullptr},
      {"permessage-deflate; server_max_window_bits=16", nullptr},
      {"permessage-deflate; server_max_window_bits", nullptr},
      {"permessage-deflate; server_max_window_bits=8", nullptr},
      {"permessage-deflate; client_no_context_takeover=1", nullptr},
      {"x-webkit-deflate-frame", nullptr},
      // The first acceptable offer wins.
      {"permessage-deflate; foo, permessage-deflate; server_max_window_bits=12",
       "permessage-deflate; server_no_context_takeover; server_max_window_bits=12"},
  };
  for (const Case& k : cases) {
    WsClient c(t.port());
    ASSERT_EQ(c.handshake("/ws", std::string("Sec-WebSocket-Extensions: ") + k.offer + "\r\n"), 101) << k.offer;
    const auto got = c.header("Sec-WebSocket-Extensions");
    if (k.answer == nullptr) {
      EXPECT_FALSE(got) << k.offer << " -> " << got.value_or("");
      // Without the extension, RSV1 is a protocol error.
      ASSERT_TRUE(c.send(0xC1, deflate_message("x")));
      EXPECT_TRUE(c.closed_with(1002)) << k.offer;
    } else {
      EXPECT_EQ(got, k.answer) << k.offer;
      ASSERT_TRUE(c.send(0xC1, deflate_message("compressed hello")));  // FIN + RSV1 + text
      EXPECT_EQ(c.message(), "compressed hello") << k.offer;
    }
  }
}

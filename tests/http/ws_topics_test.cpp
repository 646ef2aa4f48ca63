// Topics over real sockets: fan-out in order to every member, the sender included or not,
// members leaving when they close, compressed frames shared, and each slow-consumer policy
// with a client that stops reading.
#include <gtest/gtest.h>

#include <string>

#include "ws_test_support.hpp"

using namespace ringactor::test;

namespace {

struct Member {
  std::string topic;
  bool quiet = false;  // publishes without receiving its own messages
};

// /room/:name[?quiet=1]: every message goes to the room's topic; "!leave" unsubscribes;
// "!big:<n>" publishes n bytes.
void rooms(http::Server& s) {
  s.topic("latest", {.policy = http::SlowConsumer::kKeepLatest, .behind_bytes = 16 * 1024});
  s.topic("drop", {.policy = http::SlowConsumer::kDrop, .behind_bytes = 16 * 1024});
  s.topic("close", {.policy = http::SlowConsumer::kClose, .behind_bytes = 16 * 1024});
  http::WsOptions o;
  o.deflate.enabled = true;
  o.max_buffered = 512 * 1024;
  s.ws<Member>("/room/:name",
               {.options = o,
                .upgrade =
                    [](http::Request& req, http::WsUpgrade&, Member& m) {
                      m.topic = std::string(req.param("name"));
                      m.quiet = req.query_param("quiet").has_value();
                    },
                .open = [](http::WsConnection<Member>& ws) { ws.subscribe(ws.data().topic); },
                .message = [](http::WsConnection<Member>& ws, std::string_view m, http::WsOpcode op) {
                  if (m == "!leave") {
                    ws.unsubscribe(ws.data().topic);
                    ws.send_text("left");
                    return;
                  }
                  if (m.substr(0, 5) == "!big:") {
                    ws.publish(ws.data().topic, std::string(std::stoul(std::string(m.substr(5))), 'B'),
                               http::WsOpcode::kBinary, !ws.data().quiet);
                    return;
                  }
                  ws.publish(ws.data().topic, m, op, !ws.data().quiet);
                }});
}

WsClient join(std::uint16_t port, std::string_view room, std::string_view extra = {}, int rcvbuf = 0) {
  WsClient c(port, std::chrono::seconds(10), rcvbuf);
  EXPECT_EQ(c.handshake(cat("/room/", room), extra), 101);
  return c;
}

}  // namespace

TEST(WsTopics, EveryMemberGetsEachSendersMessagesInOrder) {
  HttpServerThread t(rooms);
  std::vector<WsClient> members;
  for (int i = 0; i < 5; ++i) members.push_back(join(t.port(), "r1"));
  WsClient other = join(t.port(), "r2");
  EXPECT_TRUE(eventually([&] { return t.call([&] { return t.server().topic_counters("r1").members; }) == 5; }));
  // Two senders interleave; each one's messages arrive in order at every member.
  for (int k = 0; k < 50; ++k) {
    ASSERT_TRUE(members[0].text(cat("a", std::to_string(k))));
    ASSERT_TRUE(members[1].text(cat("b", std::to_string(k))));
  }
  for (WsClient& m : members) {
    int next_a = 0, next_b = 0;
    while (next_a < 50 || next_b < 50) {
      const std::string msg = m.message();
      ASSERT_TRUE(msg[0] == 'a' || msg[0] == 'b') << msg;
      if (msg[0] == 'a') {
        ASSERT_EQ(msg, cat("a", std::to_string(next_a++)));
      } else {
        ASSERT_EQ(msg, cat("b", std::to_string(next_b++)));
      }
    }
  }
  // The other room heard nothing.
  ASSERT_TRUE(other.text("only r2"));
  EXPECT_EQ(other.message(), "only r2");
  const http::TopicCounters c = t.call([&] { return t.server().topic_counters("r1"); });
  EXPECT_EQ(c.published, 100u);
  EXPECT_EQ(c.delivered, 500u);
}

TEST(WsTopics, SenderExcludedWhenAskedAndMembersLeaveOnClose) {
  HttpServerThread t(rooms);
  WsClient a = join(t.port(), "r?quiet=1");
  WsClient b = join(t.port(), "r");
  {
    WsClient gone = join(t.port(), "r");
  }  // closed: it leaves the topic
  EXPECT_TRUE(eventually([&] { return t.call([&] { return t.server().topic_counters("r").members; }) == 2; }));
  ASSERT_TRUE(a.text("from a"));
  EXPECT_EQ(b.message(), "from a");
  ASSERT_TRUE(b.text("from b"));
  EXPECT_EQ(a.message(), "from b");  // a did not get its own "from a"
  EXPECT_EQ(b.message(), "from b");
  ASSERT_TRUE(b.text("!leave"));
  EXPECT_EQ(b.message(), "left");
  ASSERT_TRUE(a.text("after leave"));
  ASSERT_TRUE(b.text("!leave"));  // idempotent; b hears no more of the room
  EXPECT_EQ(b.message(), "left");
  // An unconfigured topic with no members is forgotten.
  {
    WsClient solo = join(t.port(), "ephemeral");
    ASSERT_TRUE(solo.text("x"));
    EXPECT_EQ(solo.message(), "x");
  }
  EXPECT_TRUE(eventually([&] { return t.call([&] { return t.server().topic_counters("ephemeral").published; }) == 0; }));
}

TEST(WsTopics, CompressedFrameIsSharedByDeflateMembers) {
  HttpServerThread t(rooms);
  WsClient plain = join(t.port(), "z");
  WsClient z1 = join(t.port(), "z", "Sec-WebSocket-Extensions: permessage-deflate\r\n");
  WsClient z2 = join(t.port(), "z", "Sec-WebSocket-Extensions: permessage-deflate\r\n");
  const std::string msg(4000, 'q');
  ASSERT_TRUE(plain.text(msg));
  auto p = plain.next();
  auto f1 = z1.next();
  auto f2 = z2.next();
  ASSERT_TRUE(p && f1 && f2);
  EXPECT_FALSE(p->rsv1);
  EXPECT_EQ(p->payload, msg);
  EXPECT_TRUE(f1->rsv1);
  EXPECT_EQ(f1->payload, f2->payload);  // the same compressed bytes
  EXPECT_LT(f1->payload.size(), 100u);
  EXPECT_EQ(inflate_message(f1->payload), msg);
}

namespace {
// Publishes 64 KiB messages (numbered in their first bytes) to `topic` while `slow` (a client
// with a small receive buffer) reads nothing, then lets it read. Returns the numbers the
// slow member received, in order.
std::vector<int> flood(HttpServerThread& t, const std::string& topic, int messages, bool& slow_closed) {
  WsClient pub = join(t.port(), cat(topic, "?quiet=1"));
  WsClient slow = join(t.port(), topic, {}, 4096);
  EXPECT_TRUE(eventually([&] { return t.call([&] { return t.server().topic_counters(topic).members; }) == 2; }));
  for (int i = 0; i < messages; ++i) {
    std::string m = std::to_string(i) + ":";
    m.resize(64 * 1024, 'x');
    EXPECT_TRUE(pub.binary(m));
  }
  // Wait until the server has handled them all.
  EXPECT_TRUE(eventually([&] { return t.call([&] { return t.server().topic_counters(topic).published; }) == static_cast<std::uint64_t>(messages); }));
  std::vector<int> got;
  slow_closed = false;
  slow.tcp().set_timeout(std::chrono::milliseconds(1500));
  for (;;) {
    auto f = slow.next();
    if (!f) break;
    if (f->opcode == 8) {
      slow_closed = true;
      EXPECT_EQ(f->code(), 1013u);
      break;
    }
    got.push_back(std::stoi(f->payload.substr(0, f->payload.find(':'))));
  }
  return got;
}
}  // namespace

TEST(WsTopics, KeepLatestHoldsOnlyTheNewestForAMemberBehind) {
  HttpServerThread t(rooms);
  bool closed = false;
  const std::vector<int> got = flood(t, "latest", 60, closed);
  EXPECT_FALSE(closed);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), 59) << "the newest message always arrives";
  EXPECT_LT(got.size(), 60u) << "messages in between were replaced";
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
  const http::TopicCounters c = t.call([&] { return t.server().topic_counters("latest"); });
  EXPECT_GT(c.dropped, 0u);
  EXPECT_EQ(c.closed, 0u);
}

TEST(WsTopics, DropSkipsMessagesForAMemberBehind) {
  HttpServerThread t(rooms);
  bool closed = false;
  const std::vector<int> got = flood(t, "drop", 60, closed);
  EXPECT_FALSE(closed);
  EXPECT_LT(got.size(), 60u);
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
  const http::TopicCounters c = t.call([&] { return t.server().topic_counters("drop"); });
  EXPECT_EQ(c.dropped + got.size(), 60u);
}

TEST(WsTopics, CloseEndsAMemberBehindWith1013) {
  HttpServerThread t(rooms);
  bool closed = false;
  flood(t, "close", 60, closed);
  EXPECT_TRUE(closed);
  const http::TopicCounters c = t.call([&] { return t.server().topic_counters("close"); });
  EXPECT_EQ(c.closed, 1u);
  EXPECT_GE(t.counters().ws_slow_closed, 1u);
}

TEST(WsTopics, BufferQueuesUpToMaxBufferedThenCloses) {
  HttpServerThread t(rooms);
  bool closed = false;
  const std::vector<int> got = flood(t, "buffered", 60, closed);  // 3.75 MiB against a 512 KiB cap
  EXPECT_TRUE(closed);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], static_cast<int>(i));  // nothing skipped before the close
}

TEST(WsTopics, AForgottenTopicKeepsItsMembersThenDisappears) {
  HttpServerThread t(rooms);
  auto members = [&] { return t.call([&] { return t.server().topic_counters("latest").members; }); };
  {
    WsClient a = join(t.port(), "latest");
    ASSERT_TRUE(eventually([&] { return members() == 1u; }));
    EXPECT_TRUE(t.call([&] { return t.server().forget_topic("latest"); }));
    EXPECT_FALSE(t.call([&] { return t.server().forget_topic("no-such-topic"); }));
    ASSERT_TRUE(a.text("still here"));
    EXPECT_EQ(a.message(), "still here") << "members stay subscribed";
  }
  // With no members and no configuration the topic is gone: its counters read zero.
  EXPECT_TRUE(eventually([&] { return t.call([&] { return t.server().topic_counters("latest").published; }) == 0u; }));
  EXPECT_EQ(members(), 0u);
}

// Covers cluster::Cluster against a real nats-server started for the test: names announced
// and resolved across processes (here: several Clusters in one test process, each with its
// own NATS connection and reactor, which is what a process is to NATS), remote tell in
// order, remote ask with every outcome (value, the actor's exception, no route, a type the
// actor does not handle, timeout), names dropped when their actor stops or their process
// leaves, malformed messages counted and dropped while everything else goes on, and setup
// errors (bad options, an unreachable server, duplicates).
#include <gtest/gtest.h>

#include <nats/nats.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/ref.hpp>
#include <ringactor/cluster/cluster.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "messages.hpp"
#include "envelope.hpp"
#include "nats_support.hpp"
#include "test_support.hpp"

namespace ra = ringactor::actors;
namespace rt = ringactor::runtime;
namespace cl = ringactor::cluster;
using namespace std::chrono_literals;

// ---- messages and their codecs ----------------------------------------------------------------

struct Chat {
  std::string from;
  std::string text;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Chat, from, text)
template <>
struct ringactor::cluster::Codec<Chat> : ringactor::cluster::JsonCodec<Chat> {
  static constexpr std::string_view name = "test.Chat";
};

struct Explode {
  std::uint8_t unused;
};
template <>
struct ringactor::cluster::Codec<Explode> : ringactor::cluster::TrivialCodec<Explode> {
  static constexpr std::string_view name = "test.Explode";
};

struct Unknown {  // has a codec, but no actor handles it
  std::uint8_t unused;
};
template <>
struct ringactor::cluster::Codec<Unknown> : ringactor::cluster::TrivialCodec<Unknown> {
  static constexpr std::string_view name = "test.Unknown";
};

namespace {

// What the room saw, read by the test thread.
struct Seen {
  std::mutex m;
  std::vector<std::uint32_t> moves;
  std::vector<std::string> chats;
  std::size_t count() {
    const std::lock_guard lock(m);
    return moves.size();
  }
};

class Room : public ra::Actor {
 public:
  explicit Room(Seen& seen) : seen_(seen) {}
  void move(Move m) {
    const std::lock_guard lock(seen_.m);
    seen_.moves.push_back(m.seq);
    score_ += m.seq;
  }
  void chat(const Chat& c) {
    const std::lock_guard lock(seen_.m);
    seen_.chats.push_back(c.from + ": " + c.text);
  }
  std::uint32_t score(GetScore q) { return score_ + q.bonus; }
  std::uint32_t explode(Explode) { throw std::runtime_error("boom"); }

 private:
  Seen& seen_;
  std::uint32_t score_ = 0;
};

// One "process": a reactor on its own thread, a stage, and a Cluster.
struct Process {
  explicit Process(const std::string& url, cl::ClusterOptions extra = {}) : stage(reactor) {
    extra.url = url;
    if (extra.prefix == "ringactor") extra.prefix = "test";
    cluster = std::make_unique<cl::Cluster>(stage, extra);
    cluster->handle(&Room::move);
    cluster->handle(&Room::chat);
    cluster->handle(&Room::score);
    cluster->handle(&Room::explode);
  }
  void run() {
    thread = std::thread([this] { reactor.run(); });
  }
  ~Process() {
    if (thread.joinable()) {
      reactor.post([this] { reactor.stop(); });
      thread.join();
    }
    cluster.reset();
  }
  rt::Reactor reactor{rt::ReactorOptions{.idle_timeout = 0ms, .write_timeout = 0ms}};
  ra::Stage stage;
  std::unique_ptr<cl::Cluster> cluster;
  std::thread thread;
};

// An actor that makes asks from inside a handler (where asks belong) and keeps the outcomes.
class Asker : public ra::Actor {
 public:
  struct Outcome {
    ra::AskError error = ra::AskError::kNone;
    std::uint32_t value = 0;
    std::string message;
  };
  Asker(cl::Cluster& cluster, std::mutex& m, std::vector<Outcome>& out) : cluster_(cluster), m_(m), out_(out) {}
  template <typename M>
  void ask(std::string name, M msg, std::chrono::milliseconds timeout) {
    cluster_.named<Room>(name).ask<std::uint32_t>(msg, [this](ra::Reply<std::uint32_t> r) {
      const std::lock_guard lock(m_);
      out_.push_back({r.error(), r ? *r : 0, r.message()});
    }, timeout);
  }
  void ask_score(std::string name, std::uint32_t bonus, std::chrono::milliseconds timeout) {
    ask(std::move(name), GetScore{bonus}, timeout);
  }
  void ask_explode(std::string name) { ask(std::move(name), Explode{0}, 0ms); }
  void ask_unknown(std::string name) { ask(std::move(name), Unknown{0}, 0ms); }

 private:
  cl::Cluster& cluster_;
  std::mutex& m_;
  std::vector<Outcome>& out_;
};

template <typename Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit = 20s) {
  return ringactor::test::eventually(pred, limit);
}

}  // namespace

TEST(Cluster, TellsAndAsksReachANamedActorInAnotherProcess) {
  ringactor::test::NatsServer nats;
  Seen seen;
  Process a(nats.url());
  Process b(nats.url());
  const auto room = a.stage.spawn<Room>(seen);
  a.cluster->register_name("room/alpha", room);
  std::mutex m;
  std::vector<Asker::Outcome> outcomes;
  const auto asker = b.stage.spawn<Asker>(*b.cluster, m, outcomes);
  a.run();
  b.run();
  ASSERT_TRUE(wait_for([&] { return b.cluster->where("room/alpha") == cl::Cluster::Where::kElsewhere; }));
  EXPECT_EQ(a.cluster->where("room/alpha"), cl::Cluster::Where::kHere);
  EXPECT_EQ(b.cluster->where("room/beta"), cl::Cluster::Where::kNowhere);

  // 1,000 tells from one thread arrive in order; a JSON message among them.
  auto named = b.cluster->named<Room>("room/alpha");
  for (std::uint32_t i = 1; i <= 1000; ++i) named.tell(Move{i, 0.5f, 0.25f});
  named.tell(Chat{"bob", "hello \"there\""});
  ASSERT_TRUE(wait_for([&] { return seen.count() == 1000; })) << seen.count();
  {
    const std::lock_guard lock(seen.m);
    for (std::uint32_t i = 0; i < 1000; ++i) ASSERT_EQ(seen.moves[i], i + 1) << "in order";
  }
  ASSERT_TRUE(wait_for([&] {
    const std::lock_guard lock(seen.m);
    return seen.chats.size() == 1;
  }));
  EXPECT_EQ(seen.chats[0], "bob: hello \"there\"");
  EXPECT_EQ(b.cluster->counters().tells_out, 1001u);
  EXPECT_EQ(a.cluster->counters().tells_in, 1001u);

  // Asks: a value, the actor's exception, a type it has no handler for, a name nobody holds.
  asker.tell(&Asker::ask_score, std::string("room/alpha"), 7u, 5000ms);
  // (The exception stops the room, and its name goes: the unhandled type is asked before.)
  asker.tell(&Asker::ask_unknown, std::string("room/alpha"));
  asker.tell(&Asker::ask_explode, std::string("room/alpha"));
  asker.tell(&Asker::ask_score, std::string("room/nobody"), 0u, 5000ms);
  ASSERT_TRUE(wait_for([&] {
    const std::lock_guard lock(m);
    return outcomes.size() == 4;
  }));
  const std::lock_guard lock(m);
  std::uint32_t sum = 0;
  for (std::uint32_t i = 1; i <= 1000; ++i) sum += i;
  // The answers may come back in any order; find each by its error.
  auto find = [&](ra::AskError e) -> const Asker::Outcome* {
    for (const auto& o : outcomes) {
      if (o.error == e) return &o;
    }
    return nullptr;
  };
  const auto* value = find(ra::AskError::kNone);
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(value->value, sum + 7);
  const auto* thrown = find(ra::AskError::kException);
  ASSERT_NE(thrown, nullptr);
  EXPECT_NE(thrown->message.find("boom"), std::string::npos) << thrown->message;
  int no_route = 0;
  for (const auto& o : outcomes) no_route += o.error == ra::AskError::kNoRoute;
  EXPECT_EQ(no_route, 2) << "an unhandled type and an unknown name";
  EXPECT_EQ(a.cluster->counters().unhandled, 1u);
  EXPECT_GE(b.cluster->counters().no_route, 1u);
}

TEST(Cluster, AnAskWithoutAnAnswerTimesOut) {
  ringactor::test::NatsServer nats;
  Seen seen;
  Process a(nats.url());  // never runs: its room never answers
  Process b(nats.url());
  a.cluster->register_name("room/stuck", a.stage.spawn<Room>(seen));
  std::mutex m;
  std::vector<Asker::Outcome> outcomes;
  const auto asker = b.stage.spawn<Asker>(*b.cluster, m, outcomes);
  b.run();
  ASSERT_TRUE(wait_for([&] { return b.cluster->where("room/stuck") == cl::Cluster::Where::kElsewhere; }));
  const auto t0 = std::chrono::steady_clock::now();
  asker.tell(&Asker::ask_score, std::string("room/stuck"), 0u, 300ms);
  ASSERT_TRUE(wait_for([&] {
    const std::lock_guard lock(m);
    return outcomes.size() == 1;
  }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  EXPECT_EQ(outcomes[0].error, ra::AskError::kTimeout);
  EXPECT_EQ(b.cluster->counters().ask_timeouts, 1u);
}

TEST(Cluster, NamesGoWithTheirActorAndTheirProcess) {
  ringactor::test::NatsServer nats;
  Seen seen;
  Process b(nats.url());
  b.run();
  {
    Process a(nats.url());
    const auto first = a.stage.spawn<Room>(seen);
    const auto second = a.stage.spawn<Room>(seen);
    a.cluster->register_name("room/1", first);
    a.cluster->register_name("room/2", second);
    a.cluster->register_name("room/3", second);
    EXPECT_THROW(a.cluster->register_name("room/1", second), std::invalid_argument);
    a.run();
    ASSERT_TRUE(wait_for([&] { return b.cluster->counters().names_elsewhere == 3; }));
    // A process that joins later learns the names through its hello.
    Process c(nats.url());
    c.run();
    ASSERT_TRUE(wait_for([&] { return c.cluster->counters().names_elsewhere == 3; }));
    // The actor stops: its name goes, here and there.
    first.stop();
    ASSERT_TRUE(wait_for([&] { return b.cluster->where("room/1") == cl::Cluster::Where::kNowhere; }));
    EXPECT_EQ(a.cluster->where("room/1"), cl::Cluster::Where::kNowhere);
    EXPECT_TRUE(a.cluster->unregister_name("room/2"));
    EXPECT_FALSE(a.cluster->unregister_name("room/2"));
    ASSERT_TRUE(wait_for([&] { return b.cluster->where("room/2") == cl::Cluster::Where::kNowhere; }));
    EXPECT_EQ(b.cluster->where("room/3"), cl::Cluster::Where::kElsewhere);
    // A name held here is told without NATS, through the same codec.
    a.cluster->named<Room>("room/3").tell(Move{42, 0, 0});
    ASSERT_TRUE(wait_for([&] { return seen.count() == 1; }));
    EXPECT_EQ(a.cluster->counters().local, 1u);
  }
  // Process a said goodbye: its last name is gone at once.
  ASSERT_TRUE(wait_for([&] { return b.cluster->where("room/3") == cl::Cluster::Where::kNowhere; }));
  EXPECT_EQ(b.cluster->counters().names_elsewhere, 0u);
}

TEST(Cluster, OneClusterServesTheActorsOfSeveralReactors) {
  ringactor::test::NatsServer nats;
  Seen seen;
  // One "process" with two reactors (as a node::Node has), each with its stage.
  rt::Reactor r0{rt::ReactorOptions{.idle_timeout = 0ms, .write_timeout = 0ms}};
  rt::Reactor r1{rt::ReactorOptions{.idle_timeout = 0ms, .write_timeout = 0ms}};
  ra::Stage s0(r0), s1(r1);
  std::array<ra::Stage*, 2> stages{&s0, &s1};
  auto two = std::make_unique<cl::Cluster>(stages, cl::ClusterOptions{.url = nats.url(), .prefix = "test"});
  two->handle(&Room::move);
  two->handle(&Room::score);
  const auto on1 = s1.spawn<Room>(seen);
  two->register_name("room/on1", on1);
  two->register_name("room/on0", s0.spawn<Room>(seen));
  std::thread t0([&] { r0.run(); }), t1([&] { r1.run(); });
  Process b(nats.url());
  b.run();
  ASSERT_TRUE(wait_for([&] { return b.cluster->where("room/on1") == cl::Cluster::Where::kElsewhere; }));
  for (std::uint32_t i = 1; i <= 100; ++i) b.cluster->named<Room>("room/on1").tell(Move{i, 0, 0});
  ASSERT_TRUE(wait_for([&] { return seen.count() == 100; }));
  {
    const std::lock_guard lock(seen.m);
    for (std::uint32_t i = 0; i < 100; ++i) ASSERT_EQ(seen.moves[i], i + 1);
  }
  // The actor on reactor 1 stops: reactor 1's keeper drops its name; reactor 0's stays.
  on1.stop();
  ASSERT_TRUE(wait_for([&] { return b.cluster->where("room/on1") == cl::Cluster::Where::kNowhere; }));
  EXPECT_EQ(b.cluster->where("room/on0"), cl::Cluster::Where::kElsewhere);
  EXPECT_EQ(two->where("room/on1"), cl::Cluster::Where::kNowhere);
  r0.post([&] { r0.stop(); });
  r1.post([&] { r1.stop(); });
  t0.join();
  t1.join();
  two.reset();
  ASSERT_TRUE(wait_for([&] { return b.cluster->where("room/on0") == cl::Cluster::Where::kNowhere; }));
}

TEST(Cluster, TopicsReachSubscribersOfOtherProcessesAndGapsAfterTheFirstAreCounted) {
  ringactor::test::NatsServer nats;
  Process a(nats.url()), b(nats.url());
  std::mutex m;
  std::vector<std::string> got;
  b.cluster->subscribe("news", b.stage, [&](std::string_view msg) {
    EXPECT_TRUE(b.reactor.in_reactor_thread());
    const std::lock_guard lock(m);
    got.emplace_back(msg);
  });
  a.run();
  b.run();
  ASSERT_TRUE(wait_for([&] { return a.cluster->counters().processes == 1 && b.cluster->counters().processes == 1; }));
  auto count = [&] {
    const std::lock_guard lock(m);
    return got.size();
  };
  for (int i = 0; i < 3; ++i) a.cluster->publish("news", std::string("hello ").append(std::to_string(i)));
  ASSERT_TRUE(wait_for([&] { return count() == 3; }));
  {
    const std::lock_guard lock(m);
    EXPECT_EQ(got[0], "hello 0");
    EXPECT_EQ(got[2], "hello 2");
  }
  EXPECT_EQ(b.cluster->counters().topic_in, 3u);
  EXPECT_EQ(a.cluster->counters().topic_in, 0u) << "a publisher does not hear itself";
  // A sender first heard at number 57 (a topic joined late): that is its baseline; a gap
  // after it (59 missing) is one lost message.
  natsConnection* raw = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&raw, nats.url().c_str()), NATS_OK);
  namespace d = ringactor::cluster::detail;
  for (const std::uint64_t seq : {57u, 58u, 60u}) {
    std::string bytes;
    d::write(bytes, d::Kind::kTopic, 0xABCDEFu, 0, seq, {}, "news", "late");
    ASSERT_EQ(natsConnection_Publish(raw, "test.t.news", bytes.data(), static_cast<int>(bytes.size())), NATS_OK);
  }
  natsConnection_Flush(raw);
  natsConnection_Destroy(raw);
  ASSERT_TRUE(wait_for([&] { return count() == 6; }));
  EXPECT_EQ(b.cluster->counters().lost, 1u);
  EXPECT_THROW(a.cluster->publish("bad topic", "x"), std::invalid_argument);
  EXPECT_THROW(a.cluster->publish("news.*", "x"), std::invalid_argument);
  EXPECT_THROW(b.cluster->subscribe("", b.stage, [](std::string_view) {}), std::invalid_argument);
  EXPECT_TRUE(b.cluster->unsubscribe("news"));
  EXPECT_FALSE(b.cluster->unsubscribe("news"));
}

TEST(Cluster, MalformedMessagesAreCountedAndDropped) {
  ringactor::test::NatsServer nats;
  Seen seen;
  Process a(nats.url());
  a.cluster->register_name("room/alpha", a.stage.spawn<Room>(seen));
  a.run();
  // A raw NATS client writes to a's own subject.
  natsConnection* raw = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&raw, nats.url().c_str()), NATS_OK);
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(a.cluster->id()));
  const std::string subject = std::string("test.p.") + id;
  auto send = [&](const std::string& bytes) {
    ASSERT_EQ(natsConnection_Publish(raw, subject.c_str(), bytes.data(), static_cast<int>(bytes.size())), NATS_OK);
  };
  namespace d = ringactor::cluster::detail;
  send("not an envelope at all");                                    // bad magic
  send(std::string(40, '\0'));                                      // too short / bad magic
  std::string good;
  d::write(good, d::Kind::kTell, 99, 0, 0, "test.Move", "room/alpha", std::string(sizeof(Move), '\0'));
  std::string cut = good.substr(0, good.size() - 1);                // payload length past the end
  send(cut);
  std::string bad_payload;
  d::write(bad_payload, d::Kind::kTell, 99, 0, 0, "test.Move", "room/alpha", "abc");  // 3 bytes: not a Move
  send(bad_payload);
  std::string bad_json;
  d::write(bad_json, d::Kind::kTell, 99, 0, 0, "test.Chat", "room/alpha", "{\"from\": 3");
  send(bad_json);
  std::string wrong_type;
  d::write(wrong_type, d::Kind::kTell, 99, 0, 0, "test.Nope", "room/alpha", "");
  send(wrong_type);
  send(good);  // and a good one still goes through
  ASSERT_EQ(natsConnection_Flush(raw), NATS_OK);
  ASSERT_TRUE(wait_for([&] { return seen.count() == 1; }));
  ASSERT_TRUE(wait_for([&] { return a.cluster->counters().malformed == 5; })) << a.cluster->counters().malformed;
  EXPECT_EQ(a.cluster->counters().unhandled, 1u);
  natsConnection_Destroy(raw);
}

TEST(Cluster, SetupErrorsSayWhatIsWrong) {
  rt::Reactor reactor;
  ra::Stage stage(reactor);
  // Nothing listens on this port (bound and closed just now).
  std::uint16_t port = 0;
  {
    ringactor::test::NatsServer nats;
    port = nats.port();
  }
  try {
    cl::Cluster c(stage, {.url = "nats://127.0.0.1:" + std::to_string(port), .connect_timeout = 500ms});
    FAIL() << "connected to nothing";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(port)), std::string::npos) << e.what();
  }
  EXPECT_THROW(cl::Cluster(stage, {.prefix = "bad.>"}), std::invalid_argument);
  EXPECT_THROW(cl::Cluster(stage, {.prefix = ""}), std::invalid_argument);
  EXPECT_THROW(cl::Cluster(stage, {.ask_timeout = 0ms}), std::invalid_argument);

  ringactor::test::NatsServer nats;
  cl::Cluster c(stage, {.url = nats.url(), .prefix = "setup"});
  c.handle(&Room::move);
  EXPECT_THROW(c.handle(&Room::move), std::invalid_argument) << "one handler per (actor type, message type)";
  EXPECT_THROW(c.register_name("", ra::Ref<Room>()), std::invalid_argument);
  rt::Reactor other_reactor;
  ra::Stage other(other_reactor);
  Seen seen;
  EXPECT_THROW(c.register_name("room/x", other.spawn<Room>(seen)), std::invalid_argument) << "not our stage";
}

TEST(ClusterEnvelope, WritesWhatItParsesAndRefusesTheRest) {
  namespace d = ringactor::cluster::detail;
  std::string bytes;
  d::write(bytes, d::Kind::kAsk, 0x1122334455667788ull, 42, 7, "t.Type", "room/alpha", "payload");
  d::Envelope e;
  ASSERT_EQ(d::parse(bytes, e), d::ParseError::kNone);
  EXPECT_EQ(e.kind, d::Kind::kAsk);
  EXPECT_EQ(e.sender, 0x1122334455667788ull);
  EXPECT_EQ(e.correlation, 42u);
  EXPECT_EQ(e.extra, 7u);
  EXPECT_EQ(e.type, "t.Type");
  EXPECT_EQ(e.name, "room/alpha");
  EXPECT_EQ(e.payload, "payload");
  // Every truncation is refused, and so is a trailing byte.
  for (std::size_t n = 0; n < bytes.size(); ++n) EXPECT_NE(d::parse(bytes.substr(0, n), e), d::ParseError::kNone) << n;
  EXPECT_EQ(d::parse(bytes + "x", e), d::ParseError::kPayloadLength);
  std::string bad = bytes;
  bad[1] = 2;
  EXPECT_EQ(d::parse(bad, e), d::ParseError::kVersion);
  bad = bytes;
  bad[2] = 0;
  EXPECT_EQ(d::parse(bad, e), d::ParseError::kKind);
  bad[2] = static_cast<char>(d::kMaxKind + 1);
  EXPECT_EQ(d::parse(bad, e), d::ParseError::kKind);
  EXPECT_THROW(d::write(bytes, d::Kind::kTell, 1, 0, 0, std::string(256, 't'), "n", ""), std::invalid_argument);
  EXPECT_THROW(d::write(bytes, d::Kind::kTell, 1, 0, 0, "t", std::string(1025, 'n'), ""), std::invalid_argument);
  // Name lists.
  std::string names;
  d::append_name(names, "a");
  d::append_name(names, "room/b");
  std::vector<std::string> got;
  EXPECT_TRUE(d::for_each_name(names, [&](std::string_view n) { got.emplace_back(n); }));
  EXPECT_EQ(got, (std::vector<std::string>{"a", "room/b"}));
  EXPECT_FALSE(d::for_each_name(names.substr(0, names.size() - 1), [](std::string_view) {}));
}

// Covers ConnectionActor over real sockets: one actor per connection, echo, an exception in
// on_data closing that connection only, an actor that stops closing its connection after
// flushing, a closed connection stopping its actor, and other actors messaging a
// connection actor.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "actor_test_support.hpp"
#include "test_support.hpp"

using namespace ringactor::test;

namespace {

struct Events {
  std::atomic<int> started{0};
  std::atomic<int> disconnected{0};
  std::atomic<int> stopped{0};
};

// Echoes; "!" throws; "quit" answers "bye" and stops the actor.
class Session : public ra::ConnectionActor {
 public:
  explicit Session(Events* e) : e_(e) {}
  void push(std::string text) { send(text); }

 protected:
  void on_start() override { ++e_->started; }
  std::size_t on_data(std::span<const std::byte> bytes) override {
    const std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (text == "!") throw std::runtime_error("bad client");
    if (text == "quit") {
      send("bye");
      stop();
      return bytes.size();
    }
    send(bytes);
    return bytes.size();
  }
  void on_disconnect(rt::CloseReason, int) override { ++e_->disconnected; }
  void on_stop() override { ++e_->stopped; }

 private:
  Events* e_;
};

struct SessionServer {
  Events events;
  StageThread t{rt::ReactorOptions{}};
  std::uint16_t port = 0;
  std::vector<ra::Ref<Session>> sessions;  // filled by the factory, read on the loop
  SessionServer() {
    port = t.stage().listen({.port = 0}, [this](rt::Connection) { return std::make_unique<Session>(&events); });
    t.start();
  }
};

}  // namespace

TEST(ConnectionActor, EchoesAndStopsWhenTheClientLeaves) {
  SessionServer s;
  {
    Client c(s.port);
    EXPECT_EQ(c.echo_roundtrip("hello actor"), "hello actor");
    EXPECT_EQ(s.events.started.load(), 1);
  }
  EXPECT_TRUE(eventually([&] { return s.events.stopped.load() == 1; }));
  EXPECT_EQ(s.events.disconnected.load(), 1);
  // on_stop runs before the slot is freed and counted: wait for the count too.
  EXPECT_TRUE(eventually([&] { return s.t.stage().counters().live == 0u; }));
}

TEST(ConnectionActor, ExceptionClosesOnlyThatConnection) {
  SessionServer s;
  Client good(s.port);
  Client bad(s.port);
  ASSERT_EQ(good.echo_roundtrip("a"), "a");
  bad.send_all("!");
  EXPECT_TRUE(bad.closed_by_peer());
  EXPECT_EQ(s.t.stage().counters().handler_exceptions, 1u);
  EXPECT_EQ(good.echo_roundtrip("still"), "still");
}

TEST(ConnectionActor, StoppingTheActorFlushesThenClosesTheConnection) {
  SessionServer s;
  Client c(s.port);
  c.send_all("quit");
  EXPECT_EQ(c.recv_exact(3), "bye");
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(eventually([&] { return s.events.stopped.load() == 1; }));
}

namespace {
// An ordinary actor that pushes text to a connection actor it was given.
class Announcer : public ra::Actor {
 public:
  void announce(ra::Ref<Session> to, std::string text) { to.tell(&Session::push, std::move(text)); }
};
}  // namespace

TEST(ConnectionActor, OtherActorsCanMessageAConnection) {
  Events events;
  StageThread t{rt::ReactorOptions{}};
  std::atomic<bool> have_ref{false};
  ra::Ref<Session> session;
  const auto port = t.stage().listen({.port = 0}, [&](rt::Connection) {
    auto s = std::make_unique<Session>(&events);
    return s;
  });
  auto announcer = t.stage().spawn<Announcer>();
  t.start();
  Client c(port);
  ASSERT_EQ(c.echo_roundtrip("x"), "x");
  // Find the session through the stage: the only live actor besides the announcer.
  session = t.call([&] {
    for (std::uint32_t slot = 0; slot < 4; ++slot) {
      for (std::uint32_t gen = 0; gen < 2; ++gen) {
        ra::ActorId id{&t.stage(), slot, gen};
        if (t.stage().alive(id) && id != announcer.id()) return ra::Ref<Session>(id);
      }
    }
    return ra::Ref<Session>();
  });
  ASSERT_TRUE(session);
  announcer.tell(&Announcer::announce, session, std::string("news"));
  EXPECT_EQ(c.recv_exact(4), "news");
}

namespace {
// Replies to data, and tells itself to abort; that later handler keeps using the actor
// after abort(). Regression: when the peer's EOF had arrived in the same batch (the
// connection waiting to flush), abort() finalised the connection at once, its close
// re-entered this actor and destroyed it under the running handler (ASan: use after free).
class AbortsLater : public ra::ConnectionActor {
 public:
  explicit AbortsLater(Events* e) : e_(e) {}
  void abort_and_keep_going() {
    abort();
    ++e_->started;  // touches `this` after abort(): must still be alive
  }

 protected:
  std::size_t on_data(std::span<const std::byte> bytes) override {
    send(bytes);
    self<AbortsLater>().tell(&AbortsLater::abort_and_keep_going);
    return bytes.size();
  }
  void on_stop() override { ++e_->stopped; }

 private:
  Events* e_;
};
}  // namespace

TEST(ConnectionActor, AbortAfterPeerEofDoesNotDestroyTheRunningActor) {
  Events events;
  SteppedStage s;
  const auto port = s.stage().listen({.port = 0}, [&](rt::Connection) { return std::make_unique<AbortsLater>(&events); });
  Client c(port);
  ASSERT_TRUE(s.run_until([&] { return s.stage().size() == 1; }));
  ASSERT_TRUE(c.send_all("x"));
  ::shutdown(c.fd(), SHUT_WR);  // data and EOF reach the reactor together
  std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(s.run_until([&] { return events.stopped.load() == 1; }));
  EXPECT_EQ(events.started.load(), 1) << "the handler ran to its end";
  EXPECT_EQ(s.stage().size(), 0u);
}

TEST(ConnectionActor, StageDestroyedBeforeAnUnfinishedReactorIsSafe) {
  // Regression: a reactor that never finished a stop destroyed its connections' handlers
  // with on_close, which reached into the already destroyed stage.
  Events events;
  auto reactor = std::make_unique<rt::Reactor>(SteppedStage::quiet());
  auto stage = std::make_unique<ra::Stage>(*reactor);
  const auto port = stage->listen({.port = 0}, [&](rt::Connection) { return std::make_unique<Session>(&events); });
  Client c(port);
  for (int i = 0; i < 1000 && events.started.load() == 0; ++i) reactor->poll(1ms);
  ASSERT_EQ(events.started.load(), 1);
  stage.reset();  // stops the actor; its connection is closing but not finalised
  EXPECT_EQ(events.stopped.load(), 1);
  reactor.reset();  // must not call into the stage
  EXPECT_TRUE(c.closed_by_peer());
}

namespace {
// A protocol switch: a line protocol until "UPGRADE\n", then upper-case echo.
struct SwitchEvents {
  std::atomic<int> upper_started{0};
  std::atomic<int> upper_disconnected{0};
  std::atomic<int> line_stopped{0};
  std::atomic<int> line_disconnected{0};
};

class Upper : public ra::ConnectionActor {
 public:
  explicit Upper(SwitchEvents* e) : e_(e) {}

 protected:
  void on_start() override { ++e_->upper_started; }
  std::size_t on_data(std::span<const std::byte> bytes) override {
    std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (text == "BYE") {
      close();
      return bytes.size();
    }
    for (char& ch : text) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    send(text);
    return bytes.size();
  }
  void on_disconnect(rt::CloseReason, int) override { ++e_->upper_disconnected; }

 private:
  SwitchEvents* e_;
};

class Line : public ra::ConnectionActor {
 public:
  explicit Line(SwitchEvents* e, bool later) : e_(e), later_(later) {}

 protected:
  std::size_t on_data(std::span<const std::byte> bytes) override {
    const std::string_view all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    std::size_t off = 0;
    for (;;) {
      const std::size_t nl = all.find('\n', off);
      if (nl == std::string_view::npos) return off;  // a partial line waits for more
      const std::string_view line = all.substr(off, nl - off);
      off = nl + 1;
      if (line != "UPGRADE") {
        send(all.substr(nl - line.size(), line.size() + 1));
        continue;
      }
      send("OK\n");  // queued before the switch: the client sees it before anything Upper sends
      if (later_) {
        // The switch outside on_data: bytes after the line wait in the carry until resumed.
        pause_input();
        kept_ = connection().id();
        after(std::chrono::milliseconds(20), [this] {
          hand_over(std::make_unique<Upper>(e_));
          rt::Connection(reactor(), kept_).resume_input();
        });
        return off;
      }
      hand_over(std::make_unique<Upper>(e_));
      EXPECT_THROW(hand_over(std::make_unique<Upper>(e_)), std::logic_error);  // not ours any more
      return off;
    }
  }
  void on_disconnect(rt::CloseReason, int) override { ++e_->line_disconnected; }
  void on_stop() override { ++e_->line_stopped; }

 private:
  SwitchEvents* e_;
  bool later_;
  rt::ConnectionId kept_{};
};

}  // namespace

// The bytes that came with the switch line reach the new actor at once (no further
// arrival needed), after the old actor's reply; the old actor stops without closing.
TEST(ConnectionActorHandOver, RestOfTheReadGoesToTheNewActor) {
  SwitchEvents e;
  StageThread t{rt::ReactorOptions{}};
  const auto port = t.stage().listen({.port = 0}, [&](rt::Connection) { return std::make_unique<Line>(&e, false); });
  t.start();
  {
    Client c(port);
    c.send_all("hello\nUPGRADE\nabc");
    EXPECT_EQ(c.recv_exact(12), "hello\nOK\nABC");
    EXPECT_TRUE(eventually([&] { return e.line_stopped.load() == 1; }));
    EXPECT_EQ(e.upper_started.load(), 1);
    EXPECT_EQ(c.echo_roundtrip("more"), "MORE");
    EXPECT_EQ(t.stage().counters().live, 1u);  // Upper alone
    c.send_all("BYE");
    EXPECT_TRUE(c.closed_by_peer());
  }
  EXPECT_TRUE(eventually([&] { return e.upper_disconnected.load() == 1; }));
  EXPECT_EQ(e.line_disconnected.load(), 0);  // the old actor never saw the close
  EXPECT_TRUE(eventually([&] { return t.stage().counters().live == 0; }));
}

TEST(ConnectionActorHandOver, OutsideOnDataKeptBytesComeOnResume) {
  SwitchEvents e;
  StageThread t{rt::ReactorOptions{}};
  const auto port = t.stage().listen({.port = 0}, [&](rt::Connection) { return std::make_unique<Line>(&e, true); });
  t.start();
  {
    Client c(port);
    c.send_all("UPGRADE\nxyz");
    EXPECT_EQ(c.recv_exact(6), "OK\nXYZ");
    EXPECT_EQ(c.echo_roundtrip("q"), "Q");
  }
  EXPECT_TRUE(eventually([&] { return e.upper_disconnected.load() == 1 && t.stage().counters().live == 0; }));
  EXPECT_EQ(e.line_disconnected.load(), 0);
}

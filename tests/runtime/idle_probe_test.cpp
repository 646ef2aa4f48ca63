// Per-connection idle timeouts (Connection::set_idle_timeout) and the on_idle hook that lets
// a protocol probe an idle peer (a WebSocket ping) instead of closing it.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "test_support.hpp"

using namespace ringactor::test;

namespace {

// Echoes. "short" moves the connection to a 100 ms idle timeout; when idle it sends "?"
// and stays, unless a probe is already unanswered (then it lets the reactor close it).
class Prober : public rt::ConnectionHandler {
 public:
  explicit Prober(std::atomic<int>* probes) : probes_(probes) {}
  std::size_t on_data(rt::Connection conn, std::span<const std::byte> bytes) override {
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    waiting_ = false;
    if (text == "short") {
      conn.set_idle_timeout(std::chrono::milliseconds(100));
    } else if (text == "none") {
      conn.set_idle_timeout(std::chrono::milliseconds(0));
    }
    conn.send(bytes);
    return bytes.size();
  }
  bool on_idle(rt::Connection conn) override {
    if (waiting_) return false;
    waiting_ = true;
    ++*probes_;
    conn.send(std::string_view("?"));
    return true;
  }

 private:
  std::atomic<int>* probes_;
  bool waiting_ = false;
};

}  // namespace

TEST(IdleProbe, ProbedThenClosedWhenTheProbeGoesUnanswered) {
  std::atomic<int> probes{0};
  ServerThread server({.idle_timeout = std::chrono::minutes(10)},
                      [&](rt::Connection) { return std::make_unique<Prober>(&probes); });
  Client quiet(server.port());
  Client answering(server.port());
  Client exempt(server.port());
  EXPECT_EQ(quiet.echo_roundtrip("short"), "short");
  EXPECT_EQ(answering.echo_roundtrip("short"), "short");
  EXPECT_EQ(exempt.echo_roundtrip("none"), "none");
  // The answering client replies to every probe; the quiet one never does.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(answering.recv_exact(1), "?");
    EXPECT_EQ(answering.echo_roundtrip("!"), "!");
  }
  EXPECT_EQ(quiet.recv_exact(1), "?");
  EXPECT_TRUE(quiet.closed_by_peer());
  EXPECT_GE(server.counters().idle_timeouts, 1u);
  EXPECT_GE(probes.load(), 4);
  // The default idle timeout (10 min) and "none" still hold for the others.
  EXPECT_EQ(exempt.echo_roundtrip("still"), "still");
  EXPECT_EQ(answering.echo_roundtrip("here"), "here");
}

namespace {
// Answers "fill" with the number of distinct idle timeouts it could set before the reactor
// refused one.
class Filler : public rt::ConnectionHandler {
 public:
  std::size_t on_data(rt::Connection conn, std::span<const std::byte> bytes) override {
    int set = 0;
    try {
      for (int ms = 1000; ms < 1010; ++ms) {
        conn.set_idle_timeout(std::chrono::milliseconds(ms));
        ++set;
      }
    } catch (const std::length_error&) {
    }
    conn.set_idle_timeout(std::chrono::milliseconds(1000));  // an existing value is always fine
    conn.send(std::to_string(set));
    return bytes.size();
  }
};
}  // namespace

TEST(IdleProbe, AtMostSevenExtraTimeoutsPerReactor) {
  ServerThread server({}, [](rt::Connection) { return std::make_unique<Filler>(); });
  Client c(server.port());
  ASSERT_TRUE(c.send_all("fill"));
  EXPECT_EQ(c.recv_exact(1), "7");
  ASSERT_TRUE(c.send_all("fill"));
  EXPECT_EQ(c.recv_exact(1), "7");  // the same seven again: no new class needed
}

// Covers demos/echo as a process: it prints one line with the port it listens on, echoes,
// answers bad flags with status 2, and exits 0 on SIGTERM after a graceful stop.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "process_support.hpp"
#include "test_support.hpp"

using ringactor::test::Child;
using ringactor::test::read_line;
using ringactor::test::wait_exit;

namespace {

Child spawn_echo(std::vector<std::string> args) { return ringactor::test::spawn_program(RINGACTOR_ECHO_BIN, std::move(args)); }

}  // namespace

TEST(EchoDemo, ListensEchoesAndStopsOnSigterm) {
  Child c = spawn_echo({"--port", "0"});
  const std::string line = read_line(c.out, std::chrono::seconds(10));
  const auto colon = line.rfind(':');
  ASSERT_NE(colon, std::string::npos) << "got: " << line;
  ASSERT_EQ(line.rfind("echo: listening on 127.0.0.1:", 0), 0u) << line;
  const auto port = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
  {
    ringactor::test::Client client(port);
    EXPECT_EQ(client.echo_roundtrip("over the wire"), "over the wire");
    // Keep the connection open across SIGTERM: the server must close it and still exit 0.
    ASSERT_EQ(::kill(c.pid, SIGTERM), 0);
    EXPECT_TRUE(client.closed_by_peer());
  }
  EXPECT_EQ(wait_exit(c.pid, std::chrono::seconds(10)), 0);
  ::close(c.out);
}

TEST(EchoDemo, HelpAndBadFlags) {
  Child help = spawn_echo({"--help"});
  EXPECT_EQ(read_line(help.out, std::chrono::seconds(5)).rfind("usage: echo", 0), 0u);
  EXPECT_EQ(wait_exit(help.pid, std::chrono::seconds(5)), 0);
  ::close(help.out);
  Child bad = spawn_echo({"--port", "99999"});
  EXPECT_EQ(wait_exit(bad.pid, std::chrono::seconds(5)), 2);
  ::close(bad.out);
  Child unknown = spawn_echo({"--frobnicate"});
  EXPECT_EQ(wait_exit(unknown.pid, std::chrono::seconds(5)), 2);
  ::close(unknown.out);
}

TEST(EchoDemo, PortInUseFailsWithAMessage) {
  ringactor::test::ServerThread server({}, ringactor::test::echo_factory());
  Child c = spawn_echo({"--port", std::to_string(server.port())});
  EXPECT_EQ(wait_exit(c.pid, std::chrono::seconds(5)), 1);
  ::close(c.out);
}

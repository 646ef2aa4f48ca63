// Covers demos/echo as a process: it prints one line with the port it listens on, echoes,
// answers bad flags with status 2, and exits 0 on SIGTERM after a graceful stop.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

extern char** environ;

namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;  // the child's stdout
};

Child spawn_echo(std::vector<std::string> args) {
  args.insert(args.begin(), RINGACTOR_ECHO_BIN);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  Child c;
  if (posix_spawn(&c.pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) throw std::runtime_error("spawn");
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  c.out = p[0];
  return c;
}

std::string read_line(int fd, std::chrono::milliseconds limit) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char ch;
    if (::read(fd, &ch, 1) != 1) break;
    if (ch == '\n') return line;
    line.push_back(ch);
  }
  return line;
}

// Waits for the child to exit; returns its exit status, or -1 on timeout (then kills it).
int wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

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

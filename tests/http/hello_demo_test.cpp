// Covers demos/hello as a process: the one line it prints, its routes, bad flags, and a
// SIGTERM that arrives while a large response is still going out (it finishes, exit 0).
#include <signal.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "http_test_support.hpp"
#include "process_support.hpp"

using namespace ringactor::test;

namespace {

struct Hello {
  Child child;
  std::uint16_t port = 0;
};

Hello start_hello() {
  Hello h;
  h.child = spawn_program(RINGACTOR_HELLO_BIN, {"--port", "0"});
  const std::string line = read_line(h.child.out, std::chrono::seconds(10));
  EXPECT_EQ(line.rfind("hello: listening on http://127.0.0.1:", 0), 0u) << line;
  const auto colon = line.rfind(':');
  if (colon != std::string::npos) h.port = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
  return h;
}

}  // namespace

TEST(HelloDemo, ServesItsRoutes) {
  Hello h = start_hello();
  ASSERT_NE(h.port, 0);
  HttpClient c(h.port);
  c.send_all("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"
             "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-thing\r\nContent-Length: 3\r\n\r\nabc"
             "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "Hello, World!");
  EXPECT_EQ(r->header("Content-Type").value_or("").rfind("text/plain", 0), 0u);
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(r->body), nlohmann::json({{"message", "Hello, World!"}}));
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "abc");
  EXPECT_EQ(r->header("Content-Type"), "application/x-thing");
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  ASSERT_EQ(::kill(h.child.pid, SIGTERM), 0);
  EXPECT_EQ(wait_exit(h.child.pid, std::chrono::seconds(10)), 0);
  ::close(h.child.out);
}

TEST(HelloDemo, ComputeRunsOnTheWorkersAndChecksItsInput) {
  Hello h = start_hello();
  ASSERT_NE(h.port, 0);
  HttpClient c(h.port);
  c.send_all("GET /compute?n=100000 HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /compute?n=100000 HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /compute?n=0 HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /compute?n=12x HTTP/1.1\r\nHost: t\r\n\r\n");
  auto a = c.read();
  auto b = c.read();
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->status, 200) << a->body;
  const auto j = nlohmann::json::parse(a->body);
  EXPECT_EQ(j["rounds"], 100000);
  EXPECT_GT(j["blue_wins"].get<int>() + j["red_wins"].get<int>(), 0);
  EXPECT_EQ(a->body, b->body) << "deterministic";
  for (int i = 0; i < 2; ++i) {
    auto bad = c.read();
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
  }
  ASSERT_EQ(::kill(h.child.pid, SIGTERM), 0);
  EXPECT_EQ(wait_exit(h.child.pid, std::chrono::seconds(10)), 0);
  ::close(h.child.out);
}

TEST(HelloDemo, SigtermFinishesAResponseInFlight) {
  Hello h = start_hello();
  ASSERT_NE(h.port, 0);
  HttpClient c(h.port);
  const std::string body = random_bytes(900 * 1024, 11);
  c.send_all("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  // Wait until the answer has started (its head is readable), then stop the server while
  // most of the body is still queued behind a client that has not read it.
  pollfd p{c.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  ASSERT_EQ(::kill(h.child.pid, SIGTERM), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body == body) << "the whole body arrives after SIGTERM";
  EXPECT_EQ(wait_exit(h.child.pid, std::chrono::seconds(10)), 0);
  ::close(h.child.out);
}

TEST(HelloDemo, BadFlagsExit2) {
  Child bad = spawn_program(RINGACTOR_HELLO_BIN, {"--port", "x"});
  EXPECT_EQ(wait_exit(bad.pid, std::chrono::seconds(5)), 2);
  ::close(bad.out);
  Child help = spawn_program(RINGACTOR_HELLO_BIN, {"--help"});
  EXPECT_EQ(read_line(help.out, std::chrono::seconds(5)).rfind("usage: hello", 0), 0u);
  EXPECT_EQ(wait_exit(help.pid, std::chrono::seconds(5)), 0);
  ::close(help.out);
}

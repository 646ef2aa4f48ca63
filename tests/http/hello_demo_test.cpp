// Covers demos/hello as a process: the one line it prints, its routes (the Lobby actor,
// /metrics, 405 beside --root), bad flags, a SIGTERM that arrives while a large response is
// still going out (it finishes, exit 0), and a SIGTERM with offloaded computes queued
// (each client gets 503 with Connection: close at once, not an empty reply after the grace).
#include <signal.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "http_test_support.hpp"
#include "process_support.hpp"

using namespace ringactor::test;

namespace {

struct Hello {
  Child child;
  std::uint16_t port = 0;
};

Hello start_hello(std::vector<std::string> extra = {}) {
  Hello h;
  std::vector<std::string> args = {"--port", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  h.child = spawn_program(RINGACTOR_HELLO_BIN, args);
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

// The value of one unlabelled sample in hello's /metrics, or -1.
double metric(std::uint16_t port, const std::string& name) {
  auto r = raw_exchange(port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  if (!r || r->status != 200) return -1;
  const std::string key = "\n" + name + " ";
  const auto at = r->body.find(key);
  return at == std::string::npos ? -1 : std::stod(r->body.substr(at + key.size()));
}

TEST(HelloDemo, TheLobbyActorMetricsAnd405BesideStaticFiles) {
  char dir[] = "/tmp/ringactor-hello-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  { std::ofstream(std::string(dir) + "/index.html") << "<h1>arena</h1>"; }
  Hello h = start_hello({"--root", dir});
  ASSERT_NE(h.port, 0);
  HttpClient c(h.port);
  c.send_all("POST /rooms/alpha/join HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
             "POST /rooms/alpha/join HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
             "GET /rooms/alpha HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /rooms/empty HTTP/1.1\r\nHost: t\r\n\r\n"
             "DELETE /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"players\":1}");
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"players\":2}");
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(nlohmann::json::parse(r->body), nlohmann::json({{"room", "alpha"}, {"players", 2}}));
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(nlohmann::json::parse(r->body), nlohmann::json({{"room", "empty"}, {"players", 0}}));
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405) << "a routed path under another method is not handed to the files";
  EXPECT_EQ(r->header("Allow"), "GET, HEAD");
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "<h1>arena</h1>");
  EXPECT_EQ(metric(h.port, "ringactor_assets_files"), 1);
  EXPECT_GE(metric(h.port, "ringactor_http_requests_total"), 6);
  EXPECT_EQ(metric(h.port, "ringactor_offload_in_flight"), 0);
  ASSERT_EQ(::kill(h.child.pid, SIGTERM), 0);
  EXPECT_EQ(wait_exit(h.child.pid, std::chrono::seconds(10)), 0);
  ::close(h.child.out);
  std::filesystem::remove_all(dir);
}

TEST(HelloDemo, SigtermWithQueuedComputesAnswers503AndExitsAtOnce) {
  Hello h = start_hello();
  ASSERT_NE(h.port, 0);
  // Six of the longest computes, each on its own connection: one runs per worker, the rest
  // queue. Without cancellation they would hold the process for the whole grace period.
  std::vector<HttpClient> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back(h.port);
    clients.back().send_all("GET /compute?n=200000000 HTTP/1.1\r\nHost: t\r\n\r\n");
  }
  ASSERT_TRUE(eventually([&] { return metric(h.port, "ringactor_offload_in_flight") == 6; }, std::chrono::seconds(10)));
  ASSERT_EQ(::kill(h.child.pid, SIGTERM), 0);
  for (HttpClient& c : clients) {
    auto r = c.read();
    ASSERT_TRUE(r) << "an answer, not an empty reply";
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->header("Connection"), "close");
  }
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

// A real WebSocket client (Debian node-ws, installed by scripts/deps.sh) against /ws/echo and
// /ws/room/:name: echo of 0 B to 16 MiB with and without permessage-deflate, fragments,
// ping, close codes, and 50 clients in a room (tests/interop/ws_client.js).
TEST(HelloDemo, NodeWsClientInterop) {
  Hello h = start_hello();
  Child node = spawn_program("/usr/bin/env", {"node", RINGACTOR_SOURCE_DIR "/tests/interop/ws_client.js", std::to_string(h.port)});
  const std::string line = read_line(node.out, std::chrono::seconds(100));
  EXPECT_EQ(line, "ok");
  EXPECT_EQ(wait_exit(node.pid, std::chrono::seconds(10)), 0);
  ::kill(h.child.pid, SIGTERM);
  EXPECT_EQ(wait_exit(h.child.pid, std::chrono::seconds(10)), 0);
}

// demos/static and hello --root as processes: the line they print, files served, SIGHUP
// reloads, bad flags, and SIGTERM exiting 0.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "assets_support.hpp"
#include "process_support.hpp"

using namespace ringactor::test;

namespace {

std::uint16_t port_of(const std::string& line) {
  const auto colon = line.rfind(':');
  return colon == std::string::npos ? 0 : static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
}

}  // namespace

TEST(StaticDemo, ServesReloadsOnSighupAndExitsOnSigterm) {
  TempSite site;
  site.write("index.html", "<p>demo</p>");
  Child child = spawn_program(RINGACTOR_STATIC_BIN, {"--root", site.root().string(), "--port", "0"});
  const std::string line = read_line(child.out, std::chrono::seconds(10));
  ASSERT_NE(line.find("listening on http://127.0.0.1:"), std::string::npos) << line;
  const std::uint16_t port = port_of(line);
  ASSERT_NE(port, 0);
  auto r = get(port, "/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "<p>demo</p>");
  site.write("added.txt", "after start");
  EXPECT_EQ(get(port, "/added.txt")->body, "after start");  // live: not in the snapshot yet
  ASSERT_EQ(::kill(child.pid, SIGHUP), 0);
  EXPECT_EQ(read_line(child.out, std::chrono::seconds(10)), "static: reloaded, 2 files");
  EXPECT_EQ(get(port, "/added.txt")->body, "after start");
  ASSERT_EQ(::kill(child.pid, SIGTERM), 0);
  EXPECT_EQ(wait_exit(child.pid, std::chrono::seconds(10)), 0);
  const std::string last = read_line(child.out, std::chrono::seconds(5));
  EXPECT_NE(last.find("reloads"), std::string::npos) << last;
  EXPECT_NE(last.find("1 reloads"), std::string::npos) << last;
}

TEST(StaticDemo, RefusesAMissingRootAndBadFlags) {
  Child a = spawn_program(RINGACTOR_STATIC_BIN, {"--root", "/no/such/dir", "--port", "0"});
  EXPECT_EQ(wait_exit(a.pid, std::chrono::seconds(10)), 1);
  Child b = spawn_program(RINGACTOR_STATIC_BIN, {"--port", "0"});
  EXPECT_EQ(wait_exit(b.pid, std::chrono::seconds(10)), 2);
  Child c = spawn_program(RINGACTOR_STATIC_BIN, {"--root", "/tmp", "--zero-copy", "maybe"});
  EXPECT_EQ(wait_exit(c.pid, std::chrono::seconds(10)), 2);
}

TEST(HelloDemoRoot, ServesFilesBehindItsRoutes) {
  TempSite site;
  site.write("client/app.js", "game();");
  Child child = spawn_program(RINGACTOR_HELLO_BIN, {"--port", "0", "--root", site.root().string()});
  const std::string line = read_line(child.out, std::chrono::seconds(10));
  const std::uint16_t port = port_of(line);
  ASSERT_NE(port, 0) << line;
  EXPECT_EQ(get(port, "/plaintext")->body, "Hello, World!");
  auto r = get(port, "/client/app.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "game();");
  EXPECT_EQ(r->header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(get(port, "/nothing")->status, 404);
  ASSERT_EQ(::kill(child.pid, SIGTERM), 0);
  EXPECT_EQ(wait_exit(child.pid, std::chrono::seconds(10)), 0);
}

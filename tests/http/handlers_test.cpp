// Covers what game code leans on in the HTTP server: handlers, middleware and hooks that own
// move-only state, and deferred hooks that can be removed (also from inside themselves).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "http_test_support.hpp"

using namespace ringactor::test;

namespace {
std::string get(std::string_view path) {
  std::string r = "GET ";
  r.append(path).append(" HTTP/1.1\r\nHost: t\r\n\r\n");
  return r;
}
}  // namespace

TEST(HttpHandlers, HandlersAndMiddlewareMayOwnMoveOnlyState) {
  HttpServerThread srv([](http::Server& s) {
    auto counter = std::make_unique<int>(0);  // move-only: a std::function could not hold it
    s.get("/count", [c = std::move(counter)](http::Request&, http::Response& res) mutable {
      res.text(std::to_string(++*c));
    });
    s.before([tag = std::make_unique<std::string>("yes")](http::Request&, http::Response& res) {
      res.header("X-Owned", *tag);
    });
  });
  HttpClient c(srv.port());
  for (int i = 1; i <= 3; ++i) {
    c.send_all(get("/count"));
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::to_string(i));
    EXPECT_EQ(r->header("X-Owned"), "yes");
  }
}

TEST(HttpHandlers, DeferredHooksAreRemovedByTheirHandles) {
  int once = 0;       // a hook that removes itself after its first answer
  int always = 0;     // stays
  int removed = 0;    // removed before any answer
  http::Server* server = nullptr;
  rt::HookId once_id;
  HttpServerThread srv([&](http::Server& s) {
    server = &s;
    s.get("/later", [](http::Request&, http::Response& res) {
      std::thread([d = res.defer()]() mutable { d.text("done"); }).detach();
    });
    once_id = s.add_deferred_hook([&](const http::DeferredView&) {
      ++once;
      EXPECT_TRUE(server->remove_deferred_hook(once_id));
    });
    s.add_deferred_hook([&](const http::DeferredView&) { ++always; });
    const rt::HookId gone = s.add_deferred_hook([&](const http::DeferredView&) { ++removed; });
    EXPECT_TRUE(s.remove_deferred_hook(gone));
    EXPECT_FALSE(s.remove_deferred_hook(gone));
  });
  HttpClient c(srv.port());
  for (int i = 0; i < 3; ++i) {
    c.send_all(get("/later"));
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "done");
  }
  srv.stop();  // the counters were written on the reactor thread: read them after it ended
  EXPECT_EQ(once, 1);
  EXPECT_EQ(always, 3);
  EXPECT_EQ(removed, 0);
}

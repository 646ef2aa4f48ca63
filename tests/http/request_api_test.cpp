// The request and response API as a handler sees it: decoded and raw query parameters, the
// status getter, and DeferredResponse's completion rules (one completion, then
// std::logic_error, as on Response).
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "http_test_support.hpp"

namespace {

using namespace ringactor::test;

// (append, not "[" + s: g++ 12 -O3 warns falsely about operator+(const char*, string&&))
std::string show(const std::optional<std::string_view>& v) {
  return v ? std::string("[").append(*v).append("]") : std::string("none");
}

TEST(HttpRequestApi, QueryParametersDecodedAndRaw) {
  HttpServerThread srv([](http::Server& s) {
    s.get("/q", [](http::Request& req, http::Response& res) {
      std::string out;
      for (const char* name : {"name", "n", "flag", "bad", "short", "missing"}) {
        const std::optional<std::string> decoded = req.query_param(name);
        out.append(name).append("=").append(show(decoded ? std::optional<std::string_view>(*decoded) : std::nullopt));
        out.append(" raw=").append(show(req.raw_query_param(name))).append("\n");
      }
      res.text(out);
    });
  });
  auto r = raw_exchange(srv.port(), "GET /q?name=J%C3%BCrgen+M%c3%bcller&n=42&flag&bad=%zz&short=%4 HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body,
            "name=[J\xC3\xBCrgen M\xC3\xBCller] raw=[J%C3%BCrgen+M%c3%bcller]\n"
            "n=[42] raw=[42]\n"
            "flag=[] raw=[]\n"
            "bad=none raw=[%zz]\n"
            "short=none raw=[%4]\n"
            "missing=none raw=none\n");
}

TEST(HttpRequestApi, StatusCodeReadsWhatWasSet) {
  HttpServerThread srv([](http::Server& s) {
    s.get("/s", [](http::Request&, http::Response& res) {
      const int before = res.status_code();
      res.status(202);
      res.text(std::to_string(before) + " " + std::to_string(res.status_code()));
    });
  });
  auto r = raw_exchange(srv.port(), "GET /s HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "200 202");
}

TEST(HttpRequestApi, ADeferredResponseCompletesOnceLikeAResponse) {
  HttpServerThread srv([](http::Server& s) {
    s.get("/d", [](http::Request&, http::Response& res) {
      http::DeferredResponse d = res.defer();
      EXPECT_THROW(res.text("no"), std::logic_error) << "the Response itself is answered by defer()";
      EXPECT_TRUE(d.pending());
      EXPECT_FALSE(d.client_gone());
      const ringactor::actors::Requester who = d.requester();
      EXPECT_TRUE(static_cast<bool>(who.actor));
      EXPECT_FALSE(who.lifeline.is_cut());
      d.json("{\"ok\":true}");
      EXPECT_FALSE(d.pending());
      EXPECT_THROW(d.text("twice"), std::logic_error);
      EXPECT_THROW((void)d.requester(), std::logic_error);
    });
  });
  auto r = raw_exchange(srv.port(), "GET /d HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"ok\":true}");
  EXPECT_EQ(srv.counters().deferred_abandoned, 0u);
}

}  // namespace

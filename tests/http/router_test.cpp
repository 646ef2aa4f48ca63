// Covers Router: static routes, :param captures, trailing *, precedence with backtracking,
// 404, 405 with Allow, HEAD answered by GET, and refused route definitions.
#include <gtest/gtest.h>

#include <string>

#include <ringactor/http/router.hpp>

namespace rh = ringactor::http;
using R = rh::Router<std::string>;

namespace {
std::string route(const R& r, std::string_view method, std::string_view path, rh::Params* out = nullptr) {
  rh::Params p;
  const auto m = r.match(method, path, p);
  if (out != nullptr) *out = p;
  switch (m.outcome) {
    case R::Outcome::kFound: return *m.handler;
    case R::Outcome::kNotFound: return "404";
    case R::Outcome::kMethodNotAllowed: return "405 " + m.allow;
  }
  return "?";
}

R sample() {
  R r;
  r.add("GET", "/", "root");
  r.add("GET", "/plaintext", "plain");
  r.add("GET", "/users/:id", "user");
  r.add("PUT", "/users/:id", "user-put");
  r.add("GET", "/users/me", "me");
  r.add("GET", "/users/:id/items/:item", "item");
  r.add("GET", "/static/*", "static");
  r.add("POST", "/echo", "echo");
  r.add("GET", "/a/:x/c", "axc");
  r.add("GET", "/a/b/d", "abd");
  r.add("GET", "/dir/", "dir-slash");
  return r;
}
}  // namespace

TEST(Router, StaticAndCaptures) {
  const R r = sample();
  rh::Params p;
  EXPECT_EQ(route(r, "GET", "/"), "root");
  EXPECT_EQ(route(r, "GET", "/plaintext"), "plain");
  EXPECT_EQ(route(r, "GET", "/users/42", &p), "user");
  EXPECT_EQ(p.get("id"), "42");
  EXPECT_EQ(route(r, "GET", "/users/me", &p), "me") << "a static segment wins over a capture";
  EXPECT_EQ(p.size(), 0u);
  EXPECT_EQ(route(r, "GET", "/users/7/items/x9", &p), "item");
  EXPECT_EQ(p.get("id"), "7");
  EXPECT_EQ(p.get("item"), "x9");
  EXPECT_EQ(route(r, "GET", "/dir/"), "dir-slash");
  EXPECT_EQ(route(r, "GET", "/dir"), "404");
}

TEST(Router, BacktracksFromADeadEndStaticBranch) {
  const R r = sample();
  rh::Params p;
  EXPECT_EQ(route(r, "GET", "/a/b/c", &p), "axc") << "static 'b' dead-ends at 'c'; the capture matches";
  EXPECT_EQ(p.get("x"), "b");
  EXPECT_EQ(p.size(), 1u) << "captures of abandoned branches are dropped";
  EXPECT_EQ(route(r, "GET", "/a/b/d"), "abd");
}

TEST(Router, WildcardTakesTheRest) {
  const R r = sample();
  rh::Params p;
  EXPECT_EQ(route(r, "GET", "/static/css/site.css", &p), "static");
  EXPECT_EQ(p.get("*"), "css/site.css");
  EXPECT_EQ(route(r, "GET", "/static/", &p), "static");
  EXPECT_EQ(p.get("*"), "");
}

TEST(Router, NotFoundAndMethodNotAllowed) {
  const R r = sample();
  EXPECT_EQ(route(r, "GET", "/nope"), "404");
  EXPECT_EQ(route(r, "GET", "/users/"), "404") << "a capture needs a non-empty segment";
  EXPECT_EQ(route(r, "GET", "/users/1/2"), "404");
  EXPECT_EQ(route(r, "GET", "relative"), "404");
  EXPECT_EQ(route(r, "DELETE", "/users/1"), "405 GET, HEAD, PUT");
  EXPECT_EQ(route(r, "GET", "/echo"), "405 POST");
}

TEST(Router, HeadFallsBackToGet) {
  R r = sample();
  EXPECT_EQ(route(r, "HEAD", "/plaintext"), "plain");
  r.add("HEAD", "/plaintext", "plain-head");
  EXPECT_EQ(route(r, "HEAD", "/plaintext"), "plain-head");
  EXPECT_EQ(route(r, "POST", "/plaintext"), "405 GET, HEAD");
}

TEST(Router, RefusesBadRoutes) {
  R r;
  r.add("GET", "/x/:id", "a");
  EXPECT_THROW(r.add("GET", "/x/:id", "dup"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/x/:other/y", "conflict"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "no-slash", "bad"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/a/*/b", "bad"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/a/:", "bad"), std::invalid_argument);
  EXPECT_THROW(r.add("", "/a", "bad"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/:a/:b/:c/:d/:e/:f/:g/:h/:i", "too many"), std::invalid_argument);
}

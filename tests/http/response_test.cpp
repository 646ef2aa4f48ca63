// Covers response heads: exact bytes of common heads, the IMF-fixdate format and its
// per-second cache, reason phrases, and refusing to overflow the caller's buffer.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <ringactor/http/response.hpp>

namespace rh = ringactor::http;
using namespace std::chrono_literals;

TEST(Response, FormatsAPlaintextHead) {
  char buf[256];
  const auto head = rh::format_head(buf, {.status = 200, .content_type = "text/plain", .content_length = 13,
                                          .date = "Sun, 06 Nov 1994 08:49:37 GMT", .server = "ringactor"});
  EXPECT_EQ(std::string(head),
            "HTTP/1.1 200 OK\r\nServer: ringactor\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n");
}

TEST(Response, ChunkedCloseExtraAndVersion) {
  char buf[256];
  const auto head = rh::format_head(
      buf, {.status = 405, .chunked = true, .close = true, .extra = "Allow: GET, HEAD\r\n", .version_minor = 0});
  EXPECT_EQ(std::string(head),
            "HTTP/1.0 405 Method Not Allowed\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
            "Allow: GET, HEAD\r\n\r\n");
  const auto zero = rh::format_head(buf, {.status = 204, .content_length = 0});
  EXPECT_EQ(std::string(zero), "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
  const auto odd = rh::format_head(buf, {.status = 42});
  EXPECT_EQ(std::string(odd), "HTTP/1.1 500 Internal Server Error\r\n\r\n") << "invalid codes become 500";
}

TEST(Response, RefusesToOverflow) {
  char small[20];
  EXPECT_TRUE(rh::format_head(small, {.status = 200, .content_type = "text/plain", .content_length = 1}).empty());
  char exact[19];  // "HTTP/1.1 200 OK\r\n\r\n" is 19 bytes
  EXPECT_EQ(rh::format_head(exact, {.status = 200}).size(), 19u);
}

TEST(Response, ImfDateAndCache) {
  const auto t = std::chrono::system_clock::time_point{} + 784111777s;  // RFC 9110's example
  char out[29];
  rh::format_imf_date(t, out);
  EXPECT_EQ(std::string(out, 29), "Sun, 06 Nov 1994 08:49:37 GMT");
  rh::DateCache cache;
  const std::string a(cache.get(t));
  const std::string b(cache.get(t + 999ms));
  const std::string c(cache.get(t + 1s));
  EXPECT_EQ(a, b) << "same second, same text";
  EXPECT_EQ(c, "Sun, 06 Nov 1994 08:49:38 GMT");
  rh::format_imf_date(std::chrono::system_clock::time_point{} + 4102444800s, out);  // year 2100
  EXPECT_EQ(std::string(out, 29), "Fri, 01 Jan 2100 00:00:00 GMT");
}

TEST(Response, ReasonPhrases) {
  EXPECT_EQ(rh::reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(rh::reason_phrase(413), "Content Too Large");
  EXPECT_EQ(rh::reason_phrase(599), "Unknown");
}

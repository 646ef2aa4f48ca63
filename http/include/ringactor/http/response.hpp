// Response heads: status lines, reason phrases, a Date header formatted once a second, and
// a formatter that writes a complete response head into a caller's buffer without
// allocating.
//
//   DateCache dates;                              // one per reactor
//   char buf[512];
//   auto head = format_head(buf, {.status = 200, .content_type = "text/plain",
//                                 .content_length = 13, .date = dates.get(now)});
//   conn.send(head); conn.send(body);
//
// Pure functions and plain objects: any thread (a DateCache belongs to one thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ringactor::http {

// The reason phrase for a status code ("Not Found"), or "Unknown" for codes without one.
std::string_view reason_phrase(int status) noexcept;

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110 section 5.6.7) of the current
// second, reformatted only when the second changes.
class DateCache {
 public:
  // The Date value for `now`. O(1) when the second has not changed.
  std::string_view get(std::chrono::system_clock::time_point now) noexcept;
  // The Date value for the current time (read from the coarse real-time clock).
  std::string_view get() noexcept;
  // Which second the cached text is for (changes when get() reformats it).
  std::int64_t second() const noexcept { return second_; }

 private:
  std::int64_t second_ = -1;
  char text_[29] = {};
};

// Formats `t` as an IMF-fixdate into `out` (exactly 29 bytes).
void format_imf_date(std::chrono::system_clock::time_point t, char (&out)[29]) noexcept;

struct ResponseHead {
  int status = 200;
  std::string_view content_type{};                // omitted when empty
  std::optional<std::uint64_t> content_length{};  // omitted when unset (then chunked or close)
  bool chunked = false;                         // Transfer-Encoding: chunked
  bool close = false;                           // Connection: close
  bool keep_alive = false;                      // Connection: keep-alive (HTTP/1.0 clients)
  std::string_view date{};                      // omitted when empty (use a DateCache)
  std::string_view server{};                    // omitted when empty
  std::string_view extra{};                     // more header lines, each ending in CRLF
  int version_minor = 1;                        // HTTP/1.<minor> in the status line
};

// Writes the status line, the headers and the blank line into `out`. Returns the bytes
// written, or an empty view if `out` is too small (nothing useful was written). Header
// values must not contain CR or LF (responses are built by the server, not the client).
std::string_view format_head(std::span<char> out, const ResponseHead& head) noexcept;

}  // namespace ringactor::http

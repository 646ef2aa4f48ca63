#include "ringactor/http/response.hpp"

#include <cstring>
#include <ctime>

namespace ringactor::http {

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

void format_imf_date(std::chrono::system_clock::time_point t, char (&out)[29]) noexcept {
  static constexpr char kDays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  auto two = [](char* p, int v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  std::memcpy(out, kDays[tm.tm_wday], 3);
  out[3] = ',';
  out[4] = ' ';
  two(out + 5, tm.tm_mday);
  out[7] = ' ';
  std::memcpy(out + 8, kMonths[tm.tm_mon], 3);
  out[11] = ' ';
  const int year = tm.tm_year + 1900;
  two(out + 12, (year / 100) % 100);
  two(out + 14, year % 100);
  out[16] = ' ';
  two(out + 17, tm.tm_hour);
  out[19] = ':';
  two(out + 20, tm.tm_min);
  out[22] = ':';
  two(out + 23, tm.tm_sec);
  std::memcpy(out + 25, " GMT", 4);
}

std::string_view DateCache::get() noexcept {
  // The coarse real-time clock is a plain read of kernel-maintained memory (no TSC read),
  // ticking every few milliseconds: plenty for a header with one-second resolution.
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  if (ts.tv_sec == second_) return {text_, sizeof text_};
  return get(std::chrono::system_clock::time_point(std::chrono::seconds(ts.tv_sec)));
}

std::string_view DateCache::get(std::chrono::system_clock::time_point now) noexcept {
  const std::int64_t s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (s != second_) {
    second_ = s;
    format_imf_date(now, text_);
  }
  return {text_, sizeof text_};
}

namespace {
// Appends to a fixed buffer; remembers overflow instead of writing past the end.
struct Writer {
  char* p;
  char* end;
  bool overflow = false;
  void put(std::string_view s) noexcept {
    if (s.empty()) return;  // an empty view may have a null data(): never memcpy from it
    if (overflow || static_cast<std::size_t>(end - p) < s.size()) {
      overflow = true;
      return;
    }
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
  void put_number(std::uint64_t v) noexcept {
    char digits[20];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    char out[20];
    for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
    put({out, static_cast<std::size_t>(n)});
  }
  void header(std::string_view name, std::string_view value) noexcept {
    put(name);
    put(": ");
    put(value);
    put("\r\n");
  }
};
}  // namespace

std::string_view format_head(std::span<char> out, const ResponseHead& h) noexcept {
  Writer w{out.data(), out.data() + out.size()};
  w.put(h.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  const int status = (h.status >= 100 && h.status <= 999) ? h.status : 500;
  w.put_number(static_cast<std::uint64_t>(status));
  w.put(" ");
  w.put(reason_phrase(status));
  w.put("\r\n");
  if (!h.server.empty()) w.header("Server", h.server);
  if (!h.date.empty()) w.header("Date", h.date);
  if (!h.content_type.empty()) w.header("Content-Type", h.content_type);
  if (h.chunked) {
    w.put("Transfer-Encoding: chunked\r\n");
  } else if (h.content_length) {
    w.put("Content-Length: ");
    w.put_number(*h.content_length);
    w.put("\r\n");
  }
  if (h.close) {
    w.put("Connection: close\r\n");
  } else if (h.keep_alive) {
    w.put("Connection: keep-alive\r\n");
  }
  w.put(h.extra);
  w.put("\r\n");
  if (w.overflow) return {};
  return {out.data(), static_cast<std::size_t>(w.p - out.data())};
}

}  // namespace ringactor::http

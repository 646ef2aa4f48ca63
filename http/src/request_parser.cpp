#include "ringactor/http/request_parser.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace ringactor::http {

namespace {

constexpr std::size_t npos = std::string_view::npos;

// Character classes as one table lookup each (the parser's inner loops).
enum : std::uint8_t { kTchar = 1, kAuthority = 2 };
constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    // RFC 9110 tchar.
    if (alnum || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos) {
      t[static_cast<std::size_t>(c)] |= kTchar;
    }
    // uri-host [":" port]: reg-name, IP-literal brackets, port digits.
    if (alnum || std::string_view("-._~!$&'()*+;=%:[]").find(static_cast<char>(c)) != std::string_view::npos) {
      t[static_cast<std::size_t>(c)] |= kAuthority;
    }
  }
  return t;
}
constexpr std::array<std::uint8_t, 256> kClasses = make_classes();

constexpr bool is_tchar(unsigned char c) noexcept { return (kClasses[c] & kTchar) != 0; }

// field-value characters: HTAB, SP, VCHAR, obs-text.
constexpr bool is_field_char(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7F); }

constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string_view trim_ows(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Calls fn(token) for each comma-separated element (empty elements skipped, as RFC 9110
// section 5.6.1 allows). Returns false if fn does.
template <typename Fn>
bool for_each_element(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty() && !fn(item)) return false;
    if (comma == npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 19) return false;  // 19 digits always fit in 64 bits
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// uri-host [":" port] as Host allows (RFC 9112 section 3.2): reg-name characters, an IP
// literal in brackets, a port of digits. Refused: whitespace, '/', '?', '#', '@', ',' (a
// list of hosts) and control characters. Empty is allowed (a target without authority).
bool valid_authority(std::string_view a) noexcept {
  for (char c : a) {
    if ((kClasses[static_cast<unsigned char>(c)] & kAuthority) == 0) return false;
  }
  return true;
}

using Result = RequestParser::Result;
constexpr Result fail(ParseError e) noexcept { return {RequestParser::Status::kError, e}; }

}  // namespace

int status_of(ParseError e) noexcept {
  switch (e) {
    case ParseError::kNone: return 200;
    case ParseError::kBadRequest: return 400;
    case ParseError::kUriTooLong: return 414;
    case ParseError::kHeadersTooLarge: return 431;
    case ParseError::kPayloadTooLarge: return 413;
    case ParseError::kVersionNotSupported: return 505;
    case ParseError::kNotImplemented: return 501;
  }
  return 400;
}

std::string_view to_string(ParseError e) noexcept {
  switch (e) {
    case ParseError::kNone: return "none";
    case ParseError::kBadRequest: return "bad_request";
    case ParseError::kUriTooLong: return "uri_too_long";
    case ParseError::kHeadersTooLarge: return "headers_too_large";
    case ParseError::kPayloadTooLarge: return "payload_too_large";
    case ParseError::kVersionNotSupported: return "version_not_supported";
    case ParseError::kNotImplemented: return "not_implemented";
  }
  return "?";
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void RequestHead::clear() noexcept {
  method = target = path = query = authority = {};
  version_minor = 1;
  headers.clear();
  content_length.reset();
  chunked = false;
  keep_alive = true;
  expect_continue = false;
  head_bytes = 0;
}

std::optional<std::string_view> RequestHead::header(std::string_view name) const noexcept {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

RequestParser::Result RequestParser::parse(std::string_view b, RequestHead& out) {
  // 1. Find the end of the head, checking line endings and limits on the way. Only bytes
  //    not searched by an earlier call are looked at.
  std::size_t pos = scanned_;
  std::size_t line_end = scanned_ > 0 ? line_end_ : npos;  // index of the request line's '\n'
  std::size_t head_end = npos;                              // one past the blank line's '\n'
  while (pos < b.size()) {
    const void* hit = std::memchr(b.data() + pos, '\n', b.size() - pos);
    if (hit == nullptr) {
      pos = b.size();
      break;
    }
    const std::size_t nl = static_cast<std::size_t>(static_cast<const char*>(hit) - b.data());
    if (nl == 0 || b[nl - 1] != '\r') return fail(ParseError::kBadRequest);  // bare LF
    if (line_end == npos) {
      line_end = nl;
      if (line_end == 1) return fail(ParseError::kBadRequest);  // empty request line
    } else if (nl >= 3 && b[nl - 2] == '\n' && b[nl - 3] == '\r') {
      head_end = nl + 1;
      break;
    }
    pos = nl + 1;
  }
  // Limits, written as subtractions so a limit of SIZE_MAX ("unlimited") cannot wrap.
  // The request line is line_end - 1 bytes (without CRLF); the header section is what
  // follows it, without the final blank line's CRLF.
  if (head_end == npos) {
    scanned_ = pos;
    line_end_ = line_end;  // npos while the request line is still arriving
    if (line_end == npos) {
      if (b.size() - 1 > limits_.max_request_line) return fail(ParseError::kUriTooLong);  // b is not empty
    } else {
      if (line_end - 1 > limits_.max_request_line) return fail(ParseError::kUriTooLong);
      const std::size_t header_bytes = b.size() - (line_end + 1);
      if (header_bytes > 2 && header_bytes - 2 > limits_.max_header_bytes) return fail(ParseError::kHeadersTooLarge);
    }
    return {Status::kIncomplete};
  }
  scanned_ = 0;
  if (line_end - 1 > limits_.max_request_line) return fail(ParseError::kUriTooLong);
  if (head_end - (line_end + 1) - 2 > limits_.max_header_bytes) return fail(ParseError::kHeadersTooLarge);

  out.clear();
  out.head_bytes = head_end;

  // 2. Request line: method SP request-target SP HTTP-version.
  const std::string_view line = b.substr(0, line_end - 1);
  const std::size_t sp1 = line.find(' ');
  if (sp1 == npos) return fail(ParseError::kBadRequest);
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == npos) return fail(ParseError::kBadRequest);
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(out.method) || out.target.empty()) return fail(ParseError::kBadRequest);
  for (char c : out.target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) return fail(ParseError::kBadRequest);
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return fail(ParseError::kBadRequest);
  }
  if (version[5] != '1') return fail(ParseError::kVersionNotSupported);
  out.version_minor = version[7] == '0' ? 0 : 1;  // 1.x above 1.1 is handled as 1.1

  // Request-target forms (RFC 9112 section 3.2).
  std::string_view path_and_query;
  if (out.target.front() == '/') {
    path_and_query = out.target;
  } else if (out.target == "*") {
    if (!iequals(out.method, "OPTIONS")) return fail(ParseError::kBadRequest);
    path_and_query = out.target;
  } else if (out.method == "CONNECT") {
    return fail(ParseError::kNotImplemented);  // no tunnelling
  } else {
    const std::size_t scheme_end = out.target.find("://");
    if (scheme_end == npos) return fail(ParseError::kBadRequest);
    const std::string_view scheme = out.target.substr(0, scheme_end);
    if (!iequals(scheme, "http") && !iequals(scheme, "https")) return fail(ParseError::kBadRequest);
    const std::string_view rest = out.target.substr(scheme_end + 3);
    const std::size_t slash = rest.find_first_of("/?");
    if (slash == 0 || rest.empty()) return fail(ParseError::kBadRequest);  // no authority
    out.authority = rest.substr(0, slash);
    if (!valid_authority(out.authority)) return fail(ParseError::kBadRequest);
    path_and_query = slash == npos ? std::string_view() : rest.substr(slash);
  }
  const std::size_t q = path_and_query.find('?');
  out.path = path_and_query.substr(0, q);
  if (out.path.empty()) out.path = "/";  // "http://host" and "http://host?q"
  out.query = q == npos ? std::string_view() : path_and_query.substr(q + 1);

  // 3. Header fields.
  int hosts = 0;
  bool te_seen = false;
  bool cl_seen = false;
  std::uint64_t cl = 0;
  std::size_t start = line_end + 1;
  while (start + 2 < head_end) {  // the last line is the blank one
    const std::size_t nl = b.find('\n', start);
    const std::string_view field = b.substr(start, nl - 1 - start);
    start = nl + 1;
    if (field.front() == ' ' || field.front() == '\t') return fail(ParseError::kBadRequest);  // obs-fold
    const std::size_t colon = field.find(':');
    if (colon == npos) return fail(ParseError::kBadRequest);
    const std::string_view name = field.substr(0, colon);
    if (!is_token(name)) return fail(ParseError::kBadRequest);  // also whitespace before ':'
    const std::string_view raw_value = field.substr(colon + 1);
    for (char c : raw_value) {
      if (!is_field_char(static_cast<unsigned char>(c))) return fail(ParseError::kBadRequest);
    }
    if (out.headers.size() == limits_.max_headers) return fail(ParseError::kHeadersTooLarge);
    const std::string_view value = trim_ows(raw_value);
    out.headers.push_back({name, value});

    // The framing headers, found by length first: one comparison per header at most.
    enum class Known : std::uint8_t { kOther, kContentLength, kTransferEncoding, kHost, kConnection, kExpect };
    Known known = Known::kOther;
    switch (name.size()) {
      case 4: known = iequals(name, "host") ? Known::kHost : Known::kOther; break;
      case 6: known = iequals(name, "expect") ? Known::kExpect : Known::kOther; break;
      case 10: known = iequals(name, "connection") ? Known::kConnection : Known::kOther; break;
      case 14: known = iequals(name, "content-length") ? Known::kContentLength : Known::kOther; break;
      case 17: known = iequals(name, "transfer-encoding") ? Known::kTransferEncoding : Known::kOther; break;
      default: break;
    }
    if (known == Known::kOther) continue;
    if (known == Known::kContentLength) {
      // A list of identical values is one value (RFC 9112 section 6.3); anything else,
      // including a header with no value at all (", "), is ambiguous framing.
      std::size_t items = 0;
      const bool ok = for_each_element(value, [&](std::string_view item) {
        std::uint64_t v;
        if (!parse_decimal(item, v)) return false;
        if (cl_seen && v != cl) return false;
        cl = v;
        cl_seen = true;
        ++items;
        return true;
      });
      if (!ok || items == 0) return fail(ParseError::kBadRequest);
    } else if (known == Known::kTransferEncoding) {
      ParseError e = ParseError::kNone;
      for_each_element(value, [&](std::string_view coding) {
        if (out.chunked) {
          e = ParseError::kBadRequest;  // anything after chunked
          return false;
        }
        if (iequals(coding, "chunked")) {
          out.chunked = true;
          return true;
        }
        e = ParseError::kNotImplemented;  // gzip, deflate, ...: not supported
        return false;
      });
      if (e != ParseError::kNone) return fail(e);
      te_seen = true;
    } else if (known == Known::kHost) {
      ++hosts;
      if (!valid_authority(value)) return fail(ParseError::kBadRequest);
      if (out.authority.empty()) out.authority = value;
    } else if (known == Known::kConnection) {
      for_each_element(value, [&](std::string_view token) {
        if (iequals(token, "close")) out.keep_alive = false;
        if (iequals(token, "keep-alive") && out.version_minor == 0) out.keep_alive = true;
        return true;
      });
    } else if (known == Known::kExpect) {
      if (iequals(value, "100-continue")) out.expect_continue = true;
    }
  }
  if (out.version_minor == 0) {
    // HTTP/1.0 closes unless the client asked for keep-alive.
    bool ka = false;
    for (const Header& h : out.headers) {
      if (!iequals(h.name, "connection")) continue;
      for_each_element(h.value, [&](std::string_view token) {
        if (iequals(token, "keep-alive")) ka = true;
        if (iequals(token, "close")) ka = false;
        return true;
      });
    }
    out.keep_alive = ka;
    out.expect_continue = false;  // 100-continue is an HTTP/1.1 mechanism
  }
  if (out.version_minor == 1 && hosts != 1) return fail(ParseError::kBadRequest);
  if (hosts > 1) return fail(ParseError::kBadRequest);
  if (te_seen) {
    if (cl_seen) return fail(ParseError::kBadRequest);  // request smuggling vector
    if (out.version_minor == 0) return fail(ParseError::kBadRequest);
    if (!out.chunked) return fail(ParseError::kBadRequest);  // chunked must be last
  }
  if (cl_seen) {
    if (cl > limits_.max_body) return fail(ParseError::kPayloadTooLarge);
    out.content_length = cl;
  }
  return {Status::kComplete};
}

// ---- chunked bodies ---------------------------------------------------------------------

ChunkedDecoder::Step ChunkedDecoder::next(std::string_view in) noexcept {
  constexpr std::size_t kMaxSizeLine = 1024;  // size, extensions and CRLF
  auto error = [this](ParseError e) {
    state_ = State::kError;
    return Step{Status::kError, 0, {}, e};
  };
  switch (state_) {
    case State::kSize: {
      const std::size_t nl = in.find('\n');
      if (nl == npos) {
        if (in.size() > kMaxSizeLine) return error(ParseError::kBadRequest);
        return {Status::kNeedMore, 0, {}};
      }
      if (nl == 0 || in[nl - 1] != '\r' || nl + 1 > kMaxSizeLine) return error(ParseError::kBadRequest);
      const std::string_view line = in.substr(0, nl - 1);
      std::uint64_t size = 0;
      std::size_t i = 0;
      for (; i < line.size(); ++i) {
        const int h = hex_value(line[i]);
        if (h < 0) break;
        if (i >= 15) return error(ParseError::kBadRequest);  // more than 60 bits of size
        size = size * 16 + static_cast<std::uint64_t>(h);
      }
      if (i == 0) return error(ParseError::kBadRequest);
      // Optional chunk extensions: BWS ";" ... (ignored, but no control characters).
      std::string_view ext = line.substr(i);
      const std::size_t before = ext.size();
      while (!ext.empty() && (ext.front() == ' ' || ext.front() == '\t')) ext.remove_prefix(1);
      // BWS is allowed only before ';'; "5 " alone is a framing ambiguity.
      if (ext.empty() ? ext.size() != before : ext.front() != ';') return error(ParseError::kBadRequest);
      for (char c : ext) {
        if (!is_field_char(static_cast<unsigned char>(c))) return error(ParseError::kBadRequest);
      }
      if (size == 0) {
        state_ = State::kTrailers;
      } else {
        if (size > max_body_ - total_) return error(ParseError::kPayloadTooLarge);
        total_ += size;
        remaining_ = size;
        state_ = State::kData;
      }
      return {Status::kData, nl + 1, {}};  // framing consumed, no body bytes
    }
    case State::kData: {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
      if (n == 0) return {Status::kNeedMore, 0, {}};
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kDataCrlf;
      return {Status::kData, n, in.substr(0, n)};
    }
    case State::kDataCrlf: {
      if (in.size() < 2) {
        if (!in.empty() && in[0] != '\r') return error(ParseError::kBadRequest);
        return {Status::kNeedMore, 0, {}};
      }
      if (in[0] != '\r' || in[1] != '\n') return error(ParseError::kBadRequest);
      state_ = State::kSize;
      return {Status::kData, 2, {}};
    }
    case State::kTrailers: {
      const std::size_t nl = in.find('\n');
      if (nl == npos) {
        if (trailer_bytes_ + in.size() > max_trailer_) return error(ParseError::kHeadersTooLarge);
        return {Status::kNeedMore, 0, {}};
      }
      if (nl == 0 || in[nl - 1] != '\r') return error(ParseError::kBadRequest);
      trailer_bytes_ += nl + 1;
      if (trailer_bytes_ > max_trailer_) return error(ParseError::kHeadersTooLarge);
      if (nl == 1) {
        state_ = State::kDone;
        return {Status::kDone, 2, {}};
      }
      const std::string_view field = in.substr(0, nl - 1);
      const std::size_t colon = field.find(':');
      if (field.front() == ' ' || field.front() == '\t' || colon == npos || !is_token(field.substr(0, colon))) {
        return error(ParseError::kBadRequest);
      }
      for (char c : field.substr(colon + 1)) {
        if (!is_field_char(static_cast<unsigned char>(c))) return error(ParseError::kBadRequest);
      }
      return {Status::kData, nl + 1, {}};
    }
    case State::kDone:
      return {Status::kDone, 0, {}};
    case State::kError:
      return {Status::kError, 0, {}, ParseError::kBadRequest};
  }
  return {Status::kError, 0, {}, ParseError::kBadRequest};
}

// ---- paths ------------------------------------------------------------------------------

bool percent_decode_path(std::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= raw.size()) return false;
    const int hi = hex_value(raw[i + 1]);
    const int lo = hex_value(raw[i + 2]);
    if (hi < 0 || lo < 0) return false;
    const char decoded = static_cast<char>(hi * 16 + lo);
    if (decoded == '\0') return false;
    out.push_back(decoded);
    i += 2;
  }
  return true;
}

}  // namespace ringactor::http

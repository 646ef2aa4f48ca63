#include "ringactor/http/request_parser.hpp"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "http_chars.hpp"

namespace ringactor::http {

namespace {

using detail::is_field_char;
using detail::is_tchar;
using detail::is_token;
using detail::kAuthority;
using detail::kClasses;
using detail::trim_ows;

constexpr std::size_t npos = std::string_view::npos;

constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

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

// uri-host [":" port] as Host allows (RFC 9112 section 3.2): reg-name characters, an IP
// literal in brackets, a port of digits. Refused: whitespace, '/', '?', '#', '@', ',' (a
// list of hosts) and control characters. Empty is allowed (a target without authority).
bool valid_authority(std::string_view a) noexcept {
  for (char c : a) {
    if ((kClasses[static_cast<unsigned char>(c)] & kAuthority) == 0) return false;
  }
  return true;
}

// What the framing headers said, judged as a whole once every field is in.
struct Framing {
  int hosts = 0;
  bool te_seen = false;
  bool cl_seen = false;
  std::uint64_t cl = 0;
};

// Stores one field (its name a token, its value trimmed and of field characters only) and
// applies what it means if it is one of the framing headers. Both parsing paths use it.
ParseError add_field(std::string_view name, std::string_view value, const Limits& limits, RequestHead& out,
                     Framing& f) {
  if (out.headers.size() == limits.max_headers) return ParseError::kHeadersTooLarge;
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
  switch (known) {
    case Known::kOther: break;
    case Known::kContentLength: {
      // A list of identical values is one value (RFC 9112 section 6.3); anything else,
      // including a header with no value at all (", "), is ambiguous framing.
      std::size_t items = 0;
      const bool ok = for_each_element(value, [&](std::string_view item) {
        std::uint64_t v;
        if (!parse_decimal(item, v)) return false;
        if (f.cl_seen && v != f.cl) return false;
        f.cl = v;
        f.cl_seen = true;
        ++items;
        return true;
      });
      if (!ok || items == 0) return ParseError::kBadRequest;
      break;
    }
    case Known::kTransferEncoding: {
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
      if (e != ParseError::kNone) return e;
      f.te_seen = true;
      break;
    }
    case Known::kHost:
      ++f.hosts;
      if (!valid_authority(value)) return ParseError::kBadRequest;
      if (out.authority.empty()) out.authority = value;
      break;
    case Known::kConnection:
      for_each_element(value, [&](std::string_view token) {
        if (iequals(token, "close")) out.keep_alive = false;
        if (iequals(token, "keep-alive") && out.version_minor == 0) out.keep_alive = true;
        return true;
      });
      break;
    case Known::kExpect:
      if (iequals(value, "100-continue")) out.expect_continue = true;
      break;
  }
  return ParseError::kNone;
}

// The checks that need every field: HTTP/1.0's keep-alive, one Host, framing, body limit.
ParseError finish_head(RequestHead& out, const Framing& f, const Limits& limits) {
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
  if (out.version_minor == 1 && f.hosts != 1) return ParseError::kBadRequest;
  if (f.hosts > 1) return ParseError::kBadRequest;
  if (f.te_seen) {
    if (f.cl_seen) return ParseError::kBadRequest;  // request smuggling vector
    if (out.version_minor == 0) return ParseError::kBadRequest;
    if (!out.chunked) return ParseError::kBadRequest;  // chunked must be last
  }
  if (f.cl_seen) {
    if (f.cl > limits.max_body) return ParseError::kPayloadTooLarge;
    out.content_length = f.cl;
  }
  return ParseError::kNone;
}

// The one-pass parser's two longest runs, sixteen bytes at a time where sixteen are there
// (SSE2 is part of x86-64; elsewhere the byte loop alone). Each returns the offset of the
// first byte at or after `p` that ends the run, or `n`.

// A request-target runs up to a control, SP, DEL, a non-ASCII byte, or '?'.
inline std::size_t scan_target(const char* s, std::size_t p, std::size_t n) noexcept {
#if defined(__SSE2__)
  const __m128i above_space = _mm_set1_epi8(0x21);
  const __m128i del = _mm_set1_epi8(0x7F);
  const __m128i question = _mm_set1_epi8('?');
  for (; n - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + p));
    // Signed compare: bytes 0x80-0xFF are negative, so "< 0x21" also catches non-ASCII.
    const __m128i stop = _mm_or_si128(_mm_cmplt_epi8(v, above_space),
                                      _mm_or_si128(_mm_cmpeq_epi8(v, del), _mm_cmpeq_epi8(v, question)));
    const int mask = _mm_movemask_epi8(stop);
    if (mask != 0) return p + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  for (; p < n; ++p) {
    const auto c = static_cast<unsigned char>(s[p]);
    if (c <= 0x20 || c >= 0x7F || c == '?') return p;
  }
  return n;
}

// A field value runs while is_field_char holds: up to a control other than HTAB, or DEL.
inline std::size_t scan_value(const char* s, std::size_t p, std::size_t n) noexcept {
#if defined(__SSE2__)
  const __m128i last_control = _mm_set1_epi8(0x1F);
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i del = _mm_set1_epi8(0x7F);
  for (; n - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + p));
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, last_control), v);  // unsigned v <= 0x1F
    const __m128i stop = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), control), _mm_cmpeq_epi8(v, del));
    const int mask = _mm_movemask_epi8(stop);
    if (mask != 0) return p + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  while (p < n && is_field_char(s[p])) ++p;
  return p;
}

// The common head in one pass over its bytes: an origin-form target, HTTP/1.1 or 1.0, CRLF
// line ends, token names with plain values, complete and within every limit. It returns
// false for anything else (an incomplete head, an error, another target form, obs-fold),
// and the general parser below then gives the verdict. Accepting only what the general
// parser accepts, with the same result, is what makes the two agree; the fuzz target
// compares them on every input.
// (Views are built from the pointer and offsets, not copied from `out`'s fields: a view
// read back whole right after its two halves were stored stalls store forwarding, which
// cost a third of this function's time.)
bool parse_common(const char* s, std::size_t n, const Limits& limits, RequestHead& out) {
  std::size_t p = 0;
  while (p < n && is_tchar(s[p])) ++p;
  if (p == 0 || p == n || s[p] != ' ') return false;
  const std::size_t method_end = p++;
  if (p == n || s[p] != '/') return false;
  const std::size_t target = p;
  std::size_t query = npos;
  for (;;) {
    p = scan_target(s, p, n);
    if (p == n || s[p] != '?') break;
    if (query == npos) query = p;  // the first '?' starts the query; later ones belong to it
    ++p;
  }
  if (p == n || s[p] != ' ') return false;
  const std::size_t target_end = p++;
  if (n - p < 10 || std::memcmp(s + p, "HTTP/1.", 7) != 0 || (s[p + 7] != '1' && s[p + 7] != '0') ||
      s[p + 8] != '\r' || s[p + 9] != '\n') {
    return false;
  }
  const std::size_t line_end = p + 9;  // the request line's '\n'
  if (line_end - 1 > limits.max_request_line) return false;

  out.clear();
  out.method = std::string_view(s, method_end);
  out.target = std::string_view(s + target, target_end - target);
  if (query == npos) {
    out.path = std::string_view(s + target, target_end - target);
  } else {
    out.path = std::string_view(s + target, query - target);
    out.query = std::string_view(s + query + 1, target_end - query - 1);
  }
  out.version_minor = s[p + 7] == '1' ? 1 : 0;

  Framing f;
  p = line_end + 1;
  for (;;) {
    if (n - p < 2) return false;
    if (s[p] == '\r') {
      if (s[p + 1] != '\n') return false;
      p += 2;
      break;
    }
    const std::size_t name = p;
    while (p < n && is_tchar(s[p])) ++p;
    if (p == name || p == n || s[p] != ':') return false;
    const std::size_t name_end = p++;
    const std::size_t value = p;
    p = scan_value(s, p, n);
    if (n - p < 2 || s[p] != '\r' || s[p + 1] != '\n') return false;
    if (add_field(std::string_view(s + name, name_end - name), trim_ows(std::string_view(s + value, p - value)),
                  limits, out, f) != ParseError::kNone) {
      return false;
    }
    p += 2;
  }
  if (p - (line_end + 1) - 2 > limits.max_header_bytes) return false;
  if (finish_head(out, f, limits) != ParseError::kNone) return false;
  out.head_bytes = p;
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
  // One by one: a chained `a = b = {}` reads each view back right after storing it, which
  // stalls store forwarding (this function was 1.3% of a pipelined server's CPU).
  method = {};
  target = {};
  path = {};
  query = {};
  authority = {};
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
  if (scanned_ == 0 && parse_common(b.data(), b.size(), limits_, out)) return {Status::kComplete};

  // The general parser: every form, every error, and heads that arrive in pieces.
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
  Framing f;
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
      if (!is_field_char(c)) return fail(ParseError::kBadRequest);
    }
    const ParseError e = add_field(name, trim_ows(raw_value), limits_, out, f);
    if (e != ParseError::kNone) return fail(e);
  }
  const ParseError e = finish_head(out, f, limits_);
  if (e != ParseError::kNone) return fail(e);
  return {Status::kComplete};
}

}  // namespace ringactor::http

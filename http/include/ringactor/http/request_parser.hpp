// RequestParser: a strict, incremental HTTP/1.1 request-head parser (RFC 9112), and
// ChunkedDecoder for chunked request bodies.
//
// The parser works on views: a connection hands it every unconsumed byte as one contiguous
// run (the reactor keeps a partial request for it), and the parsed head points into that
// run: nothing is copied or allocated once a RequestHead's header array has grown to its
// largest size. parse() returns kIncomplete until the whole head (up to the blank line) is
// there, remembering how far it already searched so a slow sender costs linear time.
// Cost: a head that arrives whole in the common form (origin-form target, CRLF line ends)
// is read in one pass over its bytes (about 20 ns for a 50-byte GET, by profile); other forms,
// errors and heads in pieces take a second, general pass that gives the same verdict.
//
// Strictness, each failure with the status the server answers before closing: request line
// over its limit 414; header section or header count over their limits 431; malformed
// syntax, bare LF, obs-fold, control characters, a header without a colon, whitespace before
// the colon, a missing or repeated Host in HTTP/1.1, Content-Length with Transfer-Encoding,
// differing Content-Length values, chunked not last 400; a version other than 1.0/1.1 505;
// an unknown transfer coding 501; a declared body over the limit 413.
//
// Pure functions and plain objects: any thread, no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringactor::http {

// Why a request was refused. One line per value; status_of() maps each to its HTTP status.
enum class ParseError : std::uint8_t {
  kNone,
  kBadRequest,          // 400: malformed syntax or a forbidden construct (see above)
  kUriTooLong,          // 414: the request line passed Limits::max_request_line
  kHeadersTooLarge,     // 431: header bytes or header count passed their limits
  kPayloadTooLarge,     // 413: the declared or received body passed Limits::max_body
  kVersionNotSupported, // 505: HTTP version other than 1.0 and 1.1
  kNotImplemented,      // 501: a transfer coding other than chunked
};
int status_of(ParseError e) noexcept;
std::string_view to_string(ParseError e) noexcept;

struct Limits {
  std::size_t max_request_line = 8 * 1024;  // nginx's large_client_header_buffers order
  std::size_t max_header_bytes = 16 * 1024; // all header lines together
  std::size_t max_headers = 100;            // header count
  std::uint64_t max_body = 1024 * 1024;     // per-route overrides come with the router
};

struct Header {
  std::string_view name;   // as sent (compare case-insensitively)
  std::string_view value;  // surrounding whitespace removed
};

// A parsed request head. Views point into the bytes given to parse(); they stay valid as
// long as those bytes do. Reuse one object per connection or per reactor: clear() keeps the
// header array's capacity.
struct RequestHead {
  std::string_view method;
  std::string_view target;  // raw request-target
  std::string_view path;    // raw path (target without query; for absolute-form, after host)
  std::string_view query;   // after '?', without it; empty if none
  std::string_view authority;  // absolute-form authority if given (it wins), else Host
  int version_minor = 1;    // HTTP/1.<minor>
  std::vector<Header> headers;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;
  bool expect_continue = false;
  std::size_t head_bytes = 0;  // bytes of the head, including the blank line

  void clear() noexcept;
  // First header with this name (ASCII case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  // Body length to read: content_length, 0 when neither length nor chunked.
  bool has_body() const noexcept { return chunked || (content_length && *content_length > 0); }
};

class RequestParser {
 public:
  enum class Status : std::uint8_t { kComplete, kIncomplete, kError };
  struct Result {
    Status status;
    ParseError error = ParseError::kNone;
  };

  explicit RequestParser(Limits limits = {}) noexcept : limits_(limits) {}

  // Parses the head at the start of `bytes` (everything unconsumed on the connection).
  // kComplete fills `out` (out.head_bytes says how many bytes it used); kIncomplete means
  // call again with more bytes (the same prefix followed by new ones); kError says why.
  // `out` holds nothing meaningful unless kComplete.
  Result parse(std::string_view bytes, RequestHead& out);
  // Forget progress (after a complete head was consumed, or on a new connection).
  void reset() noexcept {
    scanned_ = 0;
    line_end_ = std::string_view::npos;
  }

  const Limits& limits() const noexcept { return limits_; }
  // True while a head is partly scanned (parse() returned kIncomplete since the last reset).
  bool scanning() const noexcept { return scanned_ != 0 || line_end_ != std::string_view::npos; }

 private:
  Limits limits_;
  std::size_t scanned_ = 0;   // bytes already searched for the end of the head
  std::size_t line_end_ = std::string_view::npos;  // the request line's end, once found
};

// Decodes a chunked body incrementally (RFC 9112 section 7.1), with trailers, enforcing a
// size limit. Feed it the bytes after the head; it hands out data as views and says how many
// input bytes it consumed.
class ChunkedDecoder {
 public:
  enum class Status : std::uint8_t { kData, kNeedMore, kDone, kError };
  // kData: `consumed` input bytes were used and `data` holds the body bytes among them
  // (empty when the step consumed only framing: a size line, a CRLF, a trailer).
  struct Step {
    Status status;
    std::size_t consumed = 0;     // input bytes used by this step
    std::string_view data;        // body bytes (a view into the input)
    ParseError error = ParseError::kNone;
  };

  explicit ChunkedDecoder(std::uint64_t max_body, std::size_t max_trailer_bytes = 16 * 1024) noexcept
      : max_body_(max_body), max_trailer_(max_trailer_bytes) {}

  // One step over `input` (the not yet consumed bytes). Call repeatedly, advancing the input
  // by `consumed`, until kNeedMore (call again when more bytes arrived), kDone or kError.
  Step next(std::string_view input) noexcept;
  std::uint64_t body_bytes() const noexcept { return total_; }
  bool done() const noexcept { return state_ == State::kDone; }

 private:
  enum class State : std::uint8_t { kSize, kData, kDataCrlf, kTrailers, kDone, kError };
  State state_ = State::kSize;
  std::uint64_t remaining_ = 0;  // bytes left in the current chunk
  std::uint64_t total_ = 0;
  std::uint64_t max_body_;
  std::size_t max_trailer_;
  std::size_t trailer_bytes_ = 0;
};

// Percent-decodes a request path into `out`. False for a malformed escape or an encoded NUL
// (both answered 400). '+' stays '+' (it means space only in form bodies).
bool percent_decode_path(std::string_view raw, std::string& out);

// ASCII case-insensitive comparison for header names and tokens.
bool iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace ringactor::http

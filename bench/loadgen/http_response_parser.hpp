// HttpResponseParser: an incremental HTTP/1.1 response parser that only finds where each
// response ends and what its status was, so that pipelined answers can be counted. A pure
// state machine over byte spans: no sockets, no clock, no allocation; one per connection,
// owned by the connection's worker thread. Bodies are skipped, never copied.
//
// Understands: the status line (HTTP/1.x DDD), Content-Length, Transfer-Encoding: chunked
// (chunk extensions and trailers skipped), a body delimited by the close, Connection: close,
// interim 1xx answers (not counted), and answers without a body (HEAD, 1xx, 204, 304).
// Lines are found with memchr and parsed in place; a line split across two reads keeps its
// first 64 bytes in the parser (enough for every header it reads), the rest is skipped.
//
// Sink (a template parameter, so the calls inline):
//   bool head_request();                     // does the next answer belong to a HEAD request?
//   void on_response(unsigned status, bool close);   // one complete answer
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace loadgen {

class HttpResponseParser {
 public:
  // What feed() found wrong; Ok while the input is well-formed so far. One line each:
  enum class Error : std::uint8_t {
    Ok,             // no error
    BadStatusLine,  // a response does not start with "HTTP/1.x DDD"
    BadHeader,      // a Content-Length that is not a number, or two that differ
    BadChunk,       // a chunk-size line that is not hex, or no CRLF after a chunk
    TooLarge,       // more than kMaxHead bytes of status line, headers or chunk lines
    Upgrade,        // a 101 Switching Protocols answer, which this client never asks for
  };
  static constexpr std::size_t kCarry = 64;
  static constexpr std::uint32_t kMaxHead = 1u << 20;

  // Consumes all of [p, p + n), calling sink.on_response() once per complete answer.
  // After an error the parser must be reset() (the connection is closed).
  template <class Sink>
  Error feed(const char* p, std::size_t n, Sink& sink) {
    const char* const end = p + n;
    while (p < end) {
      switch (state_) {
        case State::Body: {
          const std::size_t take = avail(p, end);
          p += take;
          remaining_ -= take;
          if (remaining_ == 0) complete(sink);
          break;
        }
        case State::ChunkData: {
          const std::size_t take = avail(p, end);
          p += take;
          remaining_ -= take;
          if (remaining_ == 0) state_ = State::ChunkEnd;
          break;
        }
        case State::BodyToEof:
          return Error::Ok;  // everything up to the close belongs to the body
        default: {
          const char* line;
          std::size_t len;
          if (!take_line(p, end, line, len)) {
            if (head_bytes_ > kMaxHead) return Error::TooLarge;
            return Error::Ok;
          }
          if (head_bytes_ > kMaxHead) return Error::TooLarge;
          const Error e = on_line(line, len, sink);
          if (e != Error::Ok) return e;
        }
      }
    }
    return Error::Ok;
  }

  // The peer closed. Completed: the close ended a body-to-EOF answer (counted now);
  // Idle: no answer was in progress; Truncated: an answer was cut short.
  enum class Eof : std::uint8_t { Completed, Idle, Truncated };
  template <class Sink>
  Eof finish(Sink& sink) {
    if (state_ == State::BodyToEof) {
      complete(sink);
      return Eof::Completed;
    }
    return idle() ? Eof::Idle : Eof::Truncated;
  }

  // True between answers (no byte of the next one seen yet).
  bool idle() const { return state_ == State::StatusLine && carry_len_ == 0; }
  void reset() { *this = HttpResponseParser{}; }

 private:
  enum class State : std::uint8_t {
    StatusLine,
    Headers,
    Body,
    BodyToEof,
    ChunkSize,
    ChunkData,
    ChunkEnd,
    Trailers
  };

  std::size_t avail(const char* p, const char* end) const {
    const auto have = static_cast<std::size_t>(end - p);
    return remaining_ < have ? static_cast<std::size_t>(remaining_) : have;
  }

  void carry(const char* p, std::size_t n) {
    const std::size_t room = kCarry - carry_len_;
    if (n > room) {
      truncated_ = true;
      n = room;
    }
    std::memcpy(carry_ + carry_len_, p, n);
    carry_len_ = static_cast<std::uint8_t>(carry_len_ + n);
  }

  // The next complete line (without its CR LF), in place when it lies whole in the input,
  // else assembled in carry_. False when the input ends inside the line (kept for later).
  bool take_line(const char*& p, const char* end, const char*& line, std::size_t& len) {
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (nl == nullptr) {
      head_bytes_ += static_cast<std::uint32_t>(end - p);
      carry(p, static_cast<std::size_t>(end - p));
      p = end;
      return false;
    }
    head_bytes_ += static_cast<std::uint32_t>(nl + 1 - p);
    if (carry_len_ == 0) {
      line = p;
      len = static_cast<std::size_t>(nl - p);
    } else {
      carry(p, static_cast<std::size_t>(nl - p));
      line = carry_;
      len = carry_len_;
      carry_len_ = 0;
      truncated_ = false;
    }
    p = nl + 1;
    if (len != 0 && line[len - 1] == '\r') --len;
    return true;
  }

  // Case-insensitive prefix test against a lower-case header name followed by ':'.
  static bool is_header(const char* line, std::size_t len, const char* name, std::size_t n) {
    if (len <= n || line[n] != ':') return false;
    for (std::size_t i = 0; i < n; ++i)
      if ((line[i] | 0x20) != name[i]) return false;
    return true;
  }
  static bool contains_token(const char* v, std::size_t len, const char* tok, std::size_t n) {
    for (std::size_t i = 0; i + n <= len; ++i) {
      std::size_t k = 0;
      while (k < n && (v[i + k] | 0x20) == tok[k]) ++k;
      if (k == n) return true;
    }
    return false;
  }

  template <class Sink>
  Error on_line(const char* line, std::size_t len, Sink& sink) {
    switch (state_) {
      case State::StatusLine:
        return status_line(line, len, sink);
      case State::Headers:
        return len == 0 ? end_of_head(sink) : header(line, len);
      case State::ChunkSize:
        return chunk_size(line, len);
      case State::ChunkEnd:
        if (len != 0) return Error::BadChunk;
        state_ = State::ChunkSize;
        return Error::Ok;
      case State::Trailers:
        if (len == 0) complete(sink);
        return Error::Ok;
      default:
        return Error::Ok;
    }
  }

  template <class Sink>
  Error status_line(const char* s, std::size_t len, Sink& sink) {
    if (len < 12 || std::memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ' || (len > 12 && s[12] != ' '))
      return Error::BadStatusLine;
    unsigned st = 0;
    for (int i = 9; i < 12; ++i) {
      const unsigned d = static_cast<unsigned char>(s[i]) - '0';
      if (d > 9) return Error::BadStatusLine;
      st = st * 10 + d;
    }
    if (st < 100) return Error::BadStatusLine;
    status_ = static_cast<std::uint16_t>(st);
    no_body_ = st < 200 || st == 204 || st == 304 || sink.head_request();
    chunked_ = has_length_ = close_ = false;
    remaining_ = 0;
    state_ = State::Headers;
    return Error::Ok;
  }

  Error header(const char* h, std::size_t len) {
    const char c = static_cast<char>(h[0] | 0x20);
    if (c == 'c') {
      if (is_header(h, len, "content-length", 14)) {
        std::size_t i = 15;
        while (i < len && (h[i] == ' ' || h[i] == '\t')) ++i;
        std::uint64_t v = 0;
        std::size_t digits = 0;
        for (; i < len && h[i] >= '0' && h[i] <= '9'; ++i, ++digits)
          v = v * 10 + static_cast<unsigned>(h[i] - '0');
        while (i < len && (h[i] == ' ' || h[i] == '\t')) ++i;
        if (digits == 0 || digits > 18 || i != len || (has_length_ && v != remaining_))
          return Error::BadHeader;
        has_length_ = true;
        remaining_ = v;
      } else if (is_header(h, len, "connection", 10)) {
        if (contains_token(h + 11, len - 11, "close", 5)) close_ = true;
      }
    } else if (c == 't' && is_header(h, len, "transfer-encoding", 17)) {
      chunked_ = contains_token(h + 18, len - 18, "chunked", 7);
    }
    return Error::Ok;
  }

  template <class Sink>
  Error end_of_head(Sink& sink) {
    if (status_ == 101) return Error::Upgrade;
    if (status_ < 200) {  // interim answer: the real one follows
      state_ = State::StatusLine;
      head_bytes_ = 0;
      return Error::Ok;
    }
    if (no_body_) {
      complete(sink);
    } else if (chunked_) {
      state_ = State::ChunkSize;
    } else if (has_length_) {
      if (remaining_ == 0)
        complete(sink);
      else
        state_ = State::Body;
    } else {
      state_ = State::BodyToEof;
      close_ = true;
    }
    return Error::Ok;
  }

  Error chunk_size(const char* s, std::size_t len) {
    std::uint64_t v = 0;
    std::size_t i = 0;
    for (; i < len; ++i) {
      const char ch = s[i];
      unsigned d;
      if (ch >= '0' && ch <= '9')
        d = static_cast<unsigned>(ch - '0');
      else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
        d = static_cast<unsigned>((ch | 0x20) - 'a' + 10);
      else
        break;
      if (i >= 15) return Error::BadChunk;
      v = v * 16 + d;
    }
    if (i == 0 || (i < len && s[i] != ';' && s[i] != ' ' && s[i] != '\t')) return Error::BadChunk;
    if (v == 0) {
      state_ = State::Trailers;
    } else {
      remaining_ = v;
      state_ = State::ChunkData;
    }
    return Error::Ok;
  }

  template <class Sink>
  void complete(Sink& sink) {
    state_ = State::StatusLine;
    head_bytes_ = 0;
    sink.on_response(status_, close_);
  }

  std::uint64_t remaining_ = 0;   // body or chunk bytes still to skip
  std::uint32_t head_bytes_ = 0;  // line bytes of the current answer, against kMaxHead
  std::uint16_t status_ = 0;
  State state_ = State::StatusLine;
  std::uint8_t carry_len_ = 0;
  bool truncated_ = false;  // the carried line was longer than kCarry
  bool no_body_ = false;
  bool chunked_ = false;
  bool has_length_ = false;
  bool close_ = false;
  char carry_[kCarry];
};

}  // namespace loadgen

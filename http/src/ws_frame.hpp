// WebSocket framing (RFC 6455 section 5): frame headers, masking, UTF-8 validation, close
// payloads, and the MessageReader that turns a client's bytes into messages and control
// frames, enforcing every rule with its close code. Not installed; the WebSocket
// connection actor and the fuzz target drive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "ringactor/http/websocket.hpp"

namespace ringactor::http::detail::ws {

// Incremental UTF-8 validation (RFC 3629): rejects overlong forms, surrogates, code points
// above U+10FFFF and stray continuation bytes at the first byte that makes the text
// invalid, across any split of the input.
class Utf8Validator {
 public:
  // False from the first invalid byte on.
  bool feed(std::string_view bytes) noexcept;
  // True when everything fed so far is valid and ends on a whole character.
  bool complete() const noexcept { return !failed_ && need_ == 0; }
  void reset() noexcept { *this = Utf8Validator(); }

 private:
  std::uint8_t need_ = 0;  // continuation bytes still expected
  std::uint8_t lo_ = 0x80, hi_ = 0xBF;  // the range allowed for the next continuation byte
  bool failed_ = false;
};

bool valid_utf8(std::string_view bytes) noexcept;

// A close code a peer may send (RFC 6455 7.4): 1000-1003, 1007-1014, 3000-4999.
bool valid_close_code(unsigned code) noexcept;

struct FrameHeader {
  std::uint64_t length = 0;
  std::uint8_t mask[4] = {0, 0, 0, 0};
  std::uint8_t opcode = 0;
  std::uint8_t header_bytes = 0;
  bool fin = false;
  bool rsv1 = false;
  bool rsv23 = false;  // RSV2 or RSV3 set (no extension of ours uses them)
  bool masked = false;
};

// Parses the frame header at the start of `in`: its size, or 0 while it is incomplete. A
// 64-bit length with the top bit set is reported as is; MessageReader rejects it.
std::size_t parse_header(std::string_view in, FrameHeader& h) noexcept;

// Writes a server frame header (never masked) into `out` (at least 10 bytes): its size.
std::size_t write_header(char* out, WsOpcode op, std::uint64_t length, bool fin = true, bool rsv1 = false) noexcept;

// Copies `n` bytes from `from` to `to`, XORed with the mask starting at mask byte `phase`.
void unmask_copy(char* to, const char* from, std::size_t n, const std::uint8_t mask[4], std::size_t phase) noexcept;

// A growable byte buffer that keeps its capacity (no zero-fill on growth, unlike
// std::string::resize): the reader's and the compressors' working memory.
class Buffer {
 public:
  char* data() noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return cap_; }
  std::string_view view() const noexcept { return {data_.get(), size_}; }
  void clear() noexcept { size_ = 0; }
  void resize_down(std::size_t n) noexcept { size_ = n < size_ ? n : size_; }
  // Makes room for `n` more bytes and returns where they go; size() grows by n.
  char* extend(std::size_t n);
  // Frees the memory if it grew past `keep` (a large message should not stay resident).
  void trim(std::size_t keep) noexcept;

 private:
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};

// Raw DEFLATE decompression for permessage-deflate (RFC 7692 7.2.2), bounded: a message
// that would inflate past the limit is refused (1009) before the memory is spent. Keeps the
// sliding window between messages unless reset per message (client_no_context_takeover).
class Inflater {
 public:
  explicit Inflater(int window_bits = 15);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  enum class Status { kOk, kTooLarge, kCorrupt };
  // Inflates one whole message (the 00 00 FF FF tail is added here) and appends it to
  // `out`, at most `limit` bytes in all.
  Status inflate(std::string_view compressed, Buffer& out, std::size_t limit, bool reset_after);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// What the reader needs from its surroundings: the limits of the route, the negotiated
// extension, and buffers shared by the connections of one thread (the whole-frame path
// writes there instead of into per-connection memory).
struct ReaderConfig {
  std::size_t max_message = 1 << 20;
  bool deflate = false;               // RSV1 may be set on a message's first frame
  bool reset_inflater = false;        // client_no_context_takeover: no window between messages
};
struct ReaderScratch {
  Buffer frame;    // an unmasked frame or message
  Buffer message;  // an inflated message
};

// Raw DEFLATE compression of whole messages for permessage-deflate (the trailing 00 00 FF
// FF removed, RFC 7692 7.2.1). Without context takeover each message starts afresh.
class Deflater {
 public:
  Deflater(int window_bits, bool context_takeover);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  // Appends the compressed form of `message` to `out`. False if zlib failed (out of memory).
  bool deflate(std::string_view message, Buffer& out);

 private:
  struct State;
  std::unique_ptr<State> s_;
  bool takeover_;
};

// The state of a message in progress (a frame split across reads, the fragments gathered
// so far); allocated only then, so an idle connection holds one null pointer.
struct Partial;
void destroy(Partial* p) noexcept;
// Frees the state of a message that was delivered (its payload view is no longer needed),
// so a large message does not stay resident on an idle connection.
void release_delivered(Partial*& p) noexcept;

// Turns a client's bytes into events, one per next() call, over a state pointer the caller
// keeps (null while no message is in progress).
class MessageReader {
 public:
  enum class Event : std::uint8_t { kNeedMore, kMessage, kPing, kPong, kClose, kError };
  struct Result {
    Event event = Event::kNeedMore;
    std::size_t consumed = 0;           // bytes of the input used (also for kNeedMore)
    WsOpcode opcode = WsOpcode::kText;  // kMessage: text or binary
    std::string_view payload;           // kMessage / kPing / kPong: valid until the next call; kClose: the reason
    std::uint16_t code = 0;             // kClose: the code (1005 when the frame had none); kError: ours to send
    const char* why = "";               // kError: what was wrong (for logs and the close reason)
  };

  explicit MessageReader(Partial*& state) noexcept : p_(state) {}

  // Reads from `in` until one event. After kError the state must only be destroyed.
  // `inflater` is required when cfg.deflate is set.
  Result next(std::string_view in, const ReaderConfig& cfg, ReaderScratch& scratch, Inflater* inflater);

 private:
  Result fail(std::size_t consumed, std::uint16_t code, const char* why);
  Result message(std::size_t consumed, std::string_view body, WsOpcode op, bool compressed, bool utf8_checked,
                 const ReaderConfig& cfg, ReaderScratch& scratch, Inflater* inflater);
  Result control(std::size_t consumed, std::uint8_t opcode, std::string_view payload);
  Partial& partial();
  Partial*& p_;
};

}  // namespace ringactor::http::detail::ws

// WebSocket framing for the client side (RFC 6455): an incremental parser of server frames
// and a writer of masked client frames. Pure functions and a state machine over byte spans:
// no sockets, clock or allocation. One parser per connection, owned by its worker thread.
//
// The parser never buffers a message: it keeps the first kHead bytes of each data message
// (where loadgen puts its send timestamp and sender id) and counts the rest, and keeps
// control frames' payloads (at most 125 bytes) whole.
//
// Sink (a template parameter):
//   void on_message(std::uint8_t opcode, const unsigned char* head, std::size_t head_len,
//                   std::uint64_t len);        // a complete data message (all fragments)
//   void on_control(std::uint8_t opcode, const unsigned char* payload, std::size_t len);
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace loadgen {

enum WsOpcode : std::uint8_t {
  kWsCont = 0,
  kWsText = 1,
  kWsBinary = 2,
  kWsClose = 8,
  kWsPing = 9,
  kWsPong = 10
};

// Head: how many leading bytes of each data message are kept (16 for loadgen's echo and
// rooms modes; the arena bots keep a whole state frame's header and seat lines, and whole
// small text events).
template <std::size_t Head>
class BasicWsFrameParser {
 public:
  static constexpr std::size_t kHead = Head;
  static_assert(Head <= 65535);
  // What feed() found wrong, one line each:
  enum class Error : std::uint8_t {
    Ok,          // no error
    Masked,      // a server frame with the mask bit set (RFC 6455 5.1 forbids it)
    Reserved,    // RSV bits set without a negotiated extension
    BadOpcode,   // an unknown opcode, or a continuation outside a message, or a new message inside one
    BadControl,  // a control frame that is fragmented or longer than 125 bytes
  };

  template <class Sink>
  Error feed(const char* in, std::size_t n, Sink& sink) {
    const auto* p = reinterpret_cast<const unsigned char*>(in);
    const unsigned char* const end = p + n;
    while (p < end) {
      if (in_header_) {
        // Gather the 2..14 header bytes (all at once when they lie whole in the input).
        while (hdr_len_ < need_ && p < end) {
          hdr_[hdr_len_++] = *p++;
          if (hdr_len_ == 2) {
            const unsigned ext = (hdr_[1] & 0x7f) == 126 ? 2 : (hdr_[1] & 0x7f) == 127 ? 8 : 0;
            need_ = static_cast<std::uint8_t>(2 + ext + ((hdr_[1] & 0x80) ? 4 : 0));
          }
        }
        if (hdr_len_ < need_) return Error::Ok;
        const Error e = start_frame();
        if (e != Error::Ok) return e;
        if (remaining_ == 0) end_frame(sink);
        continue;
      }
      const auto have = static_cast<std::size_t>(end - p);
      const std::size_t take = remaining_ < have ? static_cast<std::size_t>(remaining_) : have;
      if (opcode_ >= kWsClose) {
        std::memcpy(ctl_ + ctl_len_, p, take);
        ctl_len_ = static_cast<std::uint8_t>(ctl_len_ + take);
      } else {
        if (head_len_ < kHead) {
          const std::size_t k = take < kHead - head_len_ ? take : kHead - head_len_;
          std::memcpy(head_ + head_len_, p, k);
          head_len_ = static_cast<std::uint16_t>(head_len_ + k);
        }
        msg_len_ += take;
      }
      p += take;
      remaining_ -= take;
      if (remaining_ == 0) end_frame(sink);
    }
    return Error::Ok;
  }

  void reset() { *this = BasicWsFrameParser{}; }

 private:
  Error start_frame() {
    const std::uint8_t b0 = hdr_[0];
    const std::uint8_t b1 = hdr_[1];
    if (b1 & 0x80) return Error::Masked;
    if (b0 & 0x70) return Error::Reserved;
    fin_ = (b0 & 0x80) != 0;
    opcode_ = b0 & 0x0f;
    std::uint64_t len = b1 & 0x7f;
    if (len == 126) {
      len = (std::uint64_t{hdr_[2]} << 8) | hdr_[3];
    } else if (len == 127) {
      len = 0;
      for (int i = 2; i < 10; ++i) len = (len << 8) | hdr_[i];
    }
    if (opcode_ >= kWsClose) {
      if (opcode_ > kWsPong) return Error::BadOpcode;
      if (!fin_ || len > 125) return Error::BadControl;
      ctl_len_ = 0;
    } else if (opcode_ == kWsCont) {
      if (!in_message_) return Error::BadOpcode;
    } else if (opcode_ == kWsText || opcode_ == kWsBinary) {
      if (in_message_) return Error::BadOpcode;
      in_message_ = true;
      msg_opcode_ = opcode_;
      msg_len_ = 0;
      head_len_ = 0;
    } else {
      return Error::BadOpcode;
    }
    remaining_ = len;
    in_header_ = false;
    hdr_len_ = 0;
    need_ = 2;
    return Error::Ok;
  }

  template <class Sink>
  void end_frame(Sink& sink) {
    in_header_ = true;
    if (opcode_ >= kWsClose) {
      sink.on_control(opcode_, ctl_, ctl_len_);
    } else if (fin_) {
      in_message_ = false;
      sink.on_message(msg_opcode_, head_, head_len_, msg_len_);
    }
  }

  std::uint64_t remaining_ = 0;  // payload bytes of the current frame still to come
  std::uint64_t msg_len_ = 0;    // payload bytes of the current message so far
  bool in_header_ = true;
  bool in_message_ = false;  // a data message is open (more fragments follow)
  bool fin_ = false;
  std::uint8_t opcode_ = 0;      // of the current frame
  std::uint8_t msg_opcode_ = 0;  // of the current message (text or binary)
  std::uint8_t hdr_len_ = 0;
  std::uint8_t need_ = 2;  // header bytes needed so far (2, then the full length)
  std::uint16_t head_len_ = 0;
  std::uint8_t ctl_len_ = 0;
  unsigned char hdr_[14];
  unsigned char head_[kHead];
  unsigned char ctl_[125];
};

using WsFrameParser = BasicWsFrameParser<16>;

// Writes a final, masked client frame header for `len` payload bytes; returns its size
// (6, 8 or 14 bytes). The payload must follow, masked with ws_mask() and the same key.
inline std::size_t ws_frame_header(char* out, std::uint8_t opcode, std::uint64_t len, std::uint32_t key) {
  auto* o = reinterpret_cast<unsigned char*>(out);
  o[0] = static_cast<unsigned char>(0x80 | opcode);
  std::size_t h;
  if (len < 126) {
    o[1] = static_cast<unsigned char>(0x80 | len);
    h = 2;
  } else if (len <= 0xffff) {
    o[1] = 0x80 | 126;
    o[2] = static_cast<unsigned char>(len >> 8);
    o[3] = static_cast<unsigned char>(len);
    h = 4;
  } else {
    o[1] = 0x80 | 127;
    for (int i = 0; i < 8; ++i) o[2 + i] = static_cast<unsigned char>(len >> (56 - 8 * i));
    h = 10;
  }
  std::memcpy(o + h, &key, 4);
  return h + 4;
}

// XORs n bytes with the 4-byte masking key (as laid out in memory by ws_frame_header),
// starting at payload offset 0.
inline void ws_mask(char* p, std::size_t n, std::uint32_t key) {
  const std::uint64_t k8 = (std::uint64_t{key} << 32) | key;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= k8;
    std::memcpy(p + i, &v, 8);
  }
  const auto* kb = reinterpret_cast<const unsigned char*>(&key);
  for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ kb[i & 3]);
}

// Appends one final masked client frame (opcode, payload [p, p + n)) to `out`.
template <class Buffer>
void ws_append_frame(Buffer& out, std::uint8_t opcode, const char* p, std::size_t n, std::uint32_t key) {
  const std::size_t old = out.size();
  out.resize(old + 14 + n);
  const std::size_t h = ws_frame_header(out.data() + old, opcode, n, key);
  if (n != 0) std::memcpy(out.data() + old + h, p, n);
  ws_mask(out.data() + old + h, n, key);
  out.resize(old + h + n);
}

}  // namespace loadgen

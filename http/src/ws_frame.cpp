// WebSocket framing: headers, masking, UTF-8, close payloads, the message reader, and the
// zlib (de)compressors of permessage-deflate.
#include "ws_frame.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

namespace ringactor::http::detail::ws {

// ---- UTF-8 ------------------------------------------------------------------------------

bool Utf8Validator::feed(std::string_view bytes) noexcept {
  if (failed_) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  std::uint8_t need = need_, lo = lo_, hi = hi_;
  while (i < n) {
    if (need == 0) {
      // ASCII runs, eight bytes at a time.
      while (i + 8 <= n) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        if ((w & 0x8080808080808080ull) != 0) break;
        i += 8;
      }
      if (i == n) break;
      const unsigned c = p[i++];
      if (c < 0x80) continue;
      if (c < 0xC2) {  // a continuation byte, or an overlong 2-byte lead (C0, C1)
        failed_ = true;
        return false;
      }
      if (c < 0xE0) {
        need = 1;
        lo = 0x80;
        hi = 0xBF;
      } else if (c < 0xF0) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F would be overlong
        hi = c == 0xED ? 0x9F : 0xBF;  // ED A0..BF are surrogates
      } else if (c < 0xF5) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80;  // F0 80..8F would be overlong
        hi = c == 0xF4 ? 0x8F : 0xBF;  // F4 90.. is above U+10FFFF
      } else {
        failed_ = true;
        return false;
      }
      continue;
    }
    const unsigned c = p[i++];
    if (c < lo || c > hi) {
      failed_ = true;
      return false;
    }
    lo = 0x80;
    hi = 0xBF;
    --need;
  }
  need_ = need;
  lo_ = lo;
  hi_ = hi;
  return true;
}

bool valid_utf8(std::string_view bytes) noexcept {
  Utf8Validator v;
  return v.feed(bytes) && v.complete();
}

bool valid_close_code(unsigned code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

// ---- frame headers and masking ----------------------------------------------------------

std::size_t parse_header(std::string_view in, FrameHeader& h) noexcept {
  if (in.size() < 2) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  h.fin = (p[0] & 0x80) != 0;
  h.rsv1 = (p[0] & 0x40) != 0;
  h.rsv23 = (p[0] & 0x30) != 0;
  h.opcode = p[0] & 0x0F;
  h.masked = (p[1] & 0x80) != 0;
  std::size_t n = 2;
  const unsigned len7 = p[1] & 0x7F;
  if (len7 < 126) {
    h.length = len7;
  } else if (len7 == 126) {
    if (in.size() < 4) return 0;
    h.length = (std::uint64_t{p[2]} << 8) | p[3];
    n = 4;
  } else {
    if (in.size() < 10) return 0;
    h.length = 0;
    for (int i = 0; i < 8; ++i) h.length = (h.length << 8) | p[2 + i];
    n = 10;
  }
  if (h.masked) {
    if (in.size() < n + 4) return 0;
    std::memcpy(h.mask, p + n, 4);
    n += 4;
  } else {
    std::memset(h.mask, 0, 4);
  }
  h.header_bytes = static_cast<std::uint8_t>(n);
  return n;
}

std::size_t write_header(char* out, WsOpcode op, std::uint64_t length, bool fin, bool rsv1) noexcept {
  auto* p = reinterpret_cast<unsigned char*>(out);
  p[0] = static_cast<unsigned char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<unsigned>(op));
  if (length < 126) {
    p[1] = static_cast<unsigned char>(length);
    return 2;
  }
  if (length <= 0xFFFF) {
    p[1] = 126;
    p[2] = static_cast<unsigned char>(length >> 8);
    p[3] = static_cast<unsigned char>(length);
    return 4;
  }
  p[1] = 127;
  for (int i = 0; i < 8; ++i) p[2 + i] = static_cast<unsigned char>(length >> (56 - 8 * i));
  return 10;
}

void unmask_copy(char* to, const char* from, std::size_t n, const std::uint8_t mask[4], std::size_t phase) noexcept {
  std::uint8_t m[4];
  for (int i = 0; i < 4; ++i) m[i] = mask[(phase + static_cast<std::size_t>(i)) & 3];
  std::uint32_t m32;
  std::memcpy(&m32, m, 4);
  const std::uint64_t m64 = (std::uint64_t{m32} << 32) | m32;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, from + i, 8);
    w ^= m64;
    std::memcpy(to + i, &w, 8);
  }
  for (; i < n; ++i) to[i] = static_cast<char>(from[i] ^ static_cast<char>(m[i & 3]));
}

// ---- Buffer ------------------------------------------------------------------------------

char* Buffer::extend(std::size_t n) {
  if (n > cap_ - size_) {
    const std::size_t need = size_ + n;
    std::size_t cap = std::max<std::size_t>(cap_ * 2, 256);
    if (cap < need) cap = need;
    auto grown = std::make_unique_for_overwrite<char[]>(cap);
    if (size_ != 0) std::memcpy(grown.get(), data_.get(), size_);
    data_ = std::move(grown);
    cap_ = cap;
  }
  char* at = data_.get() + size_;
  size_ += n;
  return at;
}

void Buffer::trim(std::size_t keep) noexcept {
  if (cap_ <= keep) return;
  data_.reset();
  cap_ = size_ = 0;
}

// ---- zlib --------------------------------------------------------------------------------

namespace {
constexpr unsigned char kTail[4] = {0x00, 0x00, 0xFF, 0xFF};
}

struct Inflater::State {
  z_stream z{};
};

Inflater::Inflater(int window_bits) : s_(std::make_unique<State>()) {
  if (inflateInit2(&s_->z, -std::clamp(window_bits, 9, 15)) != Z_OK) throw std::bad_alloc();
}

Inflater::~Inflater() { inflateEnd(&s_->z); }

Inflater::Status Inflater::inflate(std::string_view compressed, Buffer& out, std::size_t limit, bool reset_after) {
  z_stream& z = s_->z;
  if (compressed.size() > 0xFFFFFFFFu) return Status::kTooLarge;
  const std::size_t start = out.size();
  Status status = Status::kOk;
  try {
    // The message, then the tail the sender removed (RFC 7692 7.2.2); a message that ends
    // with a final block (BFINAL, 7.2.3.4) has no tail to add, and nothing may follow it.
    bool ended = false;
    for (int part = 0; part < 2 && status == Status::kOk && !ended; ++part) {
      z.next_in = part == 0 ? reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data())) : const_cast<Bytef*>(kTail);
      z.avail_in = part == 0 ? static_cast<uInt>(compressed.size()) : 4;
      for (;;) {
        const std::size_t produced = out.size() - start;
        // One byte beyond the limit tells a message that is too large from one that fits.
        const std::size_t room =
            std::min<std::size_t>({std::max<std::size_t>(16 * 1024, produced), limit - produced + 1, std::size_t{1} << 30});
        char* at = out.extend(room);
        z.next_out = reinterpret_cast<Bytef*>(at);
        z.avail_out = static_cast<uInt>(room);
        const int rc = ::inflate(&z, Z_SYNC_FLUSH);
        out.resize_down(out.size() - z.avail_out);
        if (out.size() - start > limit) {
          status = Status::kTooLarge;
          break;
        }
        if (rc == Z_STREAM_END) {
          if (part == 0 && z.avail_in != 0) status = Status::kCorrupt;  // bytes after the final block
          inflateReset(&z);  // a later message starts a new stream (no window survives a final block)
          ended = true;
          break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
          status = Status::kCorrupt;
          break;
        }
        if (z.avail_out != 0) break;  // all input taken (or more needed): this part is done
      }
    }
  } catch (...) {
    inflateReset(&z);  // a half-read stream must not leak into the next message (or client)
    throw;
  }
  if (status != Status::kOk || reset_after) inflateReset(&z);
  return status;
}

struct Deflater::State {
  z_stream z{};
};

Deflater::Deflater(int window_bits, bool context_takeover) : s_(std::make_unique<State>()), takeover_(context_takeover) {
  // Memory level 8 (zlib's default) and a raw stream of the negotiated window.
  if (deflateInit2(&s_->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -std::clamp(window_bits, 9, 15), 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw std::bad_alloc();
  }
}

Deflater::~Deflater() { deflateEnd(&s_->z); }

bool Deflater::deflate(std::string_view message, Buffer& out) {
  z_stream& z = s_->z;
  const std::size_t start = out.size();
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z.avail_in = static_cast<uInt>(message.size());
  for (;;) {
    const std::size_t room = deflateBound(&z, static_cast<uLong>(z.avail_in)) + 16;
    char* at = out.extend(room);
    z.next_out = reinterpret_cast<Bytef*>(at);
    z.avail_out = static_cast<uInt>(room);
    const int rc = ::deflate(&z, Z_SYNC_FLUSH);
    out.resize_down(out.size() - z.avail_out);
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      deflateReset(&z);
      out.resize_down(start);
      return false;
    }
    if (z.avail_in == 0 && z.avail_out != 0) break;
  }
  // Z_SYNC_FLUSH ends with an empty stored block, 00 00 FF FF: the receiver adds it back.
  if (out.size() - start >= 4 && std::memcmp(out.data() + out.size() - 4, kTail, 4) == 0) out.resize_down(out.size() - 4);
  if (!takeover_) deflateReset(&z);
  return true;
}

// ---- MessageReader -----------------------------------------------------------------------

struct Partial {
  Buffer msg;                 // the message's payload so far (unmasked; compressed if it is)
  Utf8Validator utf8;         // for uncompressed text, as fragments arrive
  std::uint64_t msg_len = 0;  // payload bytes announced by the frames so far
  std::uint64_t frame_left = 0;
  std::uint8_t mask[4] = {0, 0, 0, 0};
  std::uint8_t phase = 0;
  WsOpcode op = WsOpcode::kText;
  bool in_message = false;
  bool in_frame = false;
  bool frame_fin = false;
  bool compressed = false;
  bool delivered = false;  // the message was handed out: free this once it has been handled
};

void destroy(Partial* p) noexcept { delete p; }

void release_delivered(Partial*& p) noexcept {
  if (p != nullptr && p->delivered) {
    delete p;
    p = nullptr;
  }
}

Partial& MessageReader::partial() {
  if (p_ == nullptr) p_ = new Partial();
  return *p_;
}

MessageReader::Result MessageReader::fail(std::size_t consumed, std::uint16_t code, const char* why) {
  Result r;
  r.event = Event::kError;
  r.consumed = consumed;
  r.code = code;
  r.why = why;
  return r;
}

MessageReader::Result MessageReader::control(std::size_t consumed, std::uint8_t opcode, std::string_view payload) {
  Result r;
  r.consumed = consumed;
  if (opcode == 9) {
    r.event = Event::kPing;
    r.payload = payload;
    return r;
  }
  if (opcode == 10) {
    r.event = Event::kPong;
    r.payload = payload;
    return r;
  }
  // Close (RFC 6455 5.5.1, 7.4).
  if (payload.size() == 1) return fail(consumed, ws_close::kProtocolError, "close frame with a 1-byte payload");
  r.event = Event::kClose;
  if (payload.empty()) {
    r.code = ws_close::kNoStatus;
    return r;
  }
  const unsigned code = (static_cast<unsigned>(static_cast<unsigned char>(payload[0])) << 8) |
                        static_cast<unsigned char>(payload[1]);
  if (!valid_close_code(code)) return fail(consumed, ws_close::kProtocolError, "invalid close code");
  const std::string_view reason = payload.substr(2);
  if (!valid_utf8(reason)) return fail(consumed, ws_close::kInvalidPayload, "close reason is not UTF-8");
  r.code = static_cast<std::uint16_t>(code);
  r.payload = reason;
  return r;
}

MessageReader::Result MessageReader::message(std::size_t consumed, std::string_view body, WsOpcode op, bool compressed,
                                             bool utf8_checked, const ReaderConfig& cfg, ReaderScratch& scratch,
                                             Inflater* inflater) {
  if (compressed) {
    scratch.message.clear();
    switch (inflater->inflate(body, scratch.message, cfg.max_message, cfg.reset_inflater)) {
      case Inflater::Status::kOk:
        break;
      case Inflater::Status::kTooLarge:
        return fail(consumed, ws_close::kTooBig, "message too big once inflated");
      case Inflater::Status::kCorrupt:
        return fail(consumed, ws_close::kInvalidPayload, "compressed data is corrupt");
    }
    body = scratch.message.view();
    utf8_checked = false;
  }
  if (op == WsOpcode::kText && !utf8_checked && !valid_utf8(body)) {
    return fail(consumed, ws_close::kInvalidPayload, "text message is not UTF-8");
  }
  Result r;
  r.event = Event::kMessage;
  r.consumed = consumed;
  r.opcode = op;
  r.payload = body;
  return r;
}

MessageReader::Result MessageReader::next(std::string_view in, const ReaderConfig& cfg, ReaderScratch& scratch,
                                          Inflater* inflater) {
  if (p_ != nullptr && p_->delivered) {  // the last message's bytes are no longer needed
    destroy(p_);
    p_ = nullptr;
  }
  std::size_t off = 0;
  for (;;) {
    if (p_ != nullptr && p_->in_frame) {
      // The rest of a data frame's payload, as far as this input goes.
      Partial& q = *p_;
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(q.frame_left, in.size() - off));
      if (take != 0) {
        char* at = q.msg.extend(take);
        unmask_copy(at, in.data() + off, take, q.mask, q.phase);
        q.phase = static_cast<std::uint8_t>((q.phase + take) & 3);
        q.frame_left -= take;
        off += take;
        if (q.op == WsOpcode::kText && !q.compressed && !q.utf8.feed(std::string_view(at, take))) {
          return fail(off, ws_close::kInvalidPayload, "text message is not UTF-8");
        }
      }
      if (q.frame_left != 0) {
        Result r;
        r.consumed = off;
        return r;
      }
      q.in_frame = false;
      if (!q.frame_fin) continue;
      q.in_message = false;
      q.delivered = true;
      if (q.op == WsOpcode::kText && !q.compressed && !q.utf8.complete()) {
        return fail(off, ws_close::kInvalidPayload, "text message ends inside a character");
      }
      return message(off, q.msg.view(), q.op, q.compressed, true, cfg, scratch, inflater);
    }

    FrameHeader h;
    const std::size_t hn = parse_header(in.substr(off), h);
    if (hn == 0) {
      Result r;
      r.consumed = off;
      return r;
    }
    if (!h.masked) return fail(off, ws_close::kProtocolError, "client frame is not masked");
    if (h.rsv23) return fail(off, ws_close::kProtocolError, "RSV2 or RSV3 set without an extension");
    const std::size_t avail = in.size() - off - hn;
    if ((h.opcode & 0x8) != 0) {
      if (h.opcode > 10) return fail(off, ws_close::kProtocolError, "reserved control opcode");
      if (!h.fin) return fail(off, ws_close::kProtocolError, "fragmented control frame");
      if (h.length > 125) return fail(off, ws_close::kProtocolError, "control frame payload over 125 bytes");
      if (h.rsv1) return fail(off, ws_close::kProtocolError, "RSV1 set on a control frame");
      if (avail < h.length) {  // at most 131 bytes: wait for all of it
        Result r;
        r.consumed = off;
        return r;
      }
      const std::size_t n = static_cast<std::size_t>(h.length);
      scratch.frame.clear();
      char* at = scratch.frame.extend(n);
      unmask_copy(at, in.data() + off + hn, n, h.mask, 0);
      return control(off + hn + n, h.opcode, std::string_view(at, n));
    }
    if (h.opcode > 2) return fail(off, ws_close::kProtocolError, "reserved data opcode");
    const bool in_message = p_ != nullptr && p_->in_message;
    if (h.opcode == 0 && !in_message) return fail(off, ws_close::kProtocolError, "continuation frame without a message");
    if (h.opcode != 0 && in_message) return fail(off, ws_close::kProtocolError, "new message inside a fragmented one");
    if (h.rsv1 && !cfg.deflate) return fail(off, ws_close::kProtocolError, "RSV1 set without permessage-deflate");
    if (h.rsv1 && h.opcode == 0) return fail(off, ws_close::kProtocolError, "RSV1 set on a continuation frame");
    if ((h.length >> 63) != 0) return fail(off, ws_close::kProtocolError, "frame length has its top bit set");
    const std::uint64_t before = in_message ? p_->msg_len : 0;
    if (h.length > cfg.max_message || before + h.length > cfg.max_message) {
      return fail(off, ws_close::kTooBig, "message too big");
    }
    const auto op = static_cast<WsOpcode>(h.opcode);
    if (!in_message && h.fin && avail >= h.length) {
      // A whole message in one frame, all here: unmasked into the thread's scratch.
      const std::size_t n = static_cast<std::size_t>(h.length);
      scratch.frame.clear();
      char* at = scratch.frame.extend(n);
      unmask_copy(at, in.data() + off + hn, n, h.mask, 0);
      return message(off + hn + n, std::string_view(at, n), op, h.rsv1, false, cfg, scratch, inflater);
    }
    Partial& q = partial();
    if (!in_message) {
      q.in_message = true;
      q.op = op;
      q.compressed = h.rsv1;
      q.msg.clear();
      q.utf8.reset();
      q.msg_len = 0;
    }
    q.msg_len += h.length;
    q.in_frame = true;
    q.frame_left = h.length;
    q.frame_fin = h.fin;
    std::memcpy(q.mask, h.mask, 4);
    q.phase = 0;
    off += hn;
  }
}

}  // namespace ringactor::http::detail::ws

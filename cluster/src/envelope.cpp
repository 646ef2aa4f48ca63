#include "envelope.hpp"

#include <stdexcept>

namespace ringactor::cluster::detail {

namespace {

std::uint64_t load_le(const char* p, int bytes) noexcept {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void store_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

const char* to_string(ParseError e) noexcept {
  switch (e) {
    case ParseError::kNone: return "none";
    case ParseError::kShort: return "shorter than its fixed fields";
    case ParseError::kMagic: return "bad magic byte";
    case ParseError::kVersion: return "unknown version";
    case ParseError::kKind: return "unknown kind";
    case ParseError::kFlags: return "unknown flags";
    case ParseError::kTypeLength: return "type tag past the end";
    case ParseError::kNameLength: return "name past the end or too long";
    case ParseError::kPayloadLength: return "payload length does not match the bytes";
  }
  return "?";
}

ParseError parse(std::string_view b, Envelope& out) noexcept {
  if (b.size() < kFixedBytes) return ParseError::kShort;
  const char* p = b.data();
  if (p[0] != 'R') return ParseError::kMagic;
  if (p[1] != 1) return ParseError::kVersion;
  const auto kind = static_cast<std::uint8_t>(p[2]);
  if (kind == 0 || kind > kMaxKind) return ParseError::kKind;
  if (p[3] != 0) return ParseError::kFlags;
  out.kind = static_cast<Kind>(kind);
  out.sender = load_le(p + 4, 8);
  out.correlation = load_le(p + 12, 8);
  out.extra = load_le(p + 20, 8);
  std::size_t at = 28;
  const std::size_t type_len = static_cast<unsigned char>(p[at]);
  at += 1;
  if (b.size() - at < type_len + 2 + 4) return ParseError::kTypeLength;
  out.type = b.substr(at, type_len);
  at += type_len;
  const std::size_t name_len = load_le(p + at, 2);
  at += 2;
  if (name_len > kMaxName || b.size() - at < name_len + 4) return ParseError::kNameLength;
  out.name = b.substr(at, name_len);
  at += name_len;
  const std::uint64_t payload_len = load_le(p + at, 4);
  at += 4;
  if (payload_len != b.size() - at) return ParseError::kPayloadLength;
  out.payload = b.substr(at);
  return ParseError::kNone;
}

void write(std::string& out, Kind kind, std::uint64_t sender, std::uint64_t correlation, std::uint64_t extra,
           std::string_view type, std::string_view name, std::string_view payload) {
  out.reserve(out.size() + kFixedBytes + type.size() + name.size() + payload.size());
  const std::size_t at = out.size();
  const std::size_t head = write_head(out, kind, sender, correlation, extra, type, name);
  out.append(payload);
  close_payload(out, at, head);
}

void close_payload(std::string& out, std::size_t head_at, std::size_t head_size) {
  const std::size_t n = out.size() - head_at - head_size;
  if (n > 0xFFFFFFFFu) throw std::invalid_argument("cluster: a payload is larger than 4 GiB");
  for (int i = 0; i < 4; ++i) out[head_at + head_size - 4 + i] = static_cast<char>((n >> (8 * i)) & 0xFF);
}

std::size_t write_head(std::string& out, Kind kind, std::uint64_t sender, std::uint64_t correlation,
                       std::uint64_t extra, std::string_view type, std::string_view name) {
  if (type.size() > kMaxType) throw std::invalid_argument("cluster: a type tag is longer than 255 bytes");
  if (name.size() > kMaxName) throw std::invalid_argument("cluster: a name is longer than 1,024 bytes");
  const std::size_t at = out.size();
  out.push_back('R');
  out.push_back(1);
  out.push_back(static_cast<char>(kind));
  out.push_back(0);
  store_le(out, sender, 8);
  store_le(out, correlation, 8);
  store_le(out, extra, 8);
  out.push_back(static_cast<char>(type.size()));
  out.append(type);
  store_le(out, name.size(), 2);
  out.append(name);
  store_le(out, 0, 4);
  return out.size() - at;
}

void append_name(std::string& out, std::string_view name) {
  if (name.empty() || name.size() > kMaxName) throw std::invalid_argument("cluster: a name must be 1 to 1,024 bytes");
  store_le(out, name.size(), 2);
  out.append(name);
}

}  // namespace ringactor::cluster::detail

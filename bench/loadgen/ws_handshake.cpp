// The WebSocket opening handshake for loadgen (see ws_handshake.hpp).
#include "ws_handshake.hpp"

#include <openssl/evp.h>

#include <cctype>

namespace loadgen {
namespace {

std::string base64(const unsigned char* p, int n) {
  std::string out(static_cast<std::size_t>(4 * ((n + 2) / 3)) + 1, '\0');
  const int k = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, n);
  out.resize(static_cast<std::size_t>(k));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool icontains(std::string_view hay, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string ws_key(std::uint64_t& rng) {
  unsigned char nonce[16];
  for (unsigned char& b : nonce) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    b = static_cast<unsigned char>(rng >> 24);
  }
  return base64(nonce, 16);
}

std::string ws_accept(std::string_view key) {
  std::string s(key);
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha1(), nullptr);
  return base64(md, static_cast<int>(len));
}

std::string ws_upgrade_request(std::string_view path, std::string_view host, std::string_view key) {
  std::string r;
  r.reserve(200);
  r.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
  r.append("\r\nSec-WebSocket-Version: 13\r\n\r\n");
  return r;
}

bool ws_check_answer(std::string_view head, std::string_view expected_accept, std::string& why) {
  const std::size_t eol = head.find("\r\n");
  const std::string_view status = head.substr(0, eol);
  if (status.size() < 12 || status.substr(0, 7) != "HTTP/1." || status.substr(8, 4) != " 101") {
    why = "upgrade refused: " + std::string(status.substr(0, 120));
    return false;
  }
  bool upgrade = false, connection = false, accept = false;
  std::size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    std::size_t e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    const std::string_view line = head.substr(pos, e - pos);
    pos = e + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "upgrade"))
      upgrade = iequals(value, "websocket");
    else if (iequals(name, "connection"))
      connection = icontains(value, "upgrade");
    else if (iequals(name, "sec-websocket-accept"))
      accept = value == expected_accept;
  }
  if (!upgrade || !connection) {
    why = "101 answer without Upgrade: websocket / Connection: upgrade";
    return false;
  }
  if (!accept) {
    why = "Sec-WebSocket-Accept missing or wrong";
    return false;
  }
  return true;
}

UpgradeStep ws_take_answer(std::string& hs, std::string_view expected_accept, const char* p, std::size_t n,
                           std::size_t& used, std::string& why) {
  constexpr std::size_t kMaxAnswer = 16384;
  const std::size_t before = hs.size();
  hs.append(p, n);
  const std::size_t end = hs.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
  if (end == std::string::npos) {
    if (hs.size() <= kMaxAnswer) return UpgradeStep::kNeedMore;
    why = "no end of the upgrade answer within 16 KiB";
    return UpgradeStep::kFailed;
  }
  if (!ws_check_answer(std::string_view(hs).substr(0, end + 4), expected_accept, why)) return UpgradeStep::kFailed;
  used = end + 4 - before;
  std::string().swap(hs);
  return UpgradeStep::kDone;
}

}  // namespace loadgen

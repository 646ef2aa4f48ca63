// Character classes and small lexical helpers shared by the request-head parser and the
// chunked-body decoder (RFC 9110 section 5.6). Internal to the http module.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace ringactor::http::detail {

// Character classes as one table lookup each (the parsers' inner loops).
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
inline constexpr std::array<std::uint8_t, 256> kClasses = make_classes();

constexpr bool is_tchar(char c) noexcept { return (kClasses[static_cast<unsigned char>(c)] & kTchar) != 0; }

// field-value characters: HTAB, SP, VCHAR, obs-text.
constexpr bool is_field_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7F);
}

constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

constexpr std::string_view trim_ows(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// a == b for the short strings compared once per response (a Content-Type against the last
// one seen): 8 to 16 bytes as two overlapping 8-byte loads each, inline, where operator==
// calls memcmp (2% of pipelined CPU for two such compares per request). Longer or shorter
// strings take operator==.
inline bool same_short(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  if (n < 8 || n > 16) return a == b;
  std::uint64_t a0, a1, b0, b1;
  std::memcpy(&a0, a.data(), 8);
  std::memcpy(&b0, b.data(), 8);
  std::memcpy(&a1, a.data() + n - 8, 8);
  std::memcpy(&b1, b.data() + n - 8, 8);
  return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace ringactor::http::detail

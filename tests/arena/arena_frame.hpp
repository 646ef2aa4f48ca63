// Decodes the arena's binary state frames (layout version 1, protocol.hpp) for tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace arena_test {

struct FrameUnit {
  std::uint16_t id = 0;
  std::uint8_t seat = 0, hp = 0;
  std::uint16_t x = 0, y = 0;
};
struct FrameSeat {
  std::uint16_t kills = 0, alive = 0;
  std::uint32_t ack = 0;
};
struct Frame {
  bool full = false;
  std::uint32_t seq = 0, tick = 0;
  std::uint16_t ticks_left = 0;
  std::uint8_t phase = 0;
  std::vector<FrameSeat> seats;
  std::vector<FrameUnit> units;
};

inline std::optional<Frame> decode(const std::string& b) {
  auto u8 = [&](std::size_t o) { return static_cast<std::uint8_t>(b[o]); };
  auto u16 = [&](std::size_t o) { return static_cast<std::uint16_t>(u8(o) | u8(o + 1) << 8); };
  auto u32 = [&](std::size_t o) { return static_cast<std::uint32_t>(u16(o) | static_cast<std::uint32_t>(u16(o + 2)) << 16); };
  if (b.size() < 16 || u8(0) != 1) return std::nullopt;
  Frame f;
  f.full = u8(1) == 0;
  f.seq = u32(2);
  f.tick = u32(6);
  f.ticks_left = u16(10);
  f.phase = u8(12);
  const std::size_t seats = u8(13);
  std::size_t o = 14;
  if (b.size() < o + seats * 8 + 2) return std::nullopt;
  for (std::size_t s = 0; s < seats; ++s, o += 8) f.seats.push_back({u16(o), u16(o + 2), u32(o + 4)});
  const std::size_t n = u16(o);
  o += 2;
  if (b.size() != o + n * 8) return std::nullopt;
  for (std::size_t i = 0; i < n; ++i, o += 8) f.units.push_back({u16(o), u8(o + 2), u8(o + 3), u16(o + 4), u16(o + 6)});
  return f;
}

}  // namespace arena_test

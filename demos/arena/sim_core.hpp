// The per-unit part of the arena's step, shared by the CPU step (sim.cpp) and the CUDA
// kernel (sim_gpu.cu): one function compiled for both, so the device computes what the CPU
// reference computes. Only +, -, *, / and sqrt on floats (correctly rounded on both sides;
// the kernel is compiled without contraction into FMA), no sin/cos (the spread of an army
// around its command point is a table made on the host). Internal to demos/arena.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "sim.hpp"

#if defined(__CUDACC__)
#define ARENA_HD __host__ __device__
#else
#define ARENA_HD
#endif

namespace arena::core {

inline constexpr float kCell = 40.0f;                              // grid cell size
inline constexpr int kCells = static_cast<int>(kMapSize / kCell);  // per side
inline constexpr float kSight = 160.0f;                            // units chase enemies this close
inline constexpr float kReach = 16.0f;                             // and strike them this close
inline constexpr float kSpeed = 70.0f;                             // map units per second
inline constexpr float kRadius = 7.0f;                             // units push apart closer than 2 x this
inline constexpr float kDamage = 9.0f;
inline constexpr std::uint8_t kCooldownTicks = 8;
inline constexpr std::int32_t kNoHit = 0x7FFFFFFF;  // last_hit of a unit nobody hit

struct Offset {
  float x, y;
};

// A living unit as the grid keeps it: its position and seat copied next to its id, so the
// neighbour scans read one contiguous run of items instead of looking each unit up by id.
struct GridItem {
  float x, y;
  std::uint16_t id;
  std::uint8_t seat;
  std::uint8_t pad;
};

// The cells a seat's living units occupy: rows y0..y1, columns x0..x1 (empty: x0 > x1).
struct CellBox {
  std::int32_t x0, x1, y0, y1;
};

// Units bucketed by grid cell, twice:
// - all seats: the units of cell c are items[start[c] .. start[c + 1]), in id order. The
//   cells of one row are adjacent, so the cells x0..x1 of row y are the one run
//   items[start[y * kCells + x0] .. start[y * kCells + x1 + 1]);
// - by seat: the same with seat_start[s * kCells * kCells + c], over seat_items, so the
//   search for enemies never reads a unit of its own army, and skips a seat whose box
//   (boxes[s]) lies outside its sight.
struct GridView {
  const std::uint32_t* start;  // kCells * kCells + 1
  const GridItem* items;
  const std::uint32_t* seat_start;  // seats * kCells * kCells + 1
  const GridItem* seat_items;
  const CellBox* boxes;  // by seat
  std::uint32_t seats;
};

// What the decision of one unit writes (arrays by unit id).
struct Out {
  float* nx;
  float* ny;
  std::uint8_t* cooldown;
};

ARENA_HD inline int cell_of(float v) {
  const int c = static_cast<int>(v / kCell);
  return c < 0 ? 0 : (c > kCells - 1 ? kCells - 1 : c);
}

ARENA_HD inline float clamp_map(float v) { return v < 0.0f ? 0.0f : (v > kMapSize - 1 ? kMapSize - 1 : v); }

// One living unit's tick: the nearest enemy in sight (ties: the lower id), a strike when in
// reach and off cooldown (reported through hit(target, attacker)), movement towards the
// enemy or the seat's command point, and separation from neighbours closer than 2 radii.
template <typename Hit>
ARENA_HD void decide(std::uint32_t i, const Unit* units, const Command* commands, const Offset* spread,
                     GridView grid, float dt, Out out, Hit&& hit) {
  const Unit& u = units[i];
  // The items of the cells within r of the unit, row by row (each row one run), cells in
  // row-major order and ids ascending within a cell: the order the separation sums depend on.
  const auto each_near = [&](float r, auto&& f) {
    const int x0 = cell_of(u.x - r), x1 = cell_of(u.x + r), y0 = cell_of(u.y - r), y1 = cell_of(u.y + r);
    for (int cy = y0; cy <= y1; ++cy) {
      const std::uint32_t end = grid.start[cy * kCells + x1 + 1];
      for (std::uint32_t k = grid.start[cy * kCells + x0]; k < end; ++k) f(grid.items[k]);
    }
  };
  // The nearest enemy in sight: the smallest (distance, id) pair, which does not depend on
  // the order the items are visited; written without branches on the data.
  std::int32_t target = -1;
  float best = kSight * kSight;
  {
    const int x0 = cell_of(u.x - kSight), x1 = cell_of(u.x + kSight), y0 = cell_of(u.y - kSight),
              y1 = cell_of(u.y + kSight);
    for (std::uint32_t s = 0; s < grid.seats; ++s) {
      if (s == u.seat) continue;
      const CellBox b = grid.boxes[s];
      const int bx0 = x0 > b.x0 ? x0 : b.x0, bx1 = x1 < b.x1 ? x1 : b.x1;
      const int by0 = y0 > b.y0 ? y0 : b.y0, by1 = y1 < b.y1 ? y1 : b.y1;
      if (bx0 > bx1 || by0 > by1) continue;
      const std::uint32_t* start = grid.seat_start + s * (kCells * kCells);
      for (int cy = by0; cy <= by1; ++cy) {
        const std::uint32_t end = start[cy * kCells + bx1 + 1];
        for (std::uint32_t k = start[cy * kCells + bx0]; k < end; ++k) {
          const GridItem& v = grid.seat_items[k];
          const float d = (v.x - u.x) * (v.x - u.x) + (v.y - u.y) * (v.y - u.y);
          const std::int32_t j = v.id;
          const bool closer = (d < best) | ((d == best) & (j < target));
          best = closer ? d : best;
          target = closer ? j : target;
        }
      }
    }
  }
  float gx = u.x, gy = u.y;
  std::uint8_t cooldown = u.cooldown > 0 ? static_cast<std::uint8_t>(u.cooldown - 1) : 0;
  if (target >= 0) {
    const Unit& v = units[target];
    if (best <= kReach * kReach) {
      if (cooldown == 0) {
        hit(static_cast<std::uint32_t>(target), i);
        cooldown = kCooldownTicks;
      }
    } else {
      gx = v.x;
      gy = v.y;
    }
  } else if (commands[u.seat].active) {
    // Spread around the command point so an army does not collapse into one spot.
    gx = commands[u.seat].x + spread[u.id].x;
    gy = commands[u.seat].y + spread[u.id].y;
  }
  out.cooldown[i] = cooldown;
  float nx = u.x, ny = u.y;
  const float dx = gx - u.x, dy = gy - u.y;
  const float len = sqrtf(dx * dx + dy * dy);
  const float move = len < kSpeed * dt ? len : kSpeed * dt;
  if (len > 0.5f) {
    nx += dx / len * move;
    ny += dy / len * move;
  }
  float px = 0, py = 0;
  each_near(2 * kRadius, [&](const GridItem& v) {
    const std::uint32_t j = v.id;
    if (j == i) return;
    const float ddx = u.x - v.x, ddy = u.y - v.y;
    const float d2 = ddx * ddx + ddy * ddy;
    if (d2 >= 4 * kRadius * kRadius) return;
    if (d2 < 1e-6f) {  // exactly on top of each other: split by id
      px += j < i ? 0.5f : -0.5f;
      return;
    }
    const float d = sqrtf(d2);
    const float push = (2 * kRadius - d) * 0.5f;
    px += ddx / d * push;
    py += ddy / d * push;
  });
  out.nx[i] = clamp_map(nx + px);
  out.ny[i] = clamp_map(ny + py);
}

// Host-side parts shared by both paths (sim.cpp).

// Where a step's grids live between steps (assign() reuses the capacity).
struct Grids {
  std::vector<std::uint32_t> start, seat_start, fill;
  std::vector<GridItem> items, seat_items;
  std::vector<CellBox> boxes;
  std::uint32_t seats = 0;
  GridView view() const {
    return GridView{start.data(), items.data(), seat_start.data(), seat_items.data(), boxes.data(), seats};
  }
};

// The grids of the living units of a world of `seats` seats (counting sorts).
void build_grid(const std::vector<Unit>& units, std::uint32_t seats, Grids& g);
// The spread offsets of unit ids 0 .. n-1, computed once per thread and grown on demand.
const Offset* spread_table(std::size_t n);
// The end of a step: moves, damage, deaths, kills, living units per seat, tick + 1. Dead
// units keep their place and stay dead. last_hit[i] is the lowest attacker id (kNoHit: none).
void apply(World& w, const float* nx, const float* ny, const std::uint8_t* cooldown, const float* damage,
           const std::int32_t* last_hit);

}  // namespace arena::core

// The per-unit part of the arena's step, shared by the CPU step (sim.cpp) and the CUDA
// kernel (sim_gpu.cu): one function compiled for both, so the device computes what the CPU
// reference computes. Only +, -, *, / and sqrt on floats (correctly rounded on both sides;
// the kernel is compiled without contraction into FMA), no sin/cos (the spread of an army
// around its command point is a table made on the host). Internal to demos/arena.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__SSE2__) && !defined(__CUDA_ARCH__)
#include <emmintrin.h>
#endif

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

// Units bucketed twice:
// - by cell, all seats: the units of cell c are items[start[c] .. start[c + 1]), in id
//   order. The cells of one row are adjacent, so the cells x0..x1 of row y are the one run
//   items[start[y * kCells + x0] .. start[y * kCells + x1 + 1]);
// - by seat, then row of cells: the units of seat s in rows y0..y1 are the one run
//   [seat_start[s * kCells + y0], seat_start[s * kCells + y1 + 1]) of seat_x, seat_y and
//   seat_id. The search for enemies reads only other armies, skips an army whose box
//   (boxes[s]) lies outside its sight, and scans the rest as one run per army.
struct GridView {
  const std::uint32_t* start;  // kCells * kCells + 1
  const GridItem* items;
  const std::uint32_t* seat_start;  // seats * kCells + 1
  const float* seat_x;
  const float* seat_y;
  const std::int32_t* seat_id;
  const CellBox* boxes;  // by seat
  std::uint32_t seats;
};

// The smallest (distance squared, id) pair, lexicographically, of the units [b, e) of a
// seat run and the pair (best, target) so far; the distances are those decide() computes.
// The result does not depend on the order of the units, so the host compares four at a time.
ARENA_HD inline void nearest(const GridView& g, std::uint32_t b, std::uint32_t e, float ux, float uy,
                             float& best, std::int32_t& target) {
  const auto take = [&](float d, std::int32_t j) {
    const bool closer = (d < best) | ((d == best) & (j < target));
    best = closer ? d : best;
    target = closer ? j : target;
  };
  std::uint32_t k = b;
#if defined(__SSE2__) && !defined(__CUDA_ARCH__)
  if (e - b >= 8) {
    const __m128 vx = _mm_set1_ps(ux), vy = _mm_set1_ps(uy);
    __m128 vbest = _mm_set1_ps(best);
    __m128i vtarget = _mm_set1_epi32(target);
    for (; k + 4 <= e; k += 4) {
      const __m128 dx = _mm_sub_ps(_mm_loadu_ps(g.seat_x + k), vx);
      const __m128 dy = _mm_sub_ps(_mm_loadu_ps(g.seat_y + k), vy);
      const __m128 d = _mm_add_ps(_mm_mul_ps(dx, dx), _mm_mul_ps(dy, dy));
      const __m128i j = _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.seat_id + k));
      const __m128 closer =
          _mm_or_ps(_mm_cmplt_ps(d, vbest),
                    _mm_and_ps(_mm_cmpeq_ps(d, vbest), _mm_castsi128_ps(_mm_cmplt_epi32(j, vtarget))));
      vbest = _mm_or_ps(_mm_and_ps(closer, d), _mm_andnot_ps(closer, vbest));
      const __m128i mask = _mm_castps_si128(closer);
      vtarget = _mm_or_si128(_mm_and_si128(mask, j), _mm_andnot_si128(mask, vtarget));
    }
    alignas(16) float lanes_best[4];
    alignas(16) std::int32_t lanes_target[4];
    _mm_store_ps(lanes_best, vbest);
    _mm_store_si128(reinterpret_cast<__m128i*>(lanes_target), vtarget);
    for (int l = 0; l < 4; ++l) take(lanes_best[l], lanes_target[l]);
  }
#endif
  for (; k < e; ++k) {
    const float dx = g.seat_x[k] - ux, dy = g.seat_y[k] - uy;
    take(dx * dx + dy * dy, g.seat_id[k]);
  }
}

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
      if ((x0 > b.x1) | (x1 < b.x0) | (y0 > b.y1) | (y1 < b.y0)) continue;
      const std::uint32_t* rows = grid.seat_start + s * kCells;
      // Whole rows: units outside the columns in sight are farther than kSight, never chosen.
      nearest(grid, rows[y0 > b.y0 ? y0 : b.y0], rows[(y1 < b.y1 ? y1 : b.y1) + 1], u.x, u.y, best, target);
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
  // Separation: the neighbours closer than 2 radii, in the order of the grid (cells row by
  // row, ids ascending within a cell: the order the sums depend on). The cells around the
  // unit are read as one run per row; the units in range are picked without a branch, then
  // summed in order.
  float px = 0, py = 0;
  {
    constexpr unsigned kBatch = 32;
    std::uint32_t picked[kBatch];
    unsigned m = 0;
    const auto push_apart = [&] {
      for (unsigned q = 0; q < m; ++q) {
        const GridItem& v = grid.items[picked[q]];
        const float ddx = u.x - v.x, ddy = u.y - v.y;
        const float d2 = ddx * ddx + ddy * ddy;
        if (d2 < 1e-6f) {  // exactly on top of each other: split by id
          px += v.id < i ? 0.5f : -0.5f;
          continue;
        }
        const float d = sqrtf(d2);
        const float push = (2 * kRadius - d) * 0.5f;
        px += ddx / d * push;
        py += ddy / d * push;
      }
      m = 0;
    };
    const float r = 2 * kRadius;
    const int x0 = cell_of(u.x - r), x1 = cell_of(u.x + r), y0 = cell_of(u.y - r), y1 = cell_of(u.y + r);
    for (int cy = y0; cy <= y1; ++cy) {
      const std::uint32_t end = grid.start[cy * kCells + x1 + 1];
      for (std::uint32_t k = grid.start[cy * kCells + x0]; k < end; ++k) {
        const GridItem& v = grid.items[k];
        const float ddx = u.x - v.x, ddy = u.y - v.y;
        picked[m] = k;
        m += static_cast<unsigned>((ddx * ddx + ddy * ddy < 4 * kRadius * kRadius) & (v.id != i));
        if (m == kBatch) push_apart();
      }
    }
    push_apart();
  }
  out.nx[i] = clamp_map(nx + px);
  out.ny[i] = clamp_map(ny + py);
}

// Host-side parts shared by both paths (sim.cpp).

// Where a step's grids live between steps (assign() reuses the capacity).
struct Grids {
  std::vector<std::uint32_t> start, seat_start, fill, seat_fill, cells;
  std::vector<GridItem> items;
  std::vector<float> seat_x, seat_y;
  std::vector<std::int32_t> seat_id;
  std::vector<CellBox> boxes;
  std::uint32_t seats = 0;
  GridView view() const {
    return GridView{start.data(),  items.data(),   seat_start.data(), seat_x.data(),
                    seat_y.data(), seat_id.data(), boxes.data(),      seats};
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

// The arena's simulation step (see sim.hpp).
#include "sim.hpp"

#include <algorithm>
#include <cmath>

namespace arena {

namespace {

constexpr float kCell = 40.0f;                        // grid cell size
constexpr int kCells = static_cast<int>(kMapSize / kCell);  // per side
constexpr float kSight = 160.0f;                      // units chase enemies this close
constexpr float kReach = 16.0f;                       // and strike them this close
constexpr float kSpeed = 70.0f;                       // map units per second
constexpr float kRadius = 7.0f;                       // units push apart closer than 2 x this
constexpr float kDamage = 9.0f;
constexpr std::uint8_t kCooldownTicks = 8;

int cell_of(float v) { return std::clamp(static_cast<int>(v / kCell), 0, kCells - 1); }

// Units bucketed by grid cell (a counting sort: no allocation per unit).
struct Grid {
  std::vector<std::uint32_t> start;  // kCells*kCells + 1 offsets into items
  std::vector<std::uint16_t> items;
  void build(const std::vector<Unit>& units, std::vector<std::uint32_t>& fill) {
    start.assign(kCells * kCells + 1, 0);
    for (const Unit& u : units) {
      if (u.alive()) ++start[cell_of(u.y) * kCells + cell_of(u.x) + 1];
    }
    for (std::size_t i = 1; i < start.size(); ++i) start[i] += start[i - 1];
    items.assign(start.back(), 0);
    fill.assign(start.begin(), start.end() - 1);
    for (const Unit& u : units) {
      if (u.alive()) items[fill[cell_of(u.y) * kCells + cell_of(u.x)]++] = u.id;
    }
  }
  template <typename F>
  void near(float x, float y, float r, F&& f) const {
    const int x0 = cell_of(x - r), x1 = cell_of(x + r), y0 = cell_of(y - r), y1 = cell_of(y + r);
    for (int cy = y0; cy <= y1; ++cy) {
      for (int cx = x0; cx <= x1; ++cx) {
        const int c = cy * kCells + cx;
        for (std::uint32_t i = start[c]; i < start[c + 1]; ++i) f(items[i]);
      }
    }
  }
};

// What one step needs besides the world, kept per thread: assign() reuses the capacity.
struct Scratch {
  Grid grid;
  std::vector<std::uint32_t> fill;
  std::vector<float> damage, nx, ny;
  std::vector<std::int32_t> last_hit;
};

}  // namespace

World make_world(unsigned seats, unsigned units_per_seat) {
  World w;
  w.commands.resize(seats);
  w.kills.assign(seats, 0);
  w.alive.assign(seats, static_cast<std::uint16_t>(units_per_seat));
  w.units.reserve(static_cast<std::size_t>(seats) * units_per_seat);
  const float centre = kMapSize / 2;
  for (unsigned s = 0; s < seats; ++s) {
    // Armies start on a circle around the centre, each in a compact block.
    const float angle = 2.0f * 3.14159265f * static_cast<float>(s) / static_cast<float>(seats);
    const float bx = centre + std::cos(angle) * kMapSize * 0.36f;
    const float by = centre + std::sin(angle) * kMapSize * 0.36f;
    const unsigned side = static_cast<unsigned>(std::ceil(std::sqrt(static_cast<float>(units_per_seat))));
    for (unsigned i = 0; i < units_per_seat; ++i) {
      Unit u;
      u.id = static_cast<std::uint16_t>(w.units.size());
      u.seat = static_cast<std::uint8_t>(s);
      u.x = std::clamp(bx + (static_cast<float>(i % side) - side / 2.0f) * 16.0f, 0.0f, kMapSize - 1);
      u.y = std::clamp(by + (static_cast<float>(i / side) - side / 2.0f) * 16.0f, 0.0f, kMapSize - 1);
      w.units.push_back(u);
    }
  }
  return w;
}

void step(World& w, float dt) {
  thread_local Scratch scratch;
  Grid& grid = scratch.grid;
  grid.build(w.units, scratch.fill);
  const std::size_t n = w.units.size();
  std::vector<float>& damage = scratch.damage;
  std::vector<std::int32_t>& last_hit = scratch.last_hit;  // the attacker with the lowest id that hit it
  std::vector<float>& nx = scratch.nx;
  std::vector<float>& ny = scratch.ny;
  damage.assign(n, 0.0f);
  last_hit.assign(n, -1);
  nx.resize(n);
  ny.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Unit& u = w.units[i];
    nx[i] = u.x;
    ny[i] = u.y;
    if (!u.alive()) continue;
    // Nearest enemy in sight (ties: the lower id).
    std::int32_t target = -1;
    float best = kSight * kSight;
    grid.near(u.x, u.y, kSight, [&](std::uint16_t j) {
      const Unit& v = w.units[j];
      if (v.seat == u.seat) return;
      const float d = (v.x - u.x) * (v.x - u.x) + (v.y - u.y) * (v.y - u.y);
      if (d < best || (d == best && static_cast<std::int32_t>(j) < target)) {
        best = d;
        target = j;
      }
    });
    float gx = u.x, gy = u.y;
    std::uint8_t cooldown = u.cooldown > 0 ? static_cast<std::uint8_t>(u.cooldown - 1) : 0;
    if (target >= 0) {
      const Unit& v = w.units[target];
      if (best <= kReach * kReach) {
        if (cooldown == 0) {
          damage[target] += kDamage;
          if (last_hit[target] < 0) last_hit[target] = static_cast<std::int32_t>(i);
          cooldown = kCooldownTicks;
        }
        gx = u.x;  // in reach: stand and fight
        gy = u.y;
      } else {
        gx = v.x;
        gy = v.y;
      }
    } else if (w.commands[u.seat].active) {
      // Spread around the command point so an army does not collapse into one spot.
      const float a = static_cast<float>(u.id) * 2.399963f;  // golden angle
      const float r = 6.0f * std::sqrt(static_cast<float>(u.id % 64));
      gx = w.commands[u.seat].x + std::cos(a) * r;
      gy = w.commands[u.seat].y + std::sin(a) * r;
    }
    w.units[i].cooldown = cooldown;  // read by this unit only
    const float dx = gx - u.x, dy = gy - u.y;
    const float len = std::sqrt(dx * dx + dy * dy);
    const float move = std::min(len, kSpeed * dt);
    if (len > 0.5f) {
      nx[i] += dx / len * move;
      ny[i] += dy / len * move;
    }
    // Separation from neighbours (friend or foe) closer than two radii.
    float px = 0, py = 0;
    grid.near(u.x, u.y, 2 * kRadius, [&](std::uint16_t j) {
      if (j == i) return;
      const Unit& v = w.units[j];
      const float ddx = u.x - v.x, ddy = u.y - v.y;
      const float d2 = ddx * ddx + ddy * ddy;
      if (d2 >= 4 * kRadius * kRadius) return;
      if (d2 < 1e-6f) {  // exactly on top of each other: split by id
        px += j < i ? 0.5f : -0.5f;
        return;
      }
      const float d = std::sqrt(d2);
      const float push = (2 * kRadius - d) * 0.5f;
      px += ddx / d * push;
      py += ddy / d * push;
    });
    nx[i] = std::clamp(nx[i] + px, 0.0f, kMapSize - 1);
    ny[i] = std::clamp(ny[i] + py, 0.0f, kMapSize - 1);
  }
  w.alive.assign(w.kills.size(), 0);
  for (std::size_t i = 0; i < n; ++i) {
    Unit& u = w.units[i];
    if (!u.alive()) continue;
    ++w.alive[u.seat];  // counted before this tick's damage; corrected below
    u.x = nx[i];
    u.y = ny[i];
    if (damage[i] > 0) {
      u.hp -= damage[i];
      if (u.hp <= 0) {
        u.hp = 0;
        --w.alive[u.seat];
        ++w.kills[w.units[last_hit[i]].seat];
      }
    }
  }
  ++w.tick;
}

unsigned seats_alive(const World& w) {
  unsigned count = 0;
  for (std::uint16_t a : w.alive) count += a > 0 ? 1 : 0;
  return count;
}

unsigned units_alive(const World& w, unsigned seat) { return seat < w.alive.size() ? w.alive[seat] : 0; }

}  // namespace arena

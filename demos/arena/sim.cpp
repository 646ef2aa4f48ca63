// The arena's simulation step (see sim.hpp). The per-unit decision is in sim_core.hpp,
// shared with the CUDA kernel of --gpu.
#include "sim.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "sim_core.hpp"

namespace arena {

namespace core {

void build_grid(const std::vector<Unit>& units, std::uint32_t seats, Grids& g) {
  constexpr std::uint32_t kArea = kCells * kCells;
  const std::size_t n = units.size();
  // Counting sorts: count per cell and per (seat, row), take prefix sums, place.
  g.seats = seats;
  g.start.assign(kArea + 1, 0);
  g.seat_start.assign(static_cast<std::size_t>(seats) * kCells + 1, 0);
  g.boxes.assign(seats, CellBox{kCells, -1, kCells, -1});
  g.cells.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Unit& u = units[i];
    if (!u.alive()) continue;
    const int cx = cell_of(u.x), cy = cell_of(u.y);
    g.cells[i] = static_cast<std::uint32_t>(cy * kCells + cx);
    ++g.start[g.cells[i] + 1];
    ++g.seat_start[u.seat * kCells + cy + 1];
    CellBox& b = g.boxes[u.seat];
    b.x0 = cx < b.x0 ? cx : b.x0;
    b.x1 = cx > b.x1 ? cx : b.x1;
    b.y0 = cy < b.y0 ? cy : b.y0;
    b.y1 = cy > b.y1 ? cy : b.y1;
  }
  for (std::size_t i = 1; i < g.start.size(); ++i) g.start[i] += g.start[i - 1];
  for (std::size_t i = 1; i < g.seat_start.size(); ++i) g.seat_start[i] += g.seat_start[i - 1];
  const std::uint32_t living = g.start.back();
  g.items.resize(living);
  g.seat_x.resize(living);
  g.seat_y.resize(living);
  g.seat_id.resize(living);
  g.fill.assign(g.start.begin(), g.start.end() - 1);
  g.seat_fill.assign(g.seat_start.begin(), g.seat_start.end() - 1);
  for (std::size_t i = 0; i < n; ++i) {
    const Unit& u = units[i];
    if (!u.alive()) continue;
    g.items[g.fill[g.cells[i]]++] = GridItem{u.x, u.y, u.id, u.seat, 0};
    const std::uint32_t k = g.seat_fill[u.seat * kCells + g.cells[i] / kCells]++;
    g.seat_x[k] = u.x;
    g.seat_y[k] = u.y;
    g.seat_id[k] = u.id;
  }
}

const Offset* spread_table(std::size_t n) {
  thread_local std::vector<Offset> table;
  for (std::size_t id = table.size(); id < n; ++id) {
    const float a = static_cast<float>(id) * 2.399963f;  // golden angle
    const float r = 6.0f * std::sqrt(static_cast<float>(id % 64));
    table.push_back(Offset{std::cos(a) * r, std::sin(a) * r});
  }
  return table.data();
}

void apply(World& w, const float* nx, const float* ny, const std::uint8_t* cooldown, const float* damage,
           const std::int32_t* last_hit) {
  w.alive.assign(w.kills.size(), 0);
  for (std::size_t i = 0; i < w.units.size(); ++i) {
    Unit& u = w.units[i];
    if (!u.alive()) continue;
    ++w.alive[u.seat];  // counted before this tick's damage; corrected below
    u.x = nx[i];
    u.y = ny[i];
    u.cooldown = cooldown[i];
    if (damage[i] > 0) {
      u.hp -= damage[i];
      if (u.hp <= 0) {
        u.hp = 0;
        --w.alive[u.seat];
        ++w.kills[w.units[static_cast<std::size_t>(last_hit[i])].seat];
      }
    }
  }
  ++w.tick;
}

}  // namespace core

namespace {

// What one step needs besides the world, kept per thread: assign() reuses the capacity.
struct Scratch {
  core::Grids grids;
  std::vector<float> damage, nx, ny;
  std::vector<std::int32_t> last_hit;
  std::vector<std::uint8_t> cooldown;
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
  thread_local Scratch s;
  const std::size_t n = w.units.size();
  core::build_grid(w.units, static_cast<std::uint32_t>(w.commands.size()), s.grids);
  s.damage.assign(n, 0.0f);
  s.last_hit.assign(n, core::kNoHit);
  s.nx.resize(n);
  s.ny.resize(n);
  s.cooldown.resize(n);
  const core::Offset* spread = core::spread_table(n);
  const core::GridView grid = s.grids.view();
  const core::Out out{s.nx.data(), s.ny.data(), s.cooldown.data()};
  // Damage is applied after every unit chose, so the result does not depend on the order
  // units are visited; the lowest attacker id gets the kill.
  const auto hit = [&](std::uint32_t target, std::uint32_t attacker) {
    s.damage[target] += core::kDamage;
    s.last_hit[target] = std::min(s.last_hit[target], static_cast<std::int32_t>(attacker));
  };
  for (std::uint32_t i = 0; i < n; ++i) {
    if (w.units[i].alive()) core::decide(i, w.units.data(), w.commands.data(), spread, grid, dt, out, hit);
  }
  core::apply(w, s.nx.data(), s.ny.data(), s.cooldown.data(), s.damage.data(), s.last_hit.data());
}

std::string differs(const World& a, const World& b) {
  const auto show = [](const std::string& what, auto x, auto y) {
    std::ostringstream out;
    out << std::setprecision(9) << what << ": " << +x << " != " << +y;  // 9 digits tell floats apart
    return out.str();
  };
  if (a.tick != b.tick) return show("tick", a.tick, b.tick);
  if (a.units.size() != b.units.size()) return show("units", a.units.size(), b.units.size());
  for (std::size_t i = 0; i < a.units.size(); ++i) {
    const Unit& u = a.units[i];
    const Unit& v = b.units[i];
    const std::string who = "unit " + std::to_string(i);
    if (u.x != v.x) return show(who + ": x", u.x, v.x);
    if (u.y != v.y) return show(who + ": y", u.y, v.y);
    if (u.hp != v.hp) return show(who + ": hp", u.hp, v.hp);
    if (u.cooldown != v.cooldown) return show(who + ": cooldown", u.cooldown, v.cooldown);
  }
  for (std::size_t s = 0; s < a.kills.size() && s < b.kills.size(); ++s) {
    if (a.kills[s] != b.kills[s])
      return show("seat " + std::to_string(s) + ": kills", a.kills[s], b.kills[s]);
  }
  if (a.kills.size() != b.kills.size()) return show("seats", a.kills.size(), b.kills.size());
  if (a.alive != b.alive) return "living units per seat differ";
  return {};
}

unsigned seats_alive(const World& w) {
  unsigned count = 0;
  for (std::uint16_t a : w.alive) count += a > 0 ? 1 : 0;
  return count;
}

unsigned units_alive(const World& w, unsigned seat) { return seat < w.alive.size() ? w.alive[seat] : 0; }

}  // namespace arena

// The arena's simulation: units of each seat move and fight on a square map. Pure and
// deterministic (no clock, no global state): step() is what a room offloads to the worker
// arena every tick, on a copy of the world, and what the GPU path is checked against.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace arena {

inline constexpr float kMapSize = 1000.0f;   // the map is kMapSize x kMapSize
inline constexpr float kUnitHp = 100.0f;

struct Unit {
  std::uint16_t id = 0;
  std::uint8_t seat = 0;
  std::uint8_t cooldown = 0;  // ticks until it may strike again
  float x = 0, y = 0;
  float hp = kUnitHp;
  bool alive() const noexcept { return hp > 0; }
};

// Where a seat sends its units (a click on the map); none: they hold and defend.
struct Command {
  bool active = false;
  float x = 0, y = 0;
};

struct World {
  std::uint32_t tick = 0;
  std::vector<Unit> units;              // by id (index == id); dead units stay, hp 0
  std::vector<Command> commands;        // by seat
  std::vector<std::uint32_t> kills;     // by seat
  std::vector<std::uint16_t> alive;     // living units by seat (kept by make_world and step)
};

// A world of `seats` armies of `units_per_seat` units, each army in its own corner region.
World make_world(unsigned seats, unsigned units_per_seat);

// One tick of `dt` seconds: targeting (nearest enemy in sight, through uniform grids),
// movement (towards the enemy, else the seat's command point), separation of overlapping
// units, and damage (applied after every unit chose, so the result does not depend on the
// order units are visited). O(units x neighbours). Its scratch (grid, per-unit arrays) is
// kept per thread, so a warm worker steps without allocating.
void step(World& w, float dt);

// Empty when a and b are the same state (tick, every unit's position, health and cooldown,
// kills, living units), else what differs first ("unit 17: x 12.5 != 12.75"). Checks the
// GPU step against the CPU step.
std::string differs(const World& a, const World& b);

// Seats that still have a living unit (from World::alive: O(seats)).
unsigned seats_alive(const World& w);
// Living units of one seat (World::alive[seat]; 0 for a seat that does not exist).
unsigned units_alive(const World& w, unsigned seat);

}  // namespace arena

// demos/arena/sim.cpp's rules in JavaScript, step for step (the same constants, the same
// grid, the same order), so that the Colyseus peer does the same work per tick.
'use strict';

const MAP = 1000, HP = 100;
const CELL = 40, CELLS = MAP / CELL, SIGHT = 160, REACH = 16, SPEED = 70, RADIUS = 7, DAMAGE = 9, COOLDOWN = 8;

const cellOf = (v) => Math.min(CELLS - 1, Math.max(0, Math.floor(v / CELL)));

function makeWorld(seats, perSeat) {
  const w = { tick: 0, units: [], commands: [], kills: new Array(seats).fill(0) };
  for (let s = 0; s < seats; s++) w.commands.push({ active: false, x: 0, y: 0 });
  const c = MAP / 2;
  for (let s = 0; s < seats; s++) {
    const a = 2 * 3.14159265 * s / seats;
    const bx = c + Math.cos(a) * MAP * 0.36, by = c + Math.sin(a) * MAP * 0.36;
    const side = Math.ceil(Math.sqrt(perSeat));
    for (let i = 0; i < perSeat; i++) {
      w.units.push({
        id: w.units.length, seat: s, cooldown: 0, hp: HP,
        x: Math.min(MAP - 1, Math.max(0, bx + ((i % side) - side / 2) * 16)),
        y: Math.min(MAP - 1, Math.max(0, by + (Math.floor(i / side) - side / 2) * 16)),
      });
    }
  }
  return w;
}

function step(w, dt) {
  const n = w.units.length;
  // Grid by counting sort.
  const start = new Uint32Array(CELLS * CELLS + 1);
  for (const u of w.units) if (u.hp > 0) start[cellOf(u.y) * CELLS + cellOf(u.x) + 1]++;
  for (let i = 1; i < start.length; i++) start[i] += start[i - 1];
  const items = new Uint16Array(start[start.length - 1]);
  const fill = start.slice(0, CELLS * CELLS);
  for (const u of w.units) if (u.hp > 0) items[fill[cellOf(u.y) * CELLS + cellOf(u.x)]++] = u.id;
  const near = (x, y, r, f) => {
    const x0 = cellOf(x - r), x1 = cellOf(x + r), y0 = cellOf(y - r), y1 = cellOf(y + r);
    for (let cy = y0; cy <= y1; cy++) for (let cx = x0; cx <= x1; cx++) {
      const c = cy * CELLS + cx;
      for (let i = start[c]; i < start[c + 1]; i++) f(items[i]);
    }
  };
  const damage = new Float32Array(n), lastHit = new Int32Array(n).fill(-1), nx = new Float32Array(n), ny = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = w.units[i];
    nx[i] = u.x; ny[i] = u.y;
    if (u.hp <= 0) continue;
    let target = -1, best = SIGHT * SIGHT;
    near(u.x, u.y, SIGHT, (j) => {
      const v = w.units[j];
      if (v.seat === u.seat) return;
      const d = (v.x - u.x) ** 2 + (v.y - u.y) ** 2;
      if (d < best || (d === best && j < target)) { best = d; target = j; }
    });
    let gx = u.x, gy = u.y;
    let cooldown = u.cooldown > 0 ? u.cooldown - 1 : 0;
    if (target >= 0) {
      const v = w.units[target];
      if (best <= REACH * REACH) {
        if (cooldown === 0) {
          damage[target] += DAMAGE;
          if (lastHit[target] < 0) lastHit[target] = i;
          cooldown = COOLDOWN;
        }
      } else { gx = v.x; gy = v.y; }
    } else if (w.commands[u.seat].active) {
      const a = u.id * 2.399963, r = 6 * Math.sqrt(u.id % 64);
      gx = w.commands[u.seat].x + Math.cos(a) * r;
      gy = w.commands[u.seat].y + Math.sin(a) * r;
    }
    u.cooldown = cooldown;
    const dx = gx - u.x, dy = gy - u.y, len = Math.sqrt(dx * dx + dy * dy), move = Math.min(len, SPEED * dt);
    if (len > 0.5) { nx[i] += dx / len * move; ny[i] += dy / len * move; }
    let px = 0, py = 0;
    near(u.x, u.y, 2 * RADIUS, (j) => {
      if (j === i) return;
      const v = w.units[j];
      const ddx = u.x - v.x, ddy = u.y - v.y, d2 = ddx * ddx + ddy * ddy;
      if (d2 >= 4 * RADIUS * RADIUS) return;
      if (d2 < 1e-6) { px += j < i ? 0.5 : -0.5; return; }
      const d = Math.sqrt(d2), push = (2 * RADIUS - d) * 0.5;
      px += ddx / d * push; py += ddy / d * push;
    });
    nx[i] = Math.min(MAP - 1, Math.max(0, nx[i] + px));
    ny[i] = Math.min(MAP - 1, Math.max(0, ny[i] + py));
  }
  for (let i = 0; i < n; i++) {
    const u = w.units[i];
    if (u.hp <= 0) continue;
    u.x = nx[i]; u.y = ny[i];
    if (damage[i] > 0) {
      u.hp -= damage[i];
      if (u.hp <= 0) { u.hp = 0; w.kills[w.units[lastHit[i]].seat]++; }
    }
  }
  w.tick++;
}

module.exports = { MAP, HP, makeWorld, step };

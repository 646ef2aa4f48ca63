// demos/arena/sim.cpp's rules in JavaScript, step for step (the same constants, the same
// grids, the same order), so that the Colyseus peer does the same work per tick: enemies are
// searched in a grid bucketed by seat and row of cells (a seat whose box is out of sight is
// skipped, the rows in sight are one run), neighbours to push apart in the grid of all seats
// by cell.
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
  const seats = w.commands.length, AREA = CELLS * CELLS;
  // Grids by counting sort: all seats by cell, and by seat then cell.
  const bucket = (keys, key) => {
    const start = new Uint32Array(keys + 1);
    for (const u of w.units) if (u.hp > 0) start[key(u) + 1]++;
    for (let i = 1; i < start.length; i++) start[i] += start[i - 1];
    const items = new Uint16Array(start[keys]);
    const fill = start.slice(0, keys);
    for (const u of w.units) if (u.hp > 0) items[fill[key(u)]++] = u.id;
    return { start, items };
  };
  const cell = (u) => cellOf(u.y) * CELLS + cellOf(u.x);
  const all = bucket(AREA, cell), bySeat = bucket(seats * CELLS, (u) => u.seat * CELLS + cellOf(u.y));
  const boxes = [];
  for (let s = 0; s < seats; s++) boxes.push({ x0: CELLS, x1: -1, y0: CELLS, y1: -1 });
  for (const u of w.units) {
    if (u.hp <= 0) continue;
    const b = boxes[u.seat], cx = cellOf(u.x), cy = cellOf(u.y);
    b.x0 = Math.min(b.x0, cx); b.x1 = Math.max(b.x1, cx); b.y0 = Math.min(b.y0, cy); b.y1 = Math.max(b.y1, cy);
  }
  const near = (x, y, r, f) => {
    const x0 = cellOf(x - r), x1 = cellOf(x + r), y0 = cellOf(y - r), y1 = cellOf(y + r);
    for (let cy = y0; cy <= y1; cy++) {
      for (let i = all.start[cy * CELLS + x0], end = all.start[cy * CELLS + x1 + 1]; i < end; i++) f(all.items[i]);
    }
  };
  const damage = new Float32Array(n), lastHit = new Int32Array(n).fill(-1), nx = new Float32Array(n), ny = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = w.units[i];
    nx[i] = u.x; ny[i] = u.y;
    if (u.hp <= 0) continue;
    let target = -1, best = SIGHT * SIGHT;
    const x0 = cellOf(u.x - SIGHT), x1 = cellOf(u.x + SIGHT), y0 = cellOf(u.y - SIGHT), y1 = cellOf(u.y + SIGHT);
    for (let s = 0; s < seats; s++) {
      if (s === u.seat) continue;
      const b = boxes[s];
      if (x0 > b.x1 || x1 < b.x0 || y0 > b.y1 || y1 < b.y0) continue;
      // Whole rows: units outside the columns in sight are farther than SIGHT, never chosen.
      const end = bySeat.start[s * CELLS + Math.min(y1, b.y1) + 1];
      for (let k = bySeat.start[s * CELLS + Math.max(y0, b.y0)]; k < end; k++) {
        const j = bySeat.items[k], v = w.units[j];
        const d = (v.x - u.x) ** 2 + (v.y - u.y) ** 2;
        if (d < best || (d === best && j < target)) { best = d; target = j; }
      }
    }
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

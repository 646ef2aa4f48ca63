// demos/arena's rules on Colyseus 0.16 (benchmark peer): rooms of SEATS players, a 1 s
// countdown once full, then a 20 Hz simulation (sim.js, the same step as the C++ arena) whose
// state (units with quantised x/y and health, seat lines with the last input applied) is
// synchronised by Colyseus's schema patches at 20 Hz. Inputs ({seq, x, y}) are applied at the
// next tick, like the arena's.
//   node server.js PORT SEATS UNITS_PER_SEAT
'use strict';

const { Server, Room } = require('@colyseus/core');
const { WebSocketTransport } = require('@colyseus/ws-transport');
const { Schema, ArraySchema, defineTypes } = require('@colyseus/schema');
const { MAP, HP, makeWorld, step } = require('./sim');

const port = Number(process.argv[2] || 2567);
const SEATS = Number(process.argv[3] || 4);
const UNITS = Number(process.argv[4] || 48);
const TICK_MS = 50;

class UnitState extends Schema {}
defineTypes(UnitState, { seat: 'uint8', hp: 'uint8', x: 'uint16', y: 'uint16' });
class SeatState extends Schema {}
defineTypes(SeatState, { kills: 'uint16', alive: 'uint16', ack: 'uint32' });
class ArenaState extends Schema {}
defineTypes(ArenaState, { phase: 'uint8', ticksLeft: 'uint16', seats: [SeatState], units: [UnitState] });

const q16 = (v) => Math.round(Math.min(1, Math.max(0, v / MAP)) * 65535);
const q8 = (hp) => (hp > 0 ? Math.min(255, Math.max(1, Math.ceil(hp / HP * 255))) : 0);

class ArenaRoom extends Room {
  onCreate() {
    this.maxClients = SEATS;
    this.autoDispose = true;
    const state = new ArenaState();
    state.phase = 0;
    state.ticksLeft = 65535;
    state.seats = new ArraySchema();
    state.units = new ArraySchema();
    this.world = makeWorld(SEATS, UNITS);
    for (let s = 0; s < SEATS; s++) {
      const seat = new SeatState();
      seat.kills = 0; seat.alive = UNITS; seat.ack = 0;
      state.seats.push(seat);
    }
    for (const u of this.world.units) {
      const us = new UnitState();
      us.seat = u.seat; us.hp = q8(u.hp); us.x = q16(u.x); us.y = q16(u.y);
      state.units.push(us);
    }
    this.setState(state);
    this.setPatchRate(TICK_MS);
    this.pending = new Array(SEATS).fill(null);
    this.onMessage('input', (client, m) => {
      const seat = client.userData && client.userData.seat;
      if (seat === undefined || !m || !Number.isInteger(m.seq) || !(m.x >= 0 && m.x <= MAP && m.y >= 0 && m.y <= MAP)) return;
      this.pending[seat] = m;  // the newest input of a tick wins
    });
  }

  onJoin(client) {
    const taken = new Set(this.clients.filter((c) => c !== client && c.userData).map((c) => c.userData.seat));
    let seat = 0;
    while (taken.has(seat)) seat++;
    client.userData = { seat };
    client.send('seat', { seat, tick_ms: TICK_MS });
    if (this.clients.length === SEATS && !this.started) {
      this.started = true;
      this.lock();
      this.clock.setTimeout(() => {
        this.state.phase = 1;
        this.setSimulationInterval(() => this.tick(), TICK_MS);
      }, 1000);
    }
  }

  tick() {
    const w = this.world;
    for (let s = 0; s < SEATS; s++) {
      const m = this.pending[s];
      if (!m) continue;
      w.commands[s] = { active: true, x: m.x, y: m.y };
      this.state.seats[s].ack = m.seq;
      this.pending[s] = null;
    }
    step(w, TICK_MS / 1000);
    const alive = new Array(SEATS).fill(0);
    for (const u of w.units) {
      const us = this.state.units[u.id];
      const hp = q8(u.hp), x = q16(u.x), y = q16(u.y);
      if (us.hp !== hp) us.hp = hp;
      if (us.x !== x) us.x = x;
      if (us.y !== y) us.y = y;
      if (u.hp > 0) alive[u.seat]++;
    }
    for (let s = 0; s < SEATS; s++) {
      const seat = this.state.seats[s];
      if (seat.kills !== w.kills[s]) seat.kills = w.kills[s];
      if (seat.alive !== alive[s]) seat.alive = alive[s];
    }
  }
}

const server = new Server({ transport: new WebSocketTransport({ pingInterval: 0 }), greet: false });
server.define('arena', ArenaRoom);
server.listen(port).then(() => console.log(`colyseus arena: listening on ws://127.0.0.1:${port}`));
process.on('SIGTERM', () => server.gracefullyShutdown(true).then(() => process.exit(0)));

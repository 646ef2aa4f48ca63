// The arena's browser client: lobby, canvas rendering with interpolation, input. No build
// step, no framework. The wire protocol is described in demos/arena/protocol.hpp.
'use strict';

const COLORS = ['#e4572e', '#29a9e0', '#f3c623', '#76b041', '#b07bd6', '#ff8fab', '#3ddbd9', '#c0c0c0'];
const $ = (id) => document.getElementById(id);

// Everything the page knows; exposed as window.arena for the browser test.
const state = {
  conn: 'connecting', phase: 'lobby', seat: -1, token: null, players: [], map: 1000, tickMs: 50,
  units: new Map(),          // id -> {seat, hp, x, y, px, py}
  seats: [],                 // per seat {kills, alive, ack}
  frameAt: 0, seq: -1, frames: 0, gaps: 0, bytes: 0,
  inputSeq: 0, target: null, countdown: null, result: null, ticksLeft: 0,
};
window.arena = state;

let ws = null;
let reconnectTimer = null;

function setConn(s) {
  state.conn = s;
  const el = $('conn');
  el.textContent = s;
  el.className = 'state ' + (s === 'open' ? 'open' : s === 'closed' ? 'closed' : '');
}

function connect() {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  setConn('connecting');
  ws.onopen = () => {
    setConn('open');
    // A seat kept across a dropped connection: take it back with its token.
    const token = sessionStorage.getItem('arena-token');
    if (token && state.phase !== 'lobby') send({ t: 'rejoin', token });
  };
  ws.onclose = (ev) => {
    setConn('closed');
    $('net').textContent = `connection closed (${ev.code}${ev.reason ? ': ' + ev.reason : ''})`;
    if (ev.code === 1001 || ev.code === 1008 || ev.code === 1003) return;  // server stopping, or refused
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') onEvent(JSON.parse(ev.data));
    else onFrame(ev.data);
  };
}

function send(obj) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
}

function show(view) {
  $('lobby').hidden = view !== 'lobby';
  $('game').hidden = view !== 'game';
}

function onEvent(m) {
  switch (m.t) {
    case 'welcome': break;
    case 'queued':
      state.phase = 'queued';
      $('lobby-status').textContent = `Waiting for players (position ${m.position})…`;
      break;
    case 'seat':
      state.phase = 'countdown';
      state.seat = m.seat; state.token = m.token; state.players = m.players;
      state.map = m.map; state.tickMs = m.tick_ms;
      state.units.clear(); state.seq = -1; state.result = null; state.target = null;
      if (m.token) sessionStorage.setItem('arena-token', m.token);
      $('room-info').textContent = `Room ${m.room} · you are seat ${m.seat + 1}`;
      show('game');
      break;
    case 'countdown':
      state.countdown = m.n;
      $('overlay').textContent = m.n > 0 ? String(m.n) : '';
      break;
    case 'start':
      state.phase = 'playing'; state.countdown = null;
      $('overlay').textContent = 'Fight!';
      setTimeout(() => { if (state.phase === 'playing') $('overlay').textContent = ''; }, 800);
      break;
    case 'result': {
      state.phase = 'over'; state.result = m;
      const w = m.winner >= 0 ? m.scores[m.winner].name : 'nobody';
      $('overlay').textContent = m.winner === state.seat ? 'You win!' : `${w} wins`;
      sessionStorage.removeItem('arena-token');
      break;
    }
    case 'closed': case 'left':
      state.phase = 'lobby'; state.seat = -1;
      $('overlay').textContent = '';
      $('lobby-status').textContent = 'Play again?';
      show('lobby');
      loadLeaders();
      break;
    case 'error':
      $('lobby-status').textContent = m.error;
      if (state.phase !== 'playing') { state.phase = 'lobby'; show('lobby'); }
      sessionStorage.removeItem('arena-token');
      break;
  }
}

// A binary state frame (layout version 1).
function onFrame(buf) {
  const v = new DataView(buf);
  if (v.getUint8(0) !== 1) return;  // a layout this page does not know
  const full = v.getUint8(1) === 0;
  const seq = v.getUint32(2, true);
  state.ticksLeft = v.getUint16(10, true);
  const seats = v.getUint8(13);
  let o = 14;
  state.seats = [];
  for (let s = 0; s < seats; s++, o += 8) {
    state.seats.push({ kills: v.getUint16(o, true), alive: v.getUint16(o + 2, true), ack: v.getUint32(o + 4, true) });
  }
  const n = v.getUint16(o, true); o += 2;
  if (!full && state.seq >= 0 && seq !== state.seq + 1) state.gaps++;  // the next full frame repairs it
  state.seq = seq; state.frames++; state.bytes += buf.byteLength;
  const now = performance.now();
  // Interpolation: each unit moves from where it is drawn now to its new position over one tick.
  const t = Math.min(1, (now - state.frameAt) / state.tickMs);
  const seen = full ? new Set() : null;
  for (const u of state.units.values()) { u.px = u.px + (u.x - u.px) * t; u.py = u.py + (u.y - u.py) * t; }
  for (let i = 0; i < n; i++, o += 8) {
    const id = v.getUint16(o, true), seat = v.getUint8(o + 2), hp = v.getUint8(o + 3);
    const x = v.getUint16(o + 4, true) / 65535 * state.map, y = v.getUint16(o + 6, true) / 65535 * state.map;
    if (seen) seen.add(id);
    if (hp === 0) { state.units.delete(id); continue; }
    const u = state.units.get(id);
    if (u) { u.x = x; u.y = y; u.hp = hp; u.seat = seat; } else state.units.set(id, { seat, hp, x, y, px: x, py: y });
  }
  if (seen) for (const id of [...state.units.keys()]) if (!seen.has(id)) state.units.delete(id);
  state.frameAt = now;
  renderScores();
}

function renderScores() {
  const body = $('scores').tBodies[0];
  body.innerHTML = '';
  state.seats.forEach((s, i) => {
    const p = state.players[i] || { name: '?' };
    const tr = document.createElement('tr');
    if (i === state.seat) tr.className = 'me';
    tr.innerHTML = `<td><span class="swatch" style="background:${COLORS[i % COLORS.length]}"></span></td>` +
      `<td></td><td>${s.alive}</td><td>${s.kills}</td>`;
    tr.children[1].textContent = p.name + (p.bot ? ' (bot)' : '');
    body.appendChild(tr);
  });
  const secs = Math.ceil(state.ticksLeft * state.tickMs / 1000);
  $('net').textContent = `frames ${state.frames} · ${(state.bytes / 1024).toFixed(0)} KiB · ${secs}s left`;
}

function draw() {
  const canvas = $('map');
  const ctx = canvas.getContext('2d');
  const k = canvas.width / state.map;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const t = Math.min(1, (performance.now() - state.frameAt) / state.tickMs);
  for (const u of state.units.values()) {
    const x = (u.px + (u.x - u.px) * t) * k, y = (u.py + (u.y - u.py) * t) * k;
    ctx.fillStyle = COLORS[u.seat % COLORS.length];
    ctx.beginPath(); ctx.arc(x, y, 5, 0, Math.PI * 2); ctx.fill();
    if (u.seat === state.seat) { ctx.strokeStyle = '#fff'; ctx.lineWidth = 1; ctx.stroke(); }
    // Health bar.
    ctx.fillStyle = '#000'; ctx.fillRect(x - 6, y - 10, 12, 2);
    ctx.fillStyle = '#7f7'; ctx.fillRect(x - 6, y - 10, 12 * u.hp / 255, 2);
  }
  if (state.target) {
    ctx.strokeStyle = '#fff'; ctx.setLineDash([4, 4]);
    ctx.beginPath(); ctx.arc(state.target.x * k, state.target.y * k, 12, 0, Math.PI * 2); ctx.stroke();
    ctx.setLineDash([]);
  }
  requestAnimationFrame(draw);
}

function moveTo(x, y) {
  x = Math.max(0, Math.min(state.map, x)); y = Math.max(0, Math.min(state.map, y));
  state.target = { x, y };
  send({ t: 'input', seq: ++state.inputSeq, x: Math.round(x), y: Math.round(y) });
}

$('map').addEventListener('click', (ev) => {
  const r = ev.target.getBoundingClientRect();
  moveTo((ev.clientX - r.left) / r.width * state.map, (ev.clientY - r.top) / r.height * state.map);
});
// Keyboard: arrows or WASD nudge the army's target.
document.addEventListener('keydown', (ev) => {
  if (state.seat < 0 || document.activeElement === $('name')) return;
  const d = { ArrowUp: [0, -1], KeyW: [0, -1], ArrowDown: [0, 1], KeyS: [0, 1],
              ArrowLeft: [-1, 0], KeyA: [-1, 0], ArrowRight: [1, 0], KeyD: [1, 0] }[ev.code];
  if (!d) return;
  const mine = [...state.units.values()].filter((u) => u.seat === state.seat);
  const base = state.target || (mine.length ? { x: mine.reduce((a, u) => a + u.x, 0) / mine.length,
                                                y: mine.reduce((a, u) => a + u.y, 0) / mine.length } : { x: 500, y: 500 });
  moveTo(base.x + d[0] * 60, base.y + d[1] * 60);
  ev.preventDefault();
});
$('join').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.removeItem('arena-token');
  send({ t: 'join', name: $('name').value.trim() });
});
$('leave').addEventListener('click', () => send({ t: 'leave' }));

async function loadLeaders() {
  try {
    const rows = await (await fetch('/api/leaderboard')).json();
    const ol = $('leaders');
    ol.innerHTML = '';
    for (const r of rows) {
      const li = document.createElement('li');
      li.textContent = `${r.name}: ${r.wins} wins, ${r.kills} kills in ${r.rounds} rounds`;
      ol.appendChild(li);
    }
  } catch (e) { /* the list stays as it was */ }
}

$('name').value = sessionStorage.getItem('arena-name') || '';
$('name').addEventListener('change', () => sessionStorage.setItem('arena-name', $('name').value));
show('lobby');
loadLeaders();
connect();
requestAnimationFrame(draw);

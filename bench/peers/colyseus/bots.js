// Bots for the Colyseus peer (colyseus.js clients): N bots join rooms of the server,
// send an input every INTERVAL ms (+-25%) once their round plays, and measure what
// arena_bots measures: input to the first state patch whose seat line acknowledges it,
// patches per second, tick jitter (|gap between patches - 50 ms|). Prints one JSON line.
//   node bots.js URL N SECONDS [INTERVAL_MS]
'use strict';

const { Client } = require('colyseus.js');

const [url, nArg, secsArg, intervalArg] = process.argv.slice(2);
const N = Number(nArg), SECONDS = Number(secsArg), INTERVAL = Number(intervalArg || 1000);
const latencies = [], jitters = [];
let frames = 0, inputs = 0, acked = 0, errors = 0, measuring = false, firstError = '';
const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms

async function bot(i) {
  const client = new Client(url);
  const room = await client.joinOrCreate('arena', { name: 'bot' + i });
  let seat = -1, seq = 0, lastPatch = 0, lastPhase = 0, nextInput = 0;
  const sent = [];  // [seq, time]
  room.onMessage('seat', (m) => { seat = m.seat; });
  room.onStateChange((state) => {
    const t = now();
    if (measuring) frames++;
    if (state.phase === 1 && lastPhase === 1 && lastPatch && measuring) jitters.push(Math.abs(t - lastPatch - 50));
    lastPatch = t; lastPhase = state.phase;
    if (seat < 0 || !state.seats[seat]) return;
    const ack = state.seats[seat].ack;
    while (sent.length && sent[0][0] <= ack) {
      const [, at] = sent.shift();
      if (measuring) { latencies.push(t - at); acked++; }
    }
  });
  room.onError((code, message) => { errors++; firstError = firstError || `${code} ${message}`; });
  room.onLeave((code) => { if (code !== 1000 && code !== 4000 && !stopping) { errors++; firstError = firstError || `left with ${code}`; } });
  setInterval(() => {
    const t = now();
    if (lastPhase !== 1 || t < nextInput) return;
    seq++;
    room.send('input', { seq, x: 100 + Math.floor(Math.random() * 801), y: 100 + Math.floor(Math.random() * 801) });
    sent.push([seq, t]);
    if (sent.length > 16) sent.shift();
    if (measuring) inputs++;
    nextInput = t + INTERVAL * (0.75 + Math.random() * 0.5);
  }, 10);
  return room;
}

let stopping = false;
const q = (a, p) => { if (!a.length) return 0; const s = Float64Array.from(a).sort(); return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]; };

(async () => {
  const rooms = [];
  // Join a few at a time (each join is an HTTP matchmaking request, then a WebSocket).
  for (let i = 0; i < N; i += 16) {
    const batch = [];
    for (let k = i; k < Math.min(N, i + 16); k++) batch.push(bot(k).catch((e) => { errors++; firstError = firstError || String(e.message || e); }));
    rooms.push(...(await Promise.all(batch)));
  }
  await new Promise((r) => setTimeout(r, 2000));  // countdowns end
  measuring = true;
  process.stderr.write('measuring\n');  // bench/arena.sh measures the server's CPU from here
  const t0 = now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const el = (now() - t0) / 1000;
  stopping = true;
  console.log(JSON.stringify({
    bots: N, seconds: el, frames, frames_per_player_s: frames / N / el, inputs, acked,
    latency_ms: { p50: q(latencies, 0.5), p99: q(latencies, 0.99) }, jitter_ms: { p99: q(jitters, 0.99) },
    errors, first_error: firstError,
  }));
  process.exit(0);
})();

// The arena's web client in a real browser: headless Chromium, driven over the DevTools
// protocol (node-ws), loads the page, joins, sees the countdown and moving units, clicks the
// map and sees its army obey, and saves a screenshot.
//
//   node browser_test.js --arena PATH --out DIR [--chromium PATH]
//
// Exits 0 on success, 1 with a reason otherwise. Everything it starts is stopped on exit.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const WebSocket = require('/usr/share/nodejs/ws');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const chromiumPath = args.chromium || 'chromium';
const outDir = args.out || '.';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'arena-browser-'));
const children = [];

function fail(why) {
  console.error('browser test: FAILED: ' + why);
  cleanup();
  process.exit(1);
}
function cleanup() {
  for (const c of children) { try { c.kill('SIGKILL'); } catch (e) { /* gone */ } }
  try {
    fs.rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (e) { /* a browser still writing its profile: leave the scratch directory */ }
}
setTimeout(() => fail('did not finish within 90 s'), 90000).unref();

// Waits for a line of `stream` matching `re`; resolves with the match.
function waitLine(stream, re, what, ms = 20000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('no ' + what + ' within ' + ms + ' ms: ' + buf.slice(-500))), ms);
    stream.on('data', (d) => {
      buf += d.toString();
      const m = buf.match(re);
      if (m) { clearTimeout(timer); resolve(m); }
    });
  });
}

// A DevTools protocol session over the browser's WebSocket (flat sessions).
class Cdp {
  constructor(url) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.next = 1;
    this.waiting = new Map();
    this.ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.id && this.waiting.has(m.id)) {
        const { resolve, reject } = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.error) reject(new Error(JSON.stringify(m.error))); else resolve(m.result);
      }
    });
  }
  open() { return new Promise((resolve, reject) => { this.ws.once('open', resolve); this.ws.once('error', reject); }); }
  send(method, params = {}, sessionId = undefined) {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }
}

async function main() {
  // 1. The arena, on a free port, with a short countdown and a bot after 300 ms.
  const arena = spawn(args.arena, ['--port', '0', '--db', path.join(work, 'board.db'), '--seats', '2',
    '--countdown-ms', '2000', '--round-ms', '30000', '--bot-wait-ms', '300'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(arena);
  const port = (await waitLine(arena.stdout, /listening on http:\/\/127\.0\.0\.1:(\d+)\//, 'arena port'))[1];
  const url = `http://127.0.0.1:${port}/`;

  // 2. Chromium, headless, with the DevTools protocol on a free port.
  const chrome = spawn(chromiumPath, ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
    '--no-first-run', '--no-default-browser-check', '--remote-debugging-port=0', '--user-data-dir=' + path.join(work, 'profile'),
    '--window-size=1200,1000', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(chrome);
  const devtools = (await waitLine(chrome.stderr, /DevTools listening on (ws:\/\/\S+)/, 'DevTools endpoint', 30000))[1];
  const cdp = new Cdp(devtools);
  await cdp.open();
  const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
  const page = (method, params) => cdp.send(method, params, sessionId);
  const js = async (expression) => {
    const r = await page('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error('page threw: ' + JSON.stringify(r.exceptionDetails).slice(0, 300));
    return r.result.value;
  };
  const until = async (expression, what, ms = 15000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await js(expression);
      if (v) return v;
      if (Date.now() > deadline) {
        const st = await js('JSON.stringify({conn: arena.conn, phase: arena.phase, frames: arena.frames, units: arena.units.size, seat: arena.seat})');
        throw new Error('timed out waiting for ' + what + ' (' + st + ')');
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await page('Page.enable');
  await page('Page.navigate', { url });

  // 3. The page loads and its WebSocket opens; join the lobby.
  await until('window.arena && arena.conn === "open"', 'the WebSocket to open');
  await js('document.getElementById("name").value = "chromium"; document.getElementById("join").requestSubmit(); true');
  await until('arena.seat >= 0', 'a seat');
  // 4. The countdown shows, then the round starts with the units drawn and moving.
  await until('arena.phase === "countdown" && /^[0-9]$/.test(document.getElementById("overlay").textContent)', 'the countdown');
  await until('arena.phase === "playing" && arena.frames > 5', 'the round to start');
  const units = await js('arena.units.size');
  if (units !== 96) throw new Error('expected 96 units on the map, saw ' + units);
  // 5. Click the map's top-left region: the army's centre must move towards it.
  const centre = `(() => { const m = [...arena.units.values()].filter((u) => u.seat === arena.seat);
    return { x: m.reduce((a, u) => a + u.x, 0) / m.length, y: m.reduce((a, u) => a + u.y, 0) / m.length }; })()`;
  const before = await js(centre);
  const target = { x: 150, y: 150 };
  const rect = await js('(() => { const r = document.getElementById("map").getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; })()');
  const cx = rect.x + target.x / 1000 * rect.w, cy = rect.y + target.y / 1000 * rect.h;
  for (const type of ['mousePressed', 'mouseReleased']) {
    await page('Input.dispatchMouseEvent', { type, x: cx, y: cy, button: 'left', clickCount: 1 });
  }
  await until('arena.inputSeq === 1 && arena.seats[arena.seat].ack === 1', 'the server to acknowledge the click');
  const dist = (p) => Math.hypot(p.x - target.x, p.y - target.y);
  await new Promise((r) => setTimeout(r, 1500));
  const after = await js(centre);
  if (!(dist(after) < dist(before) - 40)) {
    throw new Error(`the army did not move towards the click: ${dist(before).toFixed(0)} -> ${dist(after).toFixed(0)}`);
  }
  // 6. A screenshot of the game, kept as an artifact.
  const shot = await page('Page.captureScreenshot', { format: 'png' });
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'arena-browser.png');
  fs.writeFileSync(file, Buffer.from(shot.data, 'base64'));
  const scores = await js('document.querySelectorAll("#scores tbody tr").length');
  if (scores !== 2) throw new Error('the scoreboard shows ' + scores + ' rows, not 2');
  console.log(`browser test: passed (army ${dist(before).toFixed(0)} -> ${dist(after).toFixed(0)} from the click; screenshot ${file})`);

  cdp.ws.close();
  const chromeGone = new Promise((resolve) => chrome.on('exit', resolve));
  chrome.kill('SIGTERM');
  await chromeGone;
  arena.kill('SIGTERM');
  const code = await new Promise((resolve) => arena.on('exit', resolve));
  if (code !== 0) throw new Error('the arena exited with ' + code + ' after SIGTERM');
  cleanup();
  process.exit(0);
}

main().catch((e) => fail(e.message));

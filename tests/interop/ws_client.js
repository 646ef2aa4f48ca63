// Interoperability of ringactor's WebSocket server with a real client: the `ws` package
// (Debian node-ws), against demos/hello's /ws/echo and /ws/room/:name.
//   node tests/interop/ws_client.js PORT      prints "ok" and exits 0, or "FAIL ..." and 1
// Echo of 0 B to 16 MiB (binary, with and without permessage-deflate), multi-byte text,
// a fragmented message, ping/pong, a close code echoed; 50 clients in one room, each
// sender's messages in order at every member.
'use strict';
let WebSocket;
try {
  WebSocket = require('ws');
} catch (e) {
  WebSocket = require('/usr/share/nodejs/ws');
}

const port = process.argv[2];
const base = `ws://127.0.0.1:${port}`;
const fail = (msg) => {
  console.log('FAIL ' + msg);
  process.exit(1);
};
setTimeout(() => fail('timed out'), 90000).unref();

const open = (path, opts) =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(base + path, opts);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
const nextMessage = (ws) => new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));

async function echo(deflate) {
  const ws = await open('/ws/echo', { perMessageDeflate: deflate, maxPayload: 32 << 20 });
  if (deflate !== ws.extensions.includes('permessage-deflate')) fail(`deflate negotiated: ${ws.extensions}`);
  for (const n of [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]) {
    const buf = Buffer.alloc(n);
    for (let i = 0; i < n; i++) buf[i] = (i * 31 + (i >> 9)) & 0xff;
    const p = nextMessage(ws);
    ws.send(buf, { binary: true });
    const m = await p;
    if (!m.isBinary || !Buffer.from(m.data).equals(buf)) fail(`binary echo of ${n} bytes (deflate ${deflate})`);
  }
  const text = 'héllo wörld ✓ 🎮 '.repeat(1000);
  let p = nextMessage(ws);
  ws.send(text);
  let m = await p;
  if (m.isBinary || m.data.toString() !== text) fail('text echo');
  p = nextMessage(ws);
  ws.send('frag', { fin: false });
  ws.send('men', { fin: false });
  ws.send('ted', { fin: true });
  m = await p;
  if (m.data.toString() !== 'fragmented') fail('fragmented message came back as ' + m.data.toString());
  const pong = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping('are you there');
  if ((await pong).toString() !== 'are you there') fail('pong payload');
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(4001, 'done');
  const code = await closed;
  if (code !== 4001) fail('close answered with ' + code);
}

async function room() {
  const clients = 50;
  const each = 20;
  const members = await Promise.all(Array.from({ length: clients }, () => open('/ws/room/interop', { perMessageDeflate: true })));
  const done = members.map(
    (ws, me) =>
      new Promise((resolve) => {
        const next = new Array(clients).fill(0);
        let got = 0;
        ws.on('message', (data) => {
          const [from, k] = data.toString().split(':').map(Number);
          if (k !== next[from]) fail(`member ${me}: message ${k} of sender ${from}, expected ${next[from]}`);
          next[from]++;
          if (++got === clients * each) resolve();
        });
      }),
  );
  // Every member is subscribed once its upgrade is answered (open): publish now.
  members.forEach((ws, i) => {
    for (let k = 0; k < each; k++) ws.send(`${i}:${k}`);
  });
  await Promise.all(done);
  await Promise.all(members.map((ws) => new Promise((resolve) => {
    ws.once('close', resolve);
    ws.close(1000);
  })));
}

(async () => {
  await echo(false);
  await echo(true);
  await room();
  console.log('ok');
  process.exit(0);
})().catch((e) => fail(String(e && e.stack ? e.stack : e)));

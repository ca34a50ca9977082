// Engine.IO v4 over raw HTTP requests and the `ws` package: handshake values,
// heartbeat and its timeout, the close packet, and the polling → WebSocket
// upgrade, against the settings of the public protocol suite (pingInterval
// 300 ms, pingTimeout 200 ms, maxPayload 1000000).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  startInstance, request, pollHandshake, pollGet, pollPost, decodePayload, parseOpen,
  waitSessionGone, errorBody, withTimeout, sleep,
} from './harness.mjs';

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const MAX_PAYLOAD = 1000000;

let inst;
before(async () => {
  inst = await startInstance('protocol', {
    pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, maxPayload: MAX_PAYLOAD, cors: '*',
  });
});
after(async () => { await inst?.stop(); });

/** A `ws` client with a lossless message queue. */
function wsOpen(url) {
  const ws = new WebSocket(url);
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    queue.push(isBinary ? Buffer.from(data) : data.toString('utf8'));
    waiters.splice(0).forEach((w) => w());
  });
  ws.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  ws.next = async (ms = 3000) => {
    await withTimeout((async () => {
      while (!queue.length) {
        if (ws.readyState === WebSocket.CLOSED) throw new Error('WebSocket closed');
        await new Promise((r) => { waiters.push(r); ws.once('close', r); });
      }
    })(), ms, 'a WebSocket message');
    return queue.shift();
  };
  ws.opened = withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (req, res) => reject(new Error(`WebSocket refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  }), 5000, 'WebSocket open');
  return ws;
}

function checkOpen(open, upgrades) {
  assert.deepEqual(Object.keys(open).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
  assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
  assert.deepEqual(open.upgrades, upgrades);
  assert.equal(open.pingInterval, PING_INTERVAL);
  assert.equal(open.pingTimeout, PING_TIMEOUT);
  assert.equal(open.maxPayload, MAX_PAYLOAD);
}

test('polling handshake: open packet with sid, upgrades, pingInterval, pingTimeout, maxPayload', async () => {
  const a = await pollHandshake(inst);
  const b = await pollHandshake(inst);
  assert.match(a.res.headers['content-type'] || '', /^text\/plain/);
  checkOpen(a.open, ['websocket']);
  assert.notEqual(a.sid, b.sid, 'two handshakes must get different sids');
  assert.equal(decodePayload(a.res.body).length, 1, 'only the open packet');
});

test('websocket handshake: open packet first, no upgrades', async () => {
  const ws = wsOpen(inst.wsUrl());
  await ws.opened;
  checkOpen(parseOpen(await ws.next()), []);
  ws.close();
});

test('echo over polling: text and base64 binary in one payload', async () => {
  const { sid } = await pollHandshake(inst);
  const r = await pollPost(inst, sid, ['4hello', 'bAQIDBA==', '4é€']);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
  const got = [];
  while (got.length < 3) {
    const g = await pollGet(inst, sid, { timeout: 3000 });
    assert.equal(g.status, 200, g.body);
    for (const p of decodePayload(g.body)) {
      if (p === '2') await pollPost(inst, sid, ['3']);
      else got.push(p);
    }
  }
  assert.deepEqual(got, ['4hello', 'bAQIDBA==', '4é€']);
});

test('echo over websocket: text frame and binary frame', async () => {
  const ws = wsOpen(inst.wsUrl());
  await ws.opened;
  parseOpen(await ws.next());
  ws.send('4hello');
  ws.send(Buffer.from([1, 2, 3, 4]));
  const got = [];
  while (got.length < 2) {
    const m = await ws.next();
    if (m === '2') ws.send('3'); else got.push(m);
  }
  assert.equal(got[0], '4hello');
  assert.ok(Buffer.isBuffer(got[1]), 'binary echo arrives as a binary frame');
  assert.deepEqual([...got[1]], [1, 2, 3, 4]);
  ws.close();
});

test('heartbeat over polling: GET answers "2" again and again while ponged', { timeout: 15000 }, async () => {
  const { sid } = await pollHandshake(inst);
  for (let i = 0; i < 4; i++) {
    const t0 = Date.now();
    const g = await pollGet(inst, sid, { timeout: 3000 });
    assert.equal(g.status, 200, g.body);
    assert.equal(g.body, '2');
    assert.ok(Date.now() - t0 < PING_INTERVAL + 1000, 'ping within pingInterval');
    const p = await pollPost(inst, sid, ['3']);
    assert.equal(p.status, 200);
  }
});

test('heartbeat timeout over polling: session gone (400 code 1) after pingInterval + pingTimeout without pong', { timeout: 15000 }, async () => {
  const { sid } = await pollHandshake(inst);
  const t0 = Date.now();
  const { res, seen } = await waitSessionGone(inst, sid, 5000);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= PING_INTERVAL + PING_TIMEOUT - 100, `closed too early (${elapsed} ms)`);
  assert.ok(elapsed < PING_INTERVAL + PING_TIMEOUT + 2500, `closed too late (${elapsed} ms)`);
  assert.equal(seen[0], '2', `first packet is a ping (saw ${JSON.stringify(seen)})`);
  assert.equal(res.status, 400);
  assert.deepEqual(errorBody(res), { code: 1, message: 'Session ID unknown' });
});

test('heartbeat over websocket: pings answered keep it open; without pong it closes', { timeout: 15000 }, async () => {
  const ws = wsOpen(inst.wsUrl());
  await ws.opened;
  parseOpen(await ws.next());
  for (let i = 0; i < 3; i++) {
    assert.equal(await ws.next(PING_INTERVAL + 1000), '2');
    ws.send('3');
  }
  assert.equal(await ws.next(PING_INTERVAL + 1000), '2');
  const t0 = Date.now();
  const c = await withTimeout(ws.closed, PING_TIMEOUT + 3000, 'close after ping timeout');
  assert.ok(Date.now() - t0 < PING_TIMEOUT + 2500);
  assert.ok(c.code >= 1000, `close code ${c.code}`);
});

test('close packet over polling: pending GET gets "6", then the session is gone', { timeout: 15000 }, async () => {
  const { sid } = await pollHandshake(inst);
  const pending = pollGet(inst, sid, { timeout: 5000 });
  await sleep(50);
  const p = await pollPost(inst, sid, ['1']);
  assert.equal(p.status, 200);
  const g = await pending;
  assert.equal(g.status, 200);
  assert.equal(g.body, '6', 'pending GET is released with a noop');
  const after1 = await pollGet(inst, sid, { timeout: 3000 });
  assert.equal(after1.status, 400);
  assert.deepEqual(errorBody(after1), { code: 1, message: 'Session ID unknown' });
});

test('close packet over websocket: the server closes the connection', { timeout: 15000 }, async () => {
  const ws = wsOpen(inst.wsUrl());
  await ws.opened;
  parseOpen(await ws.next());
  ws.send('1');
  const c = await withTimeout(ws.closed, 3000, 'close after close packet');
  assert.ok(c.code >= 1000, `close code ${c.code}`);
});

test('upgrade: 2probe/3probe, pending GET gets "6", 5 completes, polling then refused, second WebSocket refused', { timeout: 20000 }, async () => {
  const { sid } = await pollHandshake(inst);
  const pending = pollGet(inst, sid, { timeout: 5000 });
  await sleep(50);
  const ws = wsOpen(inst.wsUrl(sid));
  await ws.opened;
  ws.send('2probe');
  assert.equal(await ws.next(), '3probe');
  const g = await pending;
  assert.equal(g.status, 200);
  assert.equal(g.body, '6', 'pending GET released with a noop during the upgrade');
  ws.send('5');
  await sleep(100);
  ws.send('4after upgrade');
  let m;
  do { m = await ws.next(); if (m === '2') ws.send('3'); } while (m === '2');
  assert.equal(m, '4after upgrade');

  const late = await pollGet(inst, sid, { timeout: 3000 });
  assert.equal(late.status, 400, `polling after upgrade answered ${late.status} ${late.body}`);

  // A second WebSocket for the same sid must not take over.
  const ws2 = new WebSocket(inst.wsUrl(sid));
  ws2.on('error', () => {});
  const outcome = await withTimeout(new Promise((resolve) => {
    ws2.once('unexpected-response', (req, res) => resolve(`refused ${res.statusCode}`));
    ws2.once('close', (code) => resolve(`closed ${code}`));
    ws2.on('message', (d) => { if (String(d) === '3probe') resolve('accepted probe'); });
    ws2.once('open', () => ws2.send('2probe'));
  }), 5000, 'second WebSocket outcome');
  assert.match(outcome, /^(refused|closed)/);
  ws2.terminate();

  // and the first one still works
  ws.send('4still here');
  do { m = await ws.next(); if (m === '2') ws.send('3'); } while (m === '2');
  assert.equal(m, '4still here');
  ws.close();
});

// The client's polling requests and its WebSocket messages reach siod through
// different httpd children, so one can overtake the other. These are the
// orders the reference guarantees within one process; repeated to catch races.
test('ordering across children: a GET sent after "2probe","5" gets 400; a GET sent with POST "1" gets "6"', { timeout: 30000 }, async () => {
  for (let i = 0; i < 10; i++) {
    const { sid } = await pollHandshake(inst);
    const ws = wsOpen(inst.wsUrl(sid));
    await ws.opened;
    ws.send('2probe');
    ws.send('5');
    const r = await pollGet(inst, sid);
    assert.equal(r.status, 400, `round ${i}: GET after the upgrade packet: ${r.status} ${r.body}`);
    assert.deepEqual(JSON.parse(r.body), { code: 3, message: 'Bad request' });
    ws.close();
  }
  for (let i = 0; i < 10; i++) {
    const { sid } = await pollHandshake(inst);
    const [get, post] = await Promise.all([pollGet(inst, sid), pollPost(inst, sid, '1')]);
    assert.equal(post.status, 200);
    assert.equal(get.status, 200, `round ${i}: held GET: ${get.status} ${get.body}`);
    assert.equal(get.body, '6');
    const after = await pollGet(inst, sid);
    assert.equal(after.status, 400);
  }
});

test('CORS: a handshake with Origin gets Access-Control-Allow-Origin', async () => {
  const r = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }), {
    headers: { Origin: 'http://example.com' },
  });
  assert.equal(r.status, 200);
  assert.ok(['*', 'http://example.com'].includes(r.headers['access-control-allow-origin']),
    `Access-Control-Allow-Origin: ${r.headers['access-control-allow-origin']}`);
});

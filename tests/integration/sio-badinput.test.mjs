// Invalid Socket.IO input from a raw `ws` client, through httpd +
// mod_socketio + siod (testkit app): every malformed or out-of-place packet
// closes that client's connection — and only it: an official
// socket.io-client on the same server keeps working throughout. Also
// connectTimeout: a connection that joins no namespace is closed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  startInstance, sioConnect, closeAll, withTimeout, pollHandshake, pollPost, pollGet, decodePayload,
  waitSessionGone, sleep,
} from './harness.mjs';

const CONNECT_TIMEOUT = 1000;

let inst;
let survivor;
before(async () => {
  inst = await startInstance('sio-badinput', {
    app: 'testkit', pingInterval: 5000, pingTimeout: 5000, connectTimeout: CONNECT_TIMEOUT,
  });
  survivor = await sioConnect(inst, '/', { transports: ['websocket'] });
});
after(async () => {
  closeAll(survivor);
  await sleep(200); // its close packet reaches the server first
  await inst?.stop();
});

/** A `ws` client on the Engine.IO endpoint with a lossless message queue. */
async function rawWs() {
  const ws = new WebSocket(inst.wsUrl());
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    queue.push(isBinary ? Buffer.from(data) : data.toString('utf8'));
    waiters.splice(0).forEach((w) => w());
  });
  ws.on('error', () => {});
  ws.closed = new Promise((resolve) => ws.on('close', (code) => { resolve(code); waiters.splice(0).forEach((w) => w()); }));
  ws.next = async (ms = 3000) => {
    await withTimeout((async () => {
      while (!queue.length) {
        if (ws.readyState === WebSocket.CLOSED) throw new Error('WebSocket closed');
        await new Promise((r) => waiters.push(r));
      }
    })(), ms, 'a WebSocket message');
    return queue.shift();
  };
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (req, res) => reject(new Error(`WebSocket refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  }), 5000, 'WebSocket open');
  const open = await ws.next();
  assert.equal(open[0], '0', `Engine.IO open packet: ${open}`);
  ws.openedAt = Date.now();
  return ws;
}

/** A raw client connected to "/" (CONNECT answered, welcome read). */
async function rawSio() {
  const ws = await rawWs();
  ws.send('40');
  assert.match(await ws.next(), /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  assert.match(await ws.next(), /^42\["welcome",/);
  return ws;
}

async function survivorWorks(label) {
  assert.equal(survivor.connected, true, `${label}: the other client was disconnected`);
  assert.equal(await withTimeout(survivor.emitWithAck('echo', label), 5000, `${label}: the other client's echo`), label);
}

async function expectClosed(ws, label) {
  const code = await withTimeout(ws.closed, 5000, `${label}: the server to close the connection\n${inst.logs(8)}`);
  assert.ok(code === 1000 || code === 1005 || code === 1006 || code === 1011 || code === 1002,
    `${label}: close code ${code}`);
}

const ph = (n) => `{"_placeholder":true,"num":${n}}`;

const BAD = [
  ['unknown packet type 7', ['47["x"]']],
  ['bad JSON', ['42[']],
  ['ack id with letters', ['42abc["x"]']],
  ['ack id too large', ['4299999999999999999999["x"]']],
  ['placeholder beyond the attachment count', [`451-["x",${ph(1)}]`]],
  ['more than 10 attachments', [`4511-["x",${Array.from({ length: 11 }, (_, i) => ph(i)).join(',')}]`]],
  ['text while attachments are awaited', [`452-["x",${ph(0)},${ph(1)}]`, Buffer.from([1]), '42["echo","x"]']],
  ['binary frame with no packet awaiting it', [Buffer.from([1, 2, 3])]],
  ['reserved event name "connect"', ['42["connect"]']],
  ['reserved event name "disconnecting"', ['42["disconnecting",1]']],
  ['event payload an object', ['42{"a":1}']],
  ['event payload a string', ['42"x"']],
  ['empty event array', ['42[]']],
  ['event name null', ['42[null,1]']],
  ['event for a namespace not joined', ['42/a,["x"]']],
  ['CONNECT_ERROR from the client', ['44{"message":"x"}']],
  ['second CONNECT to the same namespace', ['40']],
  ['CONNECT with a string as auth', ['40/a,"str"']],
  ['ack with an object payload', ['43{"a":1}']],
];

for (const [name, frames] of BAD) {
  test(`invalid packet closes only its client: ${name}`, { timeout: 15000 }, async () => {
    const ws = await rawSio();
    for (const f of frames) ws.send(f);
    await expectClosed(ws, name);
    await survivorWorks(name);
  });
}

for (const [name, body] of [['bad JSON', '42['], ['unknown packet type 7', '47["x"]']]) {
  test(`invalid packet over long-polling closes only that session: ${name}`, { timeout: 15000 }, async () => {
    const { sid } = await pollHandshake(inst);
    assert.equal((await pollPost(inst, sid, ['40'])).status, 200);
    const first = decodePayload((await pollGet(inst, sid)).body);
    assert.match(first[0], /^40\{"sid":/);
    const p = await pollPost(inst, sid, [body]);
    assert.ok([200, 400].includes(p.status), `POST → ${p.status} ${p.body}`);
    const { res } = await waitSessionGone(inst, sid, 5000);
    assert.equal(res.status, 400);
    await survivorWorks(`${name} (polling)`);
  });
}

test('valid but odd packets keep the connection: unknown ack id, numeric event name, ack ids, placeholder-shaped data', { timeout: 15000 }, async () => {
  const ws = await rawSio();
  try {
    ws.send('43999[]');        // an answer nobody waits for: ignored
    ws.send('42[1,"x"]');      // numeric event name
    ws.send('42["echo","hi"]');
    assert.equal(await ws.next(), '42["echo","hi"]');
    ws.send('427["echo","hi",{"n":1}]');
    assert.equal(await ws.next(), '437["hi",{"n":1}]');
    // a placeholder-shaped object in a text packet is plain data
    ws.send(`428["echo",${ph(3)}]`);
    assert.equal(await ws.next(), `438[${ph(3)}]`);
    ws.send(`451-["echo",${ph(0)}]`);
    ws.send(Buffer.from([5, 6]));
    assert.equal(await ws.next(), `451-["echo",${ph(0)}]`);
    assert.deepEqual(await ws.next(), Buffer.from([5, 6]));
    assert.equal(ws.readyState, WebSocket.OPEN);
  } finally {
    ws.close();
  }
  await survivorWorks('after the odd packets');
});

test(`connectTimeout: a WebSocket that never sends CONNECT is closed after ~${CONNECT_TIMEOUT} ms`, { timeout: 15000 }, async () => {
  const ws = await rawWs();
  await expectClosed(ws, 'no CONNECT');
  const after = Date.now() - ws.openedAt;
  assert.ok(after >= CONNECT_TIMEOUT - 150 && after < CONNECT_TIMEOUT + 2500,
    `closed ${after} ms after open (connectTimeout ${CONNECT_TIMEOUT})`);
  await survivorWorks('after connectTimeout');
});

test('connectTimeout: a polling session that never sends CONNECT ends too', { timeout: 15000 }, async () => {
  const t0 = Date.now();
  const { sid } = await pollHandshake(inst);
  const { res } = await waitSessionGone(inst, sid, CONNECT_TIMEOUT + 4000);
  assert.equal(res.status, 400);
  assert.ok(Date.now() - t0 >= CONNECT_TIMEOUT - 150, `gone after ${Date.now() - t0} ms`);
});

test('connectTimeout: a connection that joined and left again stays open', { timeout: 15000 }, async () => {
  const ws = await rawSio();
  try {
    ws.send('41');
    await sleep(CONNECT_TIMEOUT + 700);
    assert.equal(ws.readyState, WebSocket.OPEN, 'closed after leaving its only namespace');
    ws.send('40/b,');
    assert.match(await ws.next(), /^40\/b,\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  } finally {
    ws.close();
  }
});

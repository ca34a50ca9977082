// U+0000 in names, through httpd + mod_socketio + siod (testkit app): an
// event name or a namespace holding it is a protocol error that closes
// the client's connection (a C application would read "disconnect\u0000"
// as the reserved "disconnect"), and a room name holding it, read from the
// arguments by the application, is refused (it would be cut at the NUL
// and name another room). An official client on the same server keeps
// working throughout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  startInstance, sioConnect, closeAll, withTimeout, pollHandshake, pollPost, pollGet, decodePayload,
  waitSessionGone, sleep, ackOf,
} from './harness.mjs';

let inst;
let survivor;
before(async () => {
  inst = await startInstance('sio-nul', { app: 'testkit', pingInterval: 5000, pingTimeout: 5000 });
  survivor = await sioConnect(inst, '/', { transports: ['websocket'] });
});
after(async () => {
  closeAll(survivor);
  await sleep(200);
  await inst?.stop();
});

/** A raw `ws` client connected to "/" (CONNECT answered, welcome read). */
async function rawSio() {
  const ws = new WebSocket(inst.wsUrl());
  const queue = [];
  const waiters = [];
  ws.on('message', (data) => { queue.push(data.toString('utf8')); waiters.splice(0).forEach((w) => w()); });
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
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }),
    5000, 'WebSocket open');
  assert.equal((await ws.next())[0], '0');
  ws.send('40');
  assert.match(await ws.next(), /^40\{"sid":/);
  assert.match(await ws.next(), /^42\["welcome",/);
  return ws;
}

async function survivorWorks(label) {
  assert.equal(survivor.connected, true, `${label}: the other client was disconnected`);
  assert.equal(await survivor.timeout(5000).emitWithAck('echo', label), label);
}

const BAD = [
  ['"disconnect\\u0000" (a reserved name once cut)', '42["disconnect\\u0000"]'],
  ['"echo\\u0000x" with an ack', '421["echo\\u0000x","a"]'],
  ['a lone "\\u0000"', '42["\\u0000",1]'],
  ['a binary event named "e\\u0000"', '451-["e\\u0000",{"_placeholder":true,"num":0}]'],
  ['a namespace holding NUL', '40/a\u0000,'],
];

for (const [name, packet] of BAD) {
  test(`U+0000 is a protocol error: ${name}`, { timeout: 15000 }, async () => {
    const ws = await rawSio();
    ws.send(packet);
    const code = await withTimeout(ws.closed, 5000, `${name}: the server to close the connection\n${inst.logs(8)}`);
    assert.ok([1000, 1005, 1006].includes(code), `${name}: close code ${code}`);
    await survivorWorks(name);
  });
}

test('U+0000 in an event name over long-polling ends the session (parse error)', { timeout: 15000 }, async () => {
  const { sid } = await pollHandshake(inst);
  assert.equal((await pollPost(inst, sid, ['40'])).status, 200);
  assert.match(decodePayload((await pollGet(inst, sid)).body)[0], /^40\{"sid":/);
  const p = await pollPost(inst, sid, ['42["disconnect\\u0000"]']);
  assert.ok([200, 400].includes(p.status), `POST → ${p.status} ${p.body}`);
  const { res, seen } = await waitSessionGone(inst, sid, 5000);
  assert.equal(res.status, 400);
  assert.ok(!seen.some((s) => s.startsWith('42["gone"')), `no disconnect reached the app as an event: ${seen}`);
  await survivorWorks('polling');
});

test('the escape of a backslash followed by "u0000" is an ordinary name', { timeout: 15000 }, async () => {
  const ws = await rawSio();
  try {
    ws.send('427["echo","a\\u0000b"]');   // NUL in an argument is data
    assert.equal(await ws.next(), '437["a\\u0000b"]');
    ws.send('428["x\\\\u0000"]');         // event x\u0000 spelled with a backslash: unknown, ignored
    ws.send('429["echo",1]');
    assert.equal(await ws.next(), '439[1]');
    assert.equal(ws.readyState, WebSocket.OPEN);
  } finally {
    ws.close();
  }
});

test('a room name holding U+0000 is refused by the application API, not cut', { timeout: 15000 }, async () => {
  const s = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    assert.deepEqual(await ackOf(s, 'join', ['r\u0000x']), [false]);
    assert.deepEqual(await ackOf(s, 'join', [['ok', 'r\u0000']]), [false]);
    const [rooms] = await ackOf(s, 'rooms');
    assert.ok(!rooms.includes('r') && !rooms.includes('r\u0000x'), `rooms: ${JSON.stringify(rooms)}`);
    assert.deepEqual(await ackOf(s, 'join', ['r']), [true]);
    assert.deepEqual(await ackOf(s, 'leave', ['r\u0000x']), [false]);
    assert.ok((await ackOf(s, 'rooms'))[0].includes('r'), 'leaving "r\\u0000x" left "r"');
  } finally {
    closeAll(s);
  }
});

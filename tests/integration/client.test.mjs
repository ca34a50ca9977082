// The official engine.io-client (npm) against httpd + mod_socketio + siod's
// echo-engine app: polling only, WebSocket only, and polling upgraded to
// WebSocket; text and binary messages come back unchanged; close ends the
// session on the server too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'engine.io-client';
import { startInstance, withTimeout, pollGet, errorBody, waitFor, decodePayload } from './harness.mjs';

let inst;
before(async () => { inst = await startInstance('client', { pingInterval: 2000, pingTimeout: 2000 }); });
after(async () => { await inst?.stop(); });

/** Opens a client and returns {sock, messages(n)} with a lossless queue. */
function open(opts) {
  const sock = new Socket(`http://127.0.0.1:${inst.port}`, { path: '/socket.io/', ...opts });
  const queue = [];
  const waiters = [];
  sock.on('message', (m) => { queue.push(m); waiters.splice(0).forEach((w) => w()); });
  const opened = new Promise((resolve, reject) => {
    sock.once('open', resolve);
    sock.once('error', (e) => reject(new Error(`engine.io-client error: ${e?.message || e} ${e?.description?.message || ''}\n${inst.logs()}`)));
    sock.once('close', (reason, desc) => reject(new Error(`closed before open: ${reason} ${desc?.message || ''}`)));
  });
  const next = async (ms = 5000) => {
    await withTimeout((async () => {
      while (!queue.length) await new Promise((r) => waiters.push(r));
    })(), ms, 'an echoed message');
    return queue.shift();
  };
  return { sock, opened: withTimeout(opened, 10000, 'engine.io-client open'), next };
}

function closed(sock) {
  return withTimeout(new Promise((r) => sock.once('close', (reason) => r(reason))), 5000, 'close event');
}

async function echoes(c) {
  c.sock.send('hello');
  assert.equal(await c.next(), 'hello');
  const text = 'héllo wörld € 😀 ' + 'x'.repeat(3000);
  c.sock.send(text);
  assert.equal(await c.next(), text);
  const bin = new Uint8Array([0, 1, 2, 3, 127, 128, 254, 255]);
  c.sock.send(bin);
  const back = await c.next();
  assert.ok(typeof back !== 'string', `binary came back as text: ${JSON.stringify(back)}`);
  assert.deepEqual([...new Uint8Array(back.buffer ? back.buffer.slice(back.byteOffset, back.byteOffset + back.byteLength) : back)], [...bin]);
  // several in a row keep their order
  for (let i = 0; i < 5; i++) c.sock.send(`n${i}`);
  for (let i = 0; i < 5; i++) assert.equal(await c.next(), `n${i}`);
}

/** After the client closed, the server must have dropped the session. */
async function sessionGone(sid) {
  await waitFor(async () => {
    const r = await pollGet(inst, sid, { timeout: 3000 });
    if (r.status === 200) { decodePayload(r.body); return false; }
    return r;
  }, 5000, `session ${sid} to end on the server`).then((r) => {
    assert.equal(r.status, 400);
    // after an upgrade the sid may still be known to be on another transport
    assert.ok([1, 3].includes(errorBody(r).code), r.body);
  });
}

test('engine.io-client, polling only: open, echo text and binary, close', { timeout: 30000 }, async () => {
  const c = open({ transports: ['polling'] });
  await c.opened;
  assert.equal(c.sock.transport.name, 'polling');
  assert.equal(c.sock.id.length, 20);
  await echoes(c);
  assert.equal(c.sock.transport.name, 'polling');
  const sid = c.sock.id;
  const reason = closed(c.sock);
  c.sock.close();
  assert.equal(await reason, 'forced close');
  await sessionGone(sid);
});

test('engine.io-client, websocket only: open, echo text and binary, close', { timeout: 30000 }, async () => {
  const c = open({ transports: ['websocket'] });
  await c.opened;
  assert.equal(c.sock.transport.name, 'websocket');
  await echoes(c);
  const reason = closed(c.sock);
  c.sock.close();
  assert.equal(await reason, 'forced close');
});

test('engine.io-client, polling upgraded to websocket: echo before and after, close', { timeout: 30000 }, async () => {
  const c = open({});
  const upgraded = withTimeout(new Promise((r) => c.sock.once('upgrade', r)), 10000, 'upgrade event');
  await c.opened;
  c.sock.send('before');
  assert.equal(await c.next(), 'before');
  await upgraded;
  assert.equal(c.sock.transport.name, 'websocket');
  await echoes(c);
  const sid = c.sock.id;
  const reason = closed(c.sock);
  c.sock.close();
  assert.equal(await reason, 'forced close');
  await sessionGone(sid);
});

test('engine.io-client: ten concurrent clients each get only their own echoes', { timeout: 30000 }, async () => {
  const clients = [];
  for (let i = 0; i < 10; i++) clients.push(open({ transports: i % 2 ? ['websocket'] : ['polling'] }));
  await Promise.all(clients.map((c) => c.opened));
  clients.forEach((c, i) => c.sock.send(`client-${i}`));
  for (let i = 0; i < clients.length; i++) assert.equal(await clients[i].next(), `client-${i}`);
  for (const c of clients) c.sock.close();
});

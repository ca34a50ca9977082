// Emits from @socket.io/redis-emitter (uid "emitter", published straight to
// Redis by a process that is no server) reach our node's clients with
// rooms, except, namespaces and flags respected, binary as attachments and
// a Date as JSON.stringify writes it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { Emitter } from '@socket.io/redis-emitter';
import { startInstance, sioConnect, closeAll, ackOf, sleep, withTimeout } from './harness.mjs';
import { startRedis, waitServers } from './redis-lib.mjs';

let redis, ours, rc, emitter;
before(async () => {
  redis = await startRedis();
  rc = createClient({ url: redis.url });
  rc.on('error', () => {});
  await rc.connect();
  emitter = new Emitter(rc);
  ours = await startInstance('redis-emitter', { app: 'testkit', redis: redis.url, logLevel: 'warn' });
  await waitServers(rc, '/', 1);
});
after(async () => {
  await sleep(100);
  await ours?.stop();
  await rc?.disconnect().catch(() => {});
  await redis?.destroy();
});

let seq = 0;
/**
 * Emits `m` through op (an emitter operator), then a marker to the whole
 * namespace; once every client has the marker, each has what it was sent
 * (one publishing connection, one subscribing one: order kept). Returns
 * the names that got `m` and the arguments they got.
 */
async function deliver(op, clients, args = [], marker = emitter) {
  const tag = `e${++seq}`;
  op.emit('m', tag, ...args);
  marker.emit('mark', tag);
  const got = [];
  let gotArgs;
  for (const [name, s] of Object.entries(clients)) {
    await s.rec.until(() => s.rec.all('mark').some((a) => a[0] === tag), 5000,
      `marker ${tag} at ${name}\n${ours.logs()}`);
    const m = s.rec.all('m').filter((a) => a[0] === tag);
    assert.ok(m.length <= 1, `${name} got ${tag} ${m.length} times`);
    if (m.length) { got.push(name); gotArgs = m[0].slice(1); }
  }
  return { got: got.sort(), args: gotArgs };
}

test('emitter: all, rooms, except, volatile', { timeout: 30000 }, async () => {
  const [A, B, C] = await Promise.all([sioConnect(ours, '/'),
    sioConnect(ours, '/', { transports: ['polling'] }), sioConnect(ours, '/')]);
  const all = { A, B, C };
  try {
    assert.deepEqual(await ackOf(A, 'join', ['red']), [true]);
    assert.deepEqual(await ackOf(B, 'join', ['blue']), [true]);
    assert.deepEqual((await deliver(emitter, all)).got, ['A', 'B', 'C']);
    assert.deepEqual((await deliver(emitter.to('red'), all)).got, ['A']);
    assert.deepEqual((await deliver(emitter.to(['red', 'blue']), all)).got, ['A', 'B']);
    assert.deepEqual((await deliver(emitter.except('red'), all)).got, ['B', 'C']);
    assert.deepEqual((await deliver(emitter.to(['red', 'blue']).except('blue'), all)).got, ['A']);
    assert.deepEqual((await deliver(emitter.to(C.id), all)).got, ['C']);
    // volatile: dropped where the transport cannot take it at once (B
    // polls: maybe between two GETs), so asked of the WebSocket ones only
    assert.deepEqual((await deliver(emitter.volatile, { A, C })).got, ['A', 'C']);
    assert.deepEqual((await deliver(emitter.to('nobody'), all)).got, []);
  } finally {
    closeAll(A, B, C);
  }
});

test('emitter: binary, a Date, JSON values; another namespace', { timeout: 30000 }, async () => {
  const [A, Aa] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/a')]);
  try {
    const date = new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789));
    const args = [Buffer.from([0, 255, 7]), { nested: [Buffer.from('xyz'), 3.25, -1, null, 'ü€𝄞'] },
      date, 2 ** 53, -(2 ** 31) - 1, 0.1];
    const r = await deliver(emitter, { A }, args);
    assert.deepEqual(r.got, ['A']);
    assert.deepEqual(r.args, [Buffer.from([0, 255, 7]), { nested: [Buffer.from('xyz'), 3.25, -1, null, 'ü€𝄞'] },
      date.toISOString(), 2 ** 53, -(2 ** 31) - 1, 0.1]);

    const other = emitter.of('/a');
    await waitServers(rc, '/a', 1);
    const ra = await deliver(other, { Aa }, [], other);
    assert.deepEqual(ra.got, ['Aa']);
    assert.equal(A.rec.all('m').length, 1, '"/" got the broadcast of "/a"');
  } finally {
    closeAll(A, Aa);
  }
});

test('a dynamic namespace subscribes while it lives', { timeout: 30000 }, async () => {
  const D = await sioConnect(ours, '/dyn-7');
  let closed = false;
  try {
    await waitServers(rc, '/dyn-7', 1);
    const r = await deliver(emitter.of('/dyn-7'), { D }, [], emitter.of('/dyn-7'));
    assert.deepEqual(r.got, ['D']);
    D.close();
    closed = true;
    // its last socket gone, the child namespace and its subscriptions go
    await waitServers(rc, '/dyn-7', 0);
  } finally {
    if (!closed) closeAll(D);
  }
});

test('a remote disconnect of the last sockets of a dynamic namespace', { timeout: 30000 }, async () => {
  const [D1, D2] = await Promise.all([sioConnect(ours, '/dyn-8'), sioConnect(ours, '/dyn-8')]);
  try {
    await waitServers(rc, '/dyn-8', 1);
    const gone = [D1, D2].map((s) => new Promise((r) => s.once('disconnect', r)));
    // the child namespace goes with its last socket (and its adapter's
    // subscriptions with it), and siod serves on
    emitter.of('/dyn-8').disconnectSockets();
    assert.deepEqual(await withTimeout(Promise.all(gone), 3000, 'both disconnected'),
      ['io server disconnect', 'io server disconnect']);
    await waitServers(rc, '/dyn-8', 0);
    const A = await sioConnect(ours, '/');
    assert.deepEqual(await ackOf(A, 'echo', ['still here']), ['still here']);
    closeAll(A);
    assert.equal(ours.siod.exitCode, null);
  } finally {
    closeAll(D1, D2);
  }
});

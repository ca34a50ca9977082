// The cluster-wide API of siod applications (tests/apps/clusterkit.c), on
// a real redis-server shared by two siod nodes (ours, ours2) and a Node.js
// socket.io server (redis-peer.mjs): server-side emits with and without
// answers both ways, fetchSockets, cluster-wide joins, leaves and
// disconnects, broadcasts with acks, the local flag, timeouts, Redis down,
// a server answering on the requester's own response channel, and a node
// without a cluster. Before this API a Node.js server's
// serverSideEmit went unheard and an application's fetch, join, leave and
// disconnect stayed on its own node. appApiTests(mode) defines them for
// the adapter's mode ('classic', or 'sharded': createShardedAdapter's wire;
// the emitter and the specific response channel are the classic mode's):
// redis-app-api.test.mjs and redis-app-api-sharded.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { Emitter } from '@socket.io/redis-emitter';
import { io as sioClient } from 'socket.io-client';
import {
  sioConnect, closeAll, ackOf, sleep, waitFor, startInstance, Recorder, withTimeout, startedOrStopped,
} from './harness.mjs';
import {
  startRedis, startNodePeer, waitServers as waitServersOf, siodRedisArgs,
} from './redis-lib.mjs';

// siod_app.h's codes
const ETIMEDOUT = -10;
const ECLUSTERDOWN = -8;
const ENOCLUSTER = -7;
const ERESERVED = -4;
const EINVAL = -1;

export function appApiTests(mode) {
const sharded = mode.startsWith('sharded');
const waitServers = (client, nsp, n, ms = 10000) => waitServersOf(client, nsp, n, ms, mode);
let redis, ours, ours2, peer, rc;
before(async () => {
  redis = await startRedis();
  rc = createClient({ url: redis.url });
  rc.on('error', () => {});
  await rc.connect();
  const tag = sharded ? '-sh' : '';
  const node = (name) => startInstance(name, {
    app: 'clusterkit', redis: redis.url, logLevel: 'warn', siodExtraArgs: siodRedisArgs(mode),
  });
  [ours, ours2, peer] = await startedOrStopped([node(`redis-app-api${tag}`),
    node(`redis-app-api2${tag}`), startNodePeer(redis.url, mode)]);
  await waitServers(rc, '/', 3);
});
after(async () => {
  await sleep(100);
  await ours?.stop();
  await ours2?.stop();
  await peer?.stop();
  await rc?.disconnect().catch(() => {});
  await redis?.destroy();
});

/** A WebSocket client of the Node.js server (client options opts), connected, recording its events. */
async function peerClient(opts = {}) {
  const s = sioClient(peer.url('/'), { forceNew: true, reconnection: false, transports: ['websocket'], ...opts });
  s.rec = new Recorder(s);
  await withTimeout(new Promise((res, rej) => { s.once('connect', res); s.once('connect_error', rej); }),
    5000, 'peer connect');
  return s;
}

/** A client of ours (or of inst) in room "listeners". */
async function listener(inst, opts) {
  const s = await sioConnect(inst, '/', opts);
  assert.deepEqual(await ackOf(s, 'join', ['listeners']), [true]);
  return s;
}

async function nodeListener(opts) {
  const s = await peerClient(opts);
  assert.deepEqual(await ackOf(s, 'join', ['listeners']), [true]);
  return s;
}

const byFrom = (v) => v.slice().sort((x, y) => x.from.localeCompare(y.from));

test('server-side emit: siod to Node.js and to another siod, and back', { timeout: 30000 }, async () => {
  const [A, L2] = await Promise.all([listener(ours), listener(ours2)]);
  const N = await nodeListener();
  try {
    assert.deepEqual(await ackOf(A, 'server-emit', [{ event: 'note', args: [1, { x: 'y' }, 'é'] }]),
      [{ rc: 0, text: 'success' }]);
    const [fromUs] = await N.rec.next('server-event');
    assert.deepEqual(fromUs, { event: 'note', args: [1, { x: 'y' }, 'é'] });
    assert.deepEqual(await L2.rec.next('server-event'), [{ event: 'note', args: [1, { x: 'y' }, 'é'] }]);
    // the sender's own server does not get it, as in Node.js
    await sleep(200);
    assert.equal(A.rec.all('server-event').length, 0);

    assert.deepEqual(await ackOf(N, 'server-emit', [{ event: 'note', args: ['from node', [true, null]] }]), [true]);
    assert.deepEqual(await A.rec.next('server-event'), [{ event: 'note', args: ['from node', [true, null]] }]);
    assert.deepEqual(await L2.rec.next('server-event'), [{ event: 'note', args: ['from node', [true, null]] }]);

    // and from @socket.io/redis-emitter (which has no sharded mode)
    if (!sharded) {
      new Emitter(rc).serverSideEmit('note', 'from emitter');
      assert.deepEqual(await A.rec.next('server-event'), [{ event: 'note', args: ['from emitter'] }]);
      assert.deepEqual((await N.rec.next('server-event'))[0], { event: 'note', args: ['from emitter'] });
    }
  } finally {
    closeAll(A, L2, N);
  }
});

test('server-side emit with acks both ways; timeouts', { timeout: 30000 }, async () => {
  const A = await sioConnect(ours, '/');
  const N = await peerClient();
  try {
    const [r] = await ackOf(A, 'server-emit-ack', [{ event: 'ping', args: ['hi', 2] }]);
    assert.equal(r.err, 0, JSON.stringify(r));
    assert.equal(r.count, 2);
    assert.deepEqual(byFrom(r.responses), [{ from: 'node', args: ['hi', 2] }, { from: 'siod', args: ['hi', 2] }]);

    // Node.js asks: both siod nodes answer
    const [n] = await ackOf(N, 'server-emit-ack', [{ event: 'ping', args: [{ k: 1 }] }]);
    assert.deepEqual(n, { responses: [{ from: 'siod', args: [{ k: 1 }] }, { from: 'siod', args: [{ k: 1 }] }] });

    // nobody answers "silent": our wait ends at its timeout, with what came
    const t0 = Date.now();
    const [t] = await ackOf(A, 'server-emit-ack', [{ event: 'silent', args: [], timeout: 600 }]);
    assert.equal(t.err, ETIMEDOUT, JSON.stringify(t));
    assert.match(t.text, /timeout/);
    assert.deepEqual(t.responses, []);
    assert.ok(Date.now() - t0 >= 550 && Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
    // Node.js's wait (requestsTimeout 2000; sharded: 5000) ends the same
    // way: siod did not answer
    const [nt] = await ackOf(N, 'server-emit-ack', [{ event: 'silent' }], 8000);
    assert.equal(nt.error, 'timeout reached: only 0 responses received out of 2');

    // reserved names and binary arguments are refused at once
    assert.deepEqual((await ackOf(A, 'server-emit', [{ event: 'connect' }]))[0].rc, ERESERVED);
    assert.deepEqual((await ackOf(A, 'server-emit-ack', [{ event: 'disconnecting' }]))[0].rc, ERESERVED);
    assert.deepEqual((await ackOf(A, 'server-emit', [{ args: [1] }]))[0].rc, EINVAL);
  } finally {
    closeAll(A, N);
  }
});

test('fetch sockets across the cluster, the local flag, a server that does not answer', { timeout: 30000 }, async () => {
  const A = await sioConnect(ours, '/', { query: { who: 'A' } });
  const B = await sioConnect(ours2, '/', { query: { who: 'B' } });
  const N = await peerClient({ query: { who: 'N', data: JSON.stringify({ node: true }) } });
  const silent = createClient({ url: redis.url });
  try {
    assert.deepEqual(await ackOf(A, 'join', ['red']), [true]);
    assert.deepEqual(await ackOf(B, 'set-data', [JSON.stringify({ score: 7 })]), [{ rc: 0, text: 'success' }]);
    assert.deepEqual(await ackOf(N, 'join', ['red']), [true]);

    const [all] = await ackOf(A, 'fetch', [{}]);
    assert.equal(all.err, 0, JSON.stringify(all));
    assert.deepEqual(all.sockets.map((s) => s.id), [A.id, B.id, N.id].sort());
    const get = (v, id) => v.find((s) => s.id === id);
    assert.deepEqual(get(all.sockets, A.id), { id: A.id, rooms: [A.id, 'red'].sort(), data: {}, query: get(all.sockets, A.id).query, local: true });
    assert.equal(get(all.sockets, A.id).query.who, 'A');
    assert.deepEqual(get(all.sockets, B.id).data, { score: 7 });
    assert.equal(get(all.sockets, B.id).local, false);
    assert.equal(get(all.sockets, B.id).query.who, 'B');
    assert.deepEqual(get(all.sockets, N.id).data, { node: true });
    assert.deepEqual(get(all.sockets, N.id).rooms, [N.id, 'red'].sort());
    assert.equal(get(all.sockets, N.id).query.who, 'N');

    const [red] = await ackOf(A, 'fetch', [{ rooms: ['red'] }]);
    assert.deepEqual(red.sockets.map((s) => s.id), [A.id, N.id].sort());
    const [notRed] = await ackOf(A, 'fetch', [{ except: ['red'] }]);
    assert.deepEqual(notRed.sockets.map((s) => s.id), [B.id]);
    const [local] = await ackOf(A, 'fetch', [{ local: true }]);
    assert.deepEqual(local.sockets.map((s) => s.id), [A.id]);

    // Node.js's fetchSockets sees siod's data too
    const [fromNode] = await ackOf(N, 'fetch', [{}]);
    assert.deepEqual(get(fromNode, B.id).data, { score: 7 });

    // one more subscriber that never answers: the fetch fails at its timeout
    await silent.connect();
    if (sharded) await silent.sSubscribe('socket.io#/#', () => {});
    else await silent.subscribe('socket.io-request#/#', () => {});
    await waitServers(rc, '/', 4);
    const t0 = Date.now();
    const [t] = await ackOf(A, 'fetch', [{ timeout: 500 }]);
    assert.deepEqual(t, { err: ETIMEDOUT, sockets: [] });
    assert.ok(Date.now() - t0 >= 450, `${Date.now() - t0} ms`);
    const [tl] = await ackOf(A, 'fetch', [{ timeout: 500, local: true }]);
    assert.deepEqual(tl.sockets.map((s) => s.id), [A.id]);
  } finally {
    await silent.disconnect().catch(() => {});
    await waitServers(rc, '/', 3);
    // the count a broadcast with acks waits for is asked of Redis each second
    await sleep(1200);
    closeAll(A, B, N);
  }
});

test('a server that answers on the requester\'s own channel (publishOnSpecificResponseChannel)',
  { timeout: 30000, skip: sharded && 'the classic mode\'s option' }, async () => {
  // a stand-in for a Node.js server with that option: it answers a fetch
  // on socket.io-response#/#<uid of the requester>#, not on the shared channel
  const A = await sioConnect(ours, '/');
  const fake = createClient({ url: redis.url });
  const pub = fake.duplicate();
  try {
    await Promise.all([fake.connect(), pub.connect()]);
    await fake.subscribe('socket.io-request#/#', (m) => {
      const q = JSON.parse(m);
      if (q.type !== 5) return;
      pub.publish(`socket.io-response#/#${q.uid}#`, JSON.stringify({
        requestId: q.requestId,
        sockets: [{ id: 'fake-socket', handshake: { query: { who: 'F' } }, rooms: ['fake-socket'], data: { f: 1 } }],
      })).catch(() => {});
    });
    await waitServers(rc, '/', 4);
    const [all] = await ackOf(A, 'fetch', [{ timeout: 2000 }], 5000);
    assert.equal(all.err, 0, JSON.stringify(all));
    assert.deepEqual(all.sockets.find((s) => s.id === 'fake-socket'),
      { id: 'fake-socket', rooms: ['fake-socket'], data: { f: 1 }, query: { who: 'F' }, local: false });
    assert.ok(all.sockets.some((s) => s.id === A.id));
  } finally {
    await fake.disconnect().catch(() => {});
    await pub.disconnect().catch(() => {});
    await waitServers(rc, '/', 3);
    await sleep(1200);
    closeAll(A);
  }
});

test('joins, leaves and disconnects across the cluster, both ways, and local', { timeout: 30000 }, async () => {
  const A = await sioConnect(ours, '/');
  const B = await sioConnect(ours2, '/');
  const N = await peerClient();
  const roomsOf = async (id) => (await ackOf(A, 'fetch', [{}]))[0].sockets.find((s) => s.id === id)?.rooms;
  try {
    assert.deepEqual(await ackOf(A, 'sockets-join', [{ room: 'green' }]), [{ rc: 0, text: 'success' }]);
    await waitFor(async () => (await roomsOf(N.id)).includes('green') && (await roomsOf(B.id)).includes('green'),
      3000, 'N and B join green');
    assert.ok((await roomsOf(A.id)).includes('green'));

    assert.deepEqual((await ackOf(A, 'sockets-join', [{ room: 'here', local: true }]))[0].rc, 0);
    assert.ok((await roomsOf(A.id)).includes('here'));
    await sleep(300);
    assert.ok(!(await roomsOf(N.id)).includes('here'));
    assert.ok(!(await roomsOf(B.id)).includes('here'));

    assert.deepEqual((await ackOf(A, 'sockets-leave', [{ rooms: ['green'], except: [A.id], room: 'green' }]))[0].rc, 0);
    await waitFor(async () => !(await roomsOf(N.id)).includes('green') && !(await roomsOf(B.id)).includes('green'),
      3000, 'N and B leave green');
    assert.ok((await roomsOf(A.id)).includes('green'));

    // from Node.js: our nodes' sockets join and leave
    assert.deepEqual(await ackOf(N, 'sockets-join', [{ rooms: [], room: 'blue' }]), [true]);
    await waitFor(async () => (await roomsOf(A.id)).includes('blue') && (await roomsOf(B.id)).includes('blue'),
      3000, 'A and B join blue (from Node.js)');

    // disconnect: B's and N's sockets go, A stays
    const gone = [B, N].map((s) => new Promise((r) => s.once('disconnect', r)));
    assert.deepEqual((await ackOf(A, 'disconnect-sockets', [{ except: [A.id] }]))[0].rc, 0);
    await Promise.race([Promise.all(gone), sleep(3000).then(() => { throw new Error('B and N not disconnected'); })]);
    assert.ok(A.connected);
  } finally {
    closeAll(A, B, N);
  }
});

test('broadcasts: acks counted across the cluster, and local ones', { timeout: 30000 }, async () => {
  const A = await sioConnect(ours, '/');
  const B = await sioConnect(ours2, '/');
  const N = await peerClient();
  for (const [s, name] of [[A, 'A'], [B, 'B'], [N, 'N']]) s.on('ask', (x, cb) => cb(`${name}:${x}`));
  try {
    const [r] = await ackOf(A, 'to-ack', [{ timeout: 3000, args: ['q'] }]);
    assert.deepEqual({ err: r.err, count: r.count, responses: r.responses.sort() },
      { err: 0, count: 3, responses: ['A:q', 'B:q', 'N:q'] });
    const [l] = await ackOf(A, 'to-ack', [{ timeout: 3000, args: ['l'], local: true }]);
    assert.deepEqual({ err: l.err, count: l.count, responses: l.responses }, { err: 0, count: 1, responses: ['A:l'] });

    assert.deepEqual((await ackOf(A, 'to', [{ event: 'm', args: ['here'], local: true }]))[0].rc, 0);
    assert.deepEqual((await ackOf(A, 'to', [{ event: 'm', args: ['all'] }]))[0].rc, 0);
    await N.rec.next('m');
    await B.rec.next('m');
    await A.rec.count('m', 2);
    await sleep(200);
    assert.deepEqual(N.rec.all('m'), [['all']]);
    assert.deepEqual(B.rec.all('m'), [['all']]);
  } finally {
    closeAll(A, B, N);
  }
});

test('without a cluster: server-side emits refused, the rest local', { timeout: 30000 }, async () => {
  const solo = await startInstance(`redis-app-api-solo${sharded ? '-sh' : ''}`, { app: 'clusterkit', logLevel: 'warn' });
  const [A, B] = await Promise.all([sioConnect(solo, '/'), sioConnect(solo, '/')]);
  try {
    assert.deepEqual(await ackOf(A, 'server-emit', [{ event: 'note' }]),
      [{ rc: ENOCLUSTER, text: 'no cluster: siod runs without --redis' }]);
    assert.equal((await ackOf(A, 'server-emit-ack', [{ event: 'ping' }]))[0].rc, ENOCLUSTER);
    const [f] = await ackOf(A, 'fetch', [{}]);
    assert.deepEqual(f.sockets.map((s) => s.id), [A.id, B.id].sort());
    assert.equal((await ackOf(A, 'sockets-join', [{ room: 'x' }]))[0].rc, 0);
    assert.deepEqual((await ackOf(A, 'fetch', [{ rooms: ['x'] }]))[0].sockets.length, 2);
  } finally {
    closeAll(A, B);
    await solo.stop();
  }
});

test('Redis down: requests fail at once with a clear error, local ones go on', { timeout: 40000 }, async () => {
  const [A, B] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/')]);
  try {
    await redis.stop();
    await waitFor(async () => (await ackOf(A, 'server-emit', [{ event: 'note' }]))[0].rc === ECLUSTERDOWN,
      5000, 'siod sees Redis down');
    assert.deepEqual(await ackOf(A, 'server-emit-ack', [{ event: 'ping' }]),
      [{ rc: ECLUSTERDOWN, text: "the cluster's Redis cannot be reached" }]);
    const t0 = Date.now();
    assert.equal((await ackOf(A, 'fetch', [{}]))[0].rc, ECLUSTERDOWN);
    assert.ok(Date.now() - t0 < 1000);
    const [fl] = await ackOf(A, 'fetch', [{ local: true }]);
    assert.deepEqual(fl.sockets.map((s) => s.id), [A.id, B.id].sort());
    // joins act here and say the others were not reached
    assert.equal((await ackOf(A, 'sockets-join', [{ room: 'y' }]))[0].rc, ECLUSTERDOWN);
    assert.deepEqual((await ackOf(B, 'rooms'))[0].sort(), [B.id, 'y'].sort());
    assert.equal((await ackOf(A, 'sockets-leave', [{ room: 'y', local: true }]))[0].rc, 0);
    // broadcasts with acks count this server's clients
    B.on('ask', (x, cb) => cb(x));
    A.on('ask', (x, cb) => cb(x));
    const [r] = await ackOf(A, 'to-ack', [{ timeout: 2000, args: ['d'] }]);
    assert.deepEqual({ err: r.err, count: r.count }, { err: 0, count: 2 });
  } finally {
    closeAll(A, B);
  }
});
}

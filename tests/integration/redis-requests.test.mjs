// The request channel of @socket.io/redis-adapter answered by our node: a
// Node.js server's fetchSockets() and allRooms() count on our answer (they
// fail after the peer's 2 s request timeout without it), socketsJoin,
// socketsLeave and disconnectSockets from Node.js and from the emitter act
// on our sockets, and a SOCKETS request (older adapters) gets its answer
// on the response channel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Emitter } from '@socket.io/redis-emitter';
import {
  sioConnect, closeAll, ackOf, sleep, withTimeout, waitFor,
} from './harness.mjs';
import { startMixedCluster, peerClient as peerClientOf } from './redis-lib.mjs';

let cl, ours, peer, rc;
before(async () => {
  cl = await startMixedCluster('redis-requests');
  ({ ours, peer, rc } = cl);
});
after(async () => { await cl?.stop(); });

const peerClient = (nsp) => peerClientOf(peer, nsp);

const rooms = async (s) => (await ackOf(s, 'rooms'))[0].slice().sort();

test('fetchSockets and allRooms from Node.js include our sockets', { timeout: 30000 }, async () => {
  const [A, B] = await Promise.all([sioConnect(ours, '/', { query: { who: 'A' } }), sioConnect(ours, '/')]);
  const N = await peerClient();
  try {
    assert.deepEqual(await ackOf(A, 'join', ['red']), [true]);
    assert.deepEqual(await ackOf(N, 'join', ['red']), [true]);

    const [all] = await ackOf(N, 'fetch', [{}]);
    assert.ok(Array.isArray(all), JSON.stringify(all));
    assert.deepEqual(all.map((s) => s.id).sort(), [A.id, B.id, N.id].sort());
    const a = all.find((s) => s.id === A.id);
    assert.deepEqual(a.rooms, [A.id, 'red'].sort());
    assert.equal(a.query.who, 'A');
    assert.deepEqual(a.data, {});

    const [red] = await ackOf(N, 'fetch', [{ rooms: ['red'] }]);
    assert.deepEqual(red.map((s) => s.id).sort(), [A.id, N.id].sort());
    const [notRed] = await ackOf(N, 'fetch', [{ except: ['red'] }]);
    assert.deepEqual(notRed.map((s) => s.id), [B.id]);

    const [roomsAll] = await ackOf(N, 'all-rooms');
    assert.deepEqual(roomsAll, [A.id, B.id, N.id, 'red'].sort());
  } finally {
    closeAll(A, B, N);
  }
});

test('socketsJoin, socketsLeave, disconnectSockets from Node.js and the emitter', { timeout: 30000 }, async () => {
  const [A, B, C] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/'), sioConnect(ours, '/')]);
  const N = await peerClient();
  const emitter = new Emitter(rc);
  try {
    assert.deepEqual(await ackOf(A, 'join', ['red']), [true]);
    assert.deepEqual(await ackOf(N, 'sockets-join', [{ rooms: ['red'], room: 'green' }]), [true]);
    await waitFor(async () => (await rooms(A)).includes('green'), 3000, 'A joins green');
    assert.deepEqual(await rooms(B), [B.id]);

    assert.deepEqual(await ackOf(N, 'sockets-join', [{ except: ['red'], room: 'blue' }]), [true]);
    await waitFor(async () => (await rooms(B)).includes('blue'), 3000, 'B joins blue');
    assert.deepEqual(await rooms(C), [C.id, 'blue'].sort());
    assert.deepEqual(await rooms(A), [A.id, 'green', 'red'].sort());

    assert.deepEqual(await ackOf(N, 'sockets-leave', [{ rooms: ['red'], room: 'green' }]), [true]);
    await waitFor(async () => !(await rooms(A)).includes('green'), 3000, 'A leaves green');

    emitter.in('blue').socketsJoin(['x', 'y']);
    await waitFor(async () => (await rooms(C)).includes('y'), 3000, 'C joins x and y (emitter)');
    assert.deepEqual(await rooms(B), [B.id, 'blue', 'x', 'y'].sort());
    emitter.in(B.id).socketsLeave('x');
    await waitFor(async () => !(await rooms(B)).includes('x'), 3000, 'B leaves x (emitter)');

    // a second namespace on the same connections as B and C: a disconnect
    // with close ends the whole connection, one without ends "/" only
    const [Ba, Ca] = [B.io.socket('/a'), C.io.socket('/a')];
    await Promise.all([Ba, Ca].map((s) => withTimeout(new Promise((r) => s.once('connect', r)), 5000, '/a')));
    const gone = new Promise((r) => C.once('disconnect', r));
    assert.deepEqual(await ackOf(N, 'disconnect-sockets', [{ rooms: [C.id] }]), [true]);
    assert.equal(await withTimeout(gone, 3000, 'C disconnected'), 'io server disconnect');
    const goneB = new Promise((r) => Ba.once('disconnect', r));
    emitter.in('y').disconnectSockets(true);
    await withTimeout(goneB, 3000, "B's connection closed (emitter, close: true)");
    assert.equal(B.connected, false);
    await sleep(200);
    assert.equal(Ca.connected, true, "C's other namespace stays (close: false)");
    assert.equal(A.connected, true);
  } finally {
    closeAll(A, B, C, N);
  }
});

test('SOCKETS request: the ids of the sockets in rooms, on the response channel', { timeout: 30000 }, async () => {
  const [A, B] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/')]);
  const sub = rc.duplicate();
  sub.on('error', () => {});
  await sub.connect();
  try {
    assert.deepEqual(await ackOf(A, 'join', ['red']), [true]);
    const answers = [];
    await sub.subscribe('socket.io-response#/#', (m) => answers.push(JSON.parse(m)));
    await rc.publish('socket.io-request#/#', JSON.stringify({ uid: 'tester', requestId: 'q1', type: 0, rooms: ['red'] }));
    await rc.publish('socket.io-request#/#', JSON.stringify({ uid: 'tester', requestId: 'q2', type: 0, rooms: [] }));
    // the Node peer answers too (with no socket): ours is the one with ids
    await waitFor(() => answers.filter((r) => r.sockets?.length).length === 2, 3000, 'answers');
    const mine = answers.filter((r) => r.sockets.length);
    assert.deepEqual(mine.find((r) => r.requestId === 'q1').sockets, [A.id]);
    assert.deepEqual(mine.find((r) => r.requestId === 'q2').sockets.sort(), [A.id, B.id].sort());
  } finally {
    await sub.disconnect().catch(() => {});
    closeAll(A, B);
  }
});

test('a broadcast with acks from Node.js counts and hears our clients', { timeout: 30000 }, async () => {
  const [A, B, C] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/'), sioConnect(ours, '/')]);
  const N = await peerClient();
  try {
    A.on('ask', (x, cb) => cb(`A:${x}`));
    B.on('ask', (x, cb) => cb({ from: 'B', bin: Buffer.from([x.length, 9]) }));
    C.on('ask', () => {});          // never answers
    N.on('ask', (x, cb) => cb(`N:${x}`));
    for (const s of [A, B]) assert.deepEqual(await ackOf(s, 'join', ['red']), [true]);

    const [r] = await ackOf(N, 'to-ack', [{ rooms: ['red'], timeout: 3000, args: ['hey'] }], 6000);
    assert.equal(r.err, null, JSON.stringify(r));
    assert.equal(r.responses.length, 2);
    assert.ok(r.responses.includes('A:hey'), JSON.stringify(r.responses));
    const b = r.responses.find((x) => x?.from === 'B');
    assert.deepEqual(Buffer.from(b.bin), Buffer.from([3, 9]));

    // everyone, C silent: the others' answers within the timeout, then an error
    const t0 = Date.now();
    const [all] = await ackOf(N, 'to-ack', [{ timeout: 800, args: ['yo'] }], 6000);
    assert.match(all.err ?? '', /timed out/);
    assert.ok(Date.now() - t0 >= 700);
    assert.deepEqual(all.responses.filter((x) => typeof x === 'string').sort(), ['A:yo', 'N:yo']);
    assert.equal(all.responses.length, 3);
  } finally {
    closeAll(A, B, C, N);
  }
});

test("our broadcast with acks waits for the Node.js server's clients too", { timeout: 30000 }, async () => {
  const [A, B] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/')]);
  const [N, M] = await Promise.all([peerClient(), peerClient()]);
  try {
    // siod counts the servers by NUMSUB every second
    await waitFor(() => /redis: namespace \/: 2 servers/.test(ours.siodLog()), 5000, 'siod counts 2 servers');
    B.on('bask', (x, cb) => cb(`B:${x}`));
    N.on('bask', (x, cb) => cb({ from: 'N', bin: Buffer.from([7, x.length]) }));
    M.on('bask', (x, cb) => cb(`M:${x}`));
    for (const s of [B, N, M]) assert.deepEqual(await ackOf(s, 'join', ['red']), [true]);

    assert.deepEqual(await ackOf(A, 'bcast-ack', [{ rooms: ['red'], timeout: 3000, args: ['hi'] }]), [true]);
    const [r] = await A.rec.next('bcast-ack-result', 5000);
    assert.equal(r.err, null, JSON.stringify(r));
    assert.equal(r.count, 3);
    const strs = r.responses.filter((x) => typeof x === 'string').sort();
    assert.deepEqual(strs, ['B:hi', 'M:hi']);
    const n = r.responses.find((x) => x?.from === 'N');
    assert.deepEqual(Buffer.from(n.bin), Buffer.from([7, 2]));

    // a Node client that never answers: the others' answers, then the timeout
    M.off('bask');
    M.on('bask', () => {});
    const t0 = Date.now();
    assert.deepEqual(await ackOf(A, 'bcast-ack', [{ rooms: ['red'], timeout: 700, args: ['yo'] }]), [true]);
    const [t] = await A.rec.next('bcast-ack-result', 5000);
    assert.ok(Date.now() - t0 >= 600, 'waited for the silent client');
    assert.equal(t.err, 'timeout');
    assert.equal(t.count, 2);
  } finally {
    closeAll(A, B, N, M);
  }
});

// Rooms and broadcasts through httpd + mod_socketio + siod (testkit app)
// with the official socket.io-client: to/except/union of rooms and "all but
// me", volatile packets under a burst, broadcasts with acknowledgements
// (every answer gathered, a timeout, a client leaving), and disconnects
// decided by the server (one socket, the whole connection, a room), with
// the reasons both sides see.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startInstance, sioConnect, once, closeAll, ackOf, sleep,
} from './harness.mjs';

let inst;
before(async () => {
  inst = await startInstance('sio-rooms', {
    app: 'testkit', pingInterval: 5000, pingTimeout: 5000, logLevel: 'warn socketio:info',
  });
});
// a moment for the clients' last requests (close packets) to finish first
after(async () => { await sleep(200); await inst?.stop(); });

const join = async (s, rooms) => assert.deepEqual(await ackOf(s, 'join', [rooms]), [true]);

test('rooms: to, union, except, all-but-me, own room, leave', { timeout: 30000 }, async () => {
  const names = ['A', 'B', 'C', 'D'];
  const socks = await Promise.all(names.map((n, i) =>
    sioConnect(inst, '/', { transports: i % 2 ? ['polling'] : ['websocket'] })));
  const [A, B, C, D] = socks;
  const who = new Map(socks.map((s, i) => [s, names[i]]));
  let seq = 0;

  /** Runs one broadcast from sender and returns the sorted names that got it. */
  async function deliver(sender, event, opts, extra = []) {
    const tag = `t${++seq}`;
    assert.deepEqual(await ackOf(sender, event, [{ ...opts, event: 'm', args: [tag, ...extra] }]), [true]);
    // a marker to everyone after it: once all have the marker, every
    // client has whatever the broadcast sent it (one ordered stream each)
    assert.deepEqual(await ackOf(sender, 'to', [{ event: 'mark', args: [tag] }]), [true]);
    const live = socks.filter((s) => s.connected);
    await Promise.all(live.map((s) => s.rec.until(() => s.rec.all('mark').some((a) => a[0] === tag), 5000, `marker ${tag}`)));
    const got = [];
    for (const s of socks) {
      const copies = s.rec.all('m').filter((a) => a[0] === tag);
      assert.ok(copies.length <= 1, `${who.get(s)} got ${tag} ${copies.length} times`);
      if (copies.length) {
        got.push(who.get(s));
        if (extra.length) assert.deepEqual(copies[0].slice(1), extra);
      }
    }
    return got.sort().join('');
  }

  try {
    await join(A, 'r1');
    await join(B, ['r1', 'r2']);
    await join(C, 'r2');
    assert.deepEqual((await ackOf(B, 'rooms'))[0].sort(), [B.id, 'r1', 'r2'].sort());

    assert.equal(await deliver(D, 'to', { rooms: 'r1' }), 'AB');
    assert.equal(await deliver(D, 'to', { rooms: ['r1', 'r2'] }, [Buffer.from([1, 2, 3]), { b: Buffer.from('x') }]), 'ABC');
    assert.equal(await deliver(D, 'to', { rooms: ['r1', 'r2'], except: 'r2' }), 'A');
    assert.equal(await deliver(A, 'to', { rooms: 'r1', exceptMe: true }), 'B');
    assert.equal(await deliver(B, 'to', { rooms: 'r1' }), 'AB', 'the sender is included when it is in the room');
    assert.equal(await deliver(D, 'bcast-except-me', {}), 'ABC');
    assert.equal(await deliver(A, 'to', { except: ['r1'] }), 'CD');
    assert.equal(await deliver(A, 'to', { except: ['r1', 'r2'] }), 'D');
    assert.equal(await deliver(D, 'to', { rooms: C.id }), 'C', 'every socket is in the room of its id');
    assert.equal(await deliver(D, 'to', { rooms: 'nobody-here' }), '');

    assert.deepEqual(await ackOf(B, 'leave', ['r1']), [true]);
    assert.deepEqual((await ackOf(B, 'rooms'))[0].sort(), [B.id, 'r2'].sort());
    assert.equal(await deliver(D, 'to', { rooms: 'r1' }), 'A');
    // a socket that leaves the namespace leaves its rooms
    A.disconnect();
    await sleep(100);
    assert.equal(await deliver(D, 'to', { rooms: ['r1', 'r2'] }), 'BC');
  } finally {
    closeAll(socks);
  }
});

/** Checks a burst's outcome: every non-volatile packet, in order; the
 *  volatile ones a distinct, ordered subset. Returns how many volatile came. */
async function checkBurst(s, n, label) {
  await s.rec.next('burst-done', 5000);
  const nonvol = s.rec.all('nonvol').map((a) => a[0]);
  assert.deepEqual(nonvol, Array.from({ length: n }, (_, i) => i), `${label}: every non-volatile packet, in order`);
  const vol = s.rec.all('vol').map((a) => a[0]);
  assert.ok(vol.length <= n, `${label}: ${vol.length} volatile packets for ${n} sent`);
  for (let i = 1; i < vol.length; i++) assert.ok(vol[i] > vol[i - 1], `${label}: volatile out of order or repeated`);
  return vol.length;
}

test('volatile: under a burst the non-volatile packets all arrive, volatile ones at most once each', { timeout: 30000 }, async () => {
  // 2N+1 packets: a burst of volatile ones, not a flood (floods: the burst test)
  const N = 100;
  const p = await sioConnect(inst, '/a', { transports: ['polling'] });
  const w = await sioConnect(inst, '/a', { transports: ['websocket'] });
  try {
    p.emit('volatile-burst', { n: N });
    const pv = await checkBurst(p, N, 'polling');
    // a polling client cannot take packets at once while others are queued
    assert.ok(pv < N, `polling client got all ${N} volatile packets of a burst`);
    w.emit('volatile-burst', { n: N });
    await checkBurst(w, N, 'websocket');
  } finally {
    closeAll(p, w);
  }
  // the same as a namespace broadcast
  const p2 = await sioConnect(inst, '/b', { transports: ['polling'] });
  const w2 = await sioConnect(inst, '/b', { transports: ['websocket'] });
  try {
    w2.emit('volatile-burst', { n: N, bcast: true });
    await checkBurst(w2, N, 'websocket, broadcast');
    await checkBurst(p2, N, 'polling, broadcast');
  } finally {
    closeAll(p2, w2);
  }
});

test('a burst of 3000 small events to one client arrives whole and in order (polling, websocket)', { timeout: 30000 }, async () => {
  // about 50 KB in all: far below any byte limit (maxPayload, the
  // WebSocket queue), and below siod's 4096-packet polling queue
  const N = 3000;
  for (const transports of [['polling'], ['websocket']]) {
    const s = await sioConnect(inst, '/', { transports });
    try {
      s.emit('burst', { n: N });
      await s.rec.next('burst-done', 5000).catch((e) => {
        throw new Error(`${transports}: ${e.message}; got ${s.rec.all('b').length} of ${N}, ` +
          `connected ${s.connected}\n${inst.logs(6)}`);
      });
      assert.deepEqual(s.rec.all('b').map((a) => a[0]), Array.from({ length: N }, (_, i) => i), `${transports}`);
    } finally {
      closeAll(s);
    }
  }
});

test('broadcast with acks: every answer gathered (binary too), a silent client → timeout, a leaving one → disconnected', { timeout: 30000 }, async () => {
  const X = await sioConnect(inst, '/', { transports: ['websocket'] });
  const Y = await sioConnect(inst, '/', { transports: ['polling'] });
  const Z = await sioConnect(inst, '/', { transports: ['websocket'] });
  let zMode = 'answer';
  X.on('bask', (q, cb) => cb({ id: X.id, q }));
  Y.on('bask', (q, cb) => cb({ id: Y.id, q, bin: Buffer.from([7, 7]) }));
  Z.on('bask', (q, cb) => {
    if (zMode === 'answer') cb({ id: Z.id, q });
    else if (zMode === 'leave') setTimeout(() => Z.disconnect(), 50);
  });
  const byId = (a, b) => (a.id < b.id ? -1 : 1);
  try {
    for (const s of [X, Y, Z]) await join(s, 'acks');

    X.emit('bcast-ack', { timeout: 3000, rooms: 'acks', args: ['q1'] });
    const [all] = await X.rec.next('bcast-ack-result');
    assert.equal(all.err, null);
    assert.equal(all.count, 3);
    assert.deepEqual(all.responses.sort(byId), [
      { id: X.id, q: 'q1' }, { id: Y.id, q: 'q1', bin: Buffer.from([7, 7]) }, { id: Z.id, q: 'q1' },
    ].sort(byId));

    zMode = 'silent';
    const t0 = Date.now();
    X.emit('bcast-ack', { timeout: 500, rooms: 'acks', args: ['q2'] });
    const [partial] = await X.rec.next('bcast-ack-result');
    const waited = Date.now() - t0;
    assert.equal(partial.err, 'timeout');
    assert.ok(waited >= 450 && waited < 5000, `broadcast ack timeout after ${waited} ms`);
    assert.equal(partial.count, 2);
    assert.deepEqual(partial.responses.map((r) => r.id).sort(), [X.id, Y.id].sort());

    // nobody selected: answered at once with nothing
    X.emit('bcast-ack', { timeout: 500, rooms: 'nobody-here' });
    assert.deepEqual((await X.rec.next('bcast-ack-result'))[0], { err: null, count: 0, responses: [] });

    // no timeout, and one client leaves instead of answering
    zMode = 'leave';
    X.emit('bcast-ack', { rooms: 'acks', args: ['q3'] });
    const [left] = await X.rec.next('bcast-ack-result', 10000);
    assert.equal(left.err, 'disconnected');
    assert.equal(left.count, 2);
  } finally {
    closeAll(X, Y, Z);
  }
});

test('server disconnects one socket (kick-me): "io server disconnect", no reconnection, server reasons in order', { timeout: 30000 }, async () => {
  const watcher = await sioConnect(inst, '/', { transports: ['websocket'] });
  await join(watcher, 'watchers');
  try {
    for (const transports of [['polling'], ['websocket']]) {
      const s = await sioConnect(inst, '/', { transports, reconnection: true, reconnectionDelay: 50 });
      await join(s, 'extra-room');
      const id = s.id;
      const d = once(s, 'disconnect');
      s.emit('kick-me', {});
      assert.equal((await d)[0], 'io server disconnect', `${transports}`);
      await sleep(300);
      assert.equal(s.connected, false, `${transports}: reconnected after a server disconnect`);
      assert.equal(s.active, false);
      const [ing] = await watcher.rec.next('leaving');
      const [gone] = await watcher.rec.next('gone');
      assert.deepEqual(ing, { id, reason: 'server namespace disconnect', rooms: 2 }, 'leaving (on_disconnecting): still in its rooms');
      assert.deepEqual(gone, { id, reason: 'server namespace disconnect', rooms: 0 }, 'gone: rooms left');
      closeAll(s);
    }
    // the client leaving: the server's reason
    const c = await sioConnect(inst, '/', { transports: ['polling'] });
    const cid = c.id;
    c.disconnect();
    const [g] = await watcher.rec.next('gone');
    assert.deepEqual(g, { id: cid, reason: 'client namespace disconnect', rooms: 0 });
    closeAll(c);
  } finally {
    closeAll(watcher);
  }
});

for (const transports of [['websocket'], ['polling']]) {
  test(`server closes the whole connection (kick-me close=true, ${transports}): every namespace gets "io server disconnect"`, { timeout: 20000 }, async () => {
    // as the reference's socket.disconnect(true): DISCONNECT for each
    // namespace of the connection, then the connection closes
    const a = await sioConnect(inst, '/', { transports });
    const b = a.io.socket('/b');
    try {
      await new Promise((r) => (b.connected ? r() : b.once('connect', r)));
      const reasons = Promise.all([once(a, 'disconnect'), once(b, 'disconnect')]);
      a.emit('kick-me', { close: true });
      const [[ra, da], [rb]] = await reasons;
      assert.deepEqual([ra, rb], ['io server disconnect', 'io server disconnect'],
        `reasons /: ${ra} (${da?.description?.message ?? da?.description ?? ''}), /b: ${rb}`);
    } finally {
      closeAll(a, b);
    }
  });
}

test('kick-room disconnects exactly the sockets in the room', { timeout: 20000 }, async () => {
  const A = await sioConnect(inst, '/', { transports: ['polling'] });
  const B = await sioConnect(inst, '/', { transports: ['websocket'] });
  const C = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    await join(A, 'doomed');
    await join(B, 'doomed');
    await join(C, 'watchers');
    const ids = [A.id, B.id].sort();
    const gone = Promise.all([once(A, 'disconnect'), once(B, 'disconnect')]);
    assert.deepEqual(await ackOf(C, 'kick-room', ['doomed']), [true]);
    const [[ra], [rb]] = await gone;
    assert.equal(ra, 'io server disconnect');
    assert.equal(rb, 'io server disconnect');
    await C.rec.count('gone', 2);
    assert.deepEqual(C.rec.all('gone').map((a) => a[0].id).sort(), ids);
    assert.ok(C.rec.all('gone').every((a) => a[0].reason === 'server namespace disconnect'));
    assert.equal(C.connected, true);
    assert.equal(await C.emitWithAck('echo', 'alive'), 'alive');
  } finally {
    closeAll(A, B, C);
  }
});

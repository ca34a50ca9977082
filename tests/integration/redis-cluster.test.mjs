// A mixed cluster over Redis: our node (httpd + siod --redis, testkit app)
// and a Node.js socket.io server with @socket.io/redis-adapter (classic),
// each with its own clients. Broadcasts go both ways (to all, to a room,
// with except, with binary arguments), and what our node publishes and
// receives is @socket.io/redis-adapter's wire format.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sioConnect, closeAll, ackOf, request } from './harness.mjs';
import {
  startMixedCluster, peerClient as peerClientOf, waitServers, broadcaster,
} from './redis-lib.mjs';

let cl, ours, peer, rc;
before(async () => {
  cl = await startMixedCluster('redis-cluster');
  ({ ours, peer, rc } = cl);
});
after(async () => { await cl?.stop(); });

const peerClient = (nsp) => peerClientOf(peer, nsp);

const deliver = (...a) => broadcaster(ours, peer)(...a);

test('broadcasts both ways: all, a room, except, all but the sender', { timeout: 30000 }, async () => {
  const [A, B] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/', { transports: ['polling'] })]);
  const [N1, N2] = await Promise.all([peerClient(), peerClient()]);
  const all = { A, B, N1, N2 };
  try {
    assert.deepEqual(await ackOf(A, 'join', ['red']), [true]);
    assert.deepEqual(await ackOf(N1, 'join', ['red']), [true]);
    assert.deepEqual(await ackOf(N2, 'join', ['blue']), [true]);

    // from our node
    assert.deepEqual(await deliver(A, {}, all), ['A', 'B', 'N1', 'N2']);
    assert.deepEqual(await deliver(B, { rooms: ['red'] }, all), ['A', 'N1']);
    assert.deepEqual(await deliver(B, { rooms: ['red', 'blue'] }, all), ['A', 'N1', 'N2']);
    assert.deepEqual(await deliver(B, { except: ['red'] }, all), ['B', 'N2']);
    assert.deepEqual(await deliver(B, { rooms: ['red'], except: ['blue'] }, all), ['A', 'N1']);
    assert.deepEqual(await deliver(A, { exceptMe: true }, all), ['B', 'N1', 'N2']);
    // a socket id names its own room on its server
    assert.deepEqual(await deliver(A, { rooms: [N2.id] }, all), ['N2']);

    // from the Node.js node
    assert.deepEqual(await deliver(N1, {}, all), ['A', 'B', 'N1', 'N2']);
    assert.deepEqual(await deliver(N2, { rooms: ['red'] }, all), ['A', 'N1']);
    assert.deepEqual(await deliver(N2, { except: ['red'] }, all), ['B', 'N2']);
    assert.deepEqual(await deliver(N1, { exceptMe: true }, all), ['A', 'B', 'N2']);
    assert.deepEqual(await deliver(N1, { rooms: [B.id] }, all), ['B']);
    assert.deepEqual(await deliver(N1, { rooms: ['red'], except: [A.id] }, all), ['N1']);
  } finally {
    closeAll(A, B, N1, N2);
  }
});

test('arguments cross intact both ways: JSON values and binary', { timeout: 30000 }, async () => {
  const A = await sioConnect(ours, '/');
  const N = await peerClient();
  const all = { A, N };
  const args = [{ s: 'é\u2028"\\', n: -12, f: 1.5, big: 2 ** 40, t: true, z: null, a: [1, [2, {}]] },
    Buffer.from([0, 1, 2, 255]), [Buffer.from('nested'), { b: Buffer.alloc(0) }]];
  try {
    for (const from of [A, N]) {
      assert.deepEqual(await deliver(from, {}, all, args), ['A', 'N']);
      for (const s of [A, N]) {
        const last = s.rec.all('m').at(-1);
        assert.deepEqual(last.slice(1), args,
          `${s === A ? 'our' : 'node'} client, from ${from === A ? 'ours' : 'node'}`);
      }
    }
  } finally {
    closeAll(A, N);
  }
});

test('another namespace hears nothing of "/"; "/a" crosses on its own', { timeout: 30000 }, async () => {
  const [A, Aa] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/a')]);
  const [N, Na] = await Promise.all([peerClient('/'), peerClient('/a')]);
  try {
    await waitServers(rc, '/a', 2);
    assert.deepEqual(await deliver(Na, {}, { Aa, Na }), ['Aa', 'Na']);
    assert.deepEqual(await deliver(Aa, {}, { Aa, Na }), ['Aa', 'Na']);
    assert.equal(A.rec.all('m').length + N.rec.all('m').length, 0, '"/" got a broadcast of "/a"');
  } finally {
    closeAll(A, Aa, N, Na);
  }
});

test('the HTTP emit API on our node reaches the Node.js server\'s clients too', { timeout: 30000 }, async () => {
  const A = await sioConnect(ours, '/');
  const [N1, N2] = await Promise.all([peerClient(), peerClient()]);
  try {
    assert.deepEqual(await ackOf(N1, 'join', ['green']), [true]);
    for (const [req, want] of [[{}, ['A', 'N1', 'N2']], [{ rooms: 'green' }, ['N1']], [{ except: ['green'] }, ['A', 'N2']]]) {
      const tag = `api${Math.random()}`;
      const res = await request('POST', ours.url('/emit'), {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ...req, event: 'm', args: [tag, { n: 1 }] }),
      });
      assert.equal(res.status, 200, res.body);
      // a marker through the same path: Redis keeps one publisher's order
      await request('POST', ours.url('/emit'), {
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ event: 'mark', args: [tag] }),
      });
      const all = { A, N1, N2 };
      const got = [];
      for (const [name, s] of Object.entries(all)) {
        await s.rec.until(() => s.rec.all('mark').some((a) => a[0] === tag), 5000, `marker at ${name}`);
        const m = s.rec.all('m').filter((a) => a[0] === tag);
        if (m.length) { got.push(name); assert.deepEqual(m[0], [tag, { n: 1 }]); }
      }
      assert.deepEqual(got.sort(), want, JSON.stringify(req));
    }
  } finally {
    closeAll(A, N1, N2);
  }
});

test('the HTTP emit API across the cluster: fetchSockets, socketsJoin, disconnectSockets, serverSideEmit, local', { timeout: 30000 }, async () => {
  const A = await sioConnect(ours, '/');
  const [N1, N2] = await Promise.all([peerClient(), peerClient()]);
  const api = async (body) => {
    const res = await request('POST', ours.url('/emit'), {
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    return { status: res.status, json: JSON.parse(res.body) };
  };
  try {
    let r = await api({ op: 'fetchSockets' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.sockets.map((s) => s.id).sort(), [A.id, N1.id, N2.id].sort());
    const n1 = r.json.sockets.find((s) => s.id === N1.id);
    assert.deepEqual(n1.rooms, [N1.id]);
    assert.ok(n1.handshake && n1.handshake.headers, 'a remote socket\'s handshake');
    r = await api({ op: 'fetchSockets', local: true });
    assert.deepEqual(r.json.sockets.map((s) => s.id), [A.id]);

    // a Node.js server's client joins a room by our API, then gets its emits
    r = await api({ op: 'socketsJoin', rooms: N1.id, room: 'by-api' });
    assert.deepEqual(r.json, { ok: true });
    r = await api({ op: 'fetchSockets', rooms: 'by-api' });
    assert.deepEqual(r.json.sockets.map((s) => s.id), [N1.id]);
    assert.deepEqual(r.json.sockets[0].rooms.sort(), [N1.id, 'by-api'].sort());

    // serverSideEmit: the Node.js server's handler answers
    r = await api({ op: 'serverSideEmit', event: 'ping', args: [5], ack: true, timeout: 3000 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.responses, [{ from: 'node', args: [5] }]);
    assert.equal(r.json.timedOut, false);

    // disconnectSockets reaches the other server's client
    const gone = new Promise((resolve) => N2.once('disconnect', resolve));
    r = await api({ op: 'disconnectSockets', rooms: N2.id });
    assert.deepEqual(r.json, { ok: true });
    assert.equal(await gone, 'io server disconnect');
    assert.equal(N1.connected && A.connected, true);
  } finally {
    closeAll(A, N1, N2);
  }
});

test('metrics and the status page show the cluster\'s Redis', { timeout: 30000 }, async () => {
  const res = await request('GET', ours.url('/metrics'));
  assert.equal(res.status, 200);
  assert.match(res.body, /^socketio_redis_up 1$/m);
  assert.match(res.body, /^# TYPE socketio_redis_lost_total counter$/m);
  const js = JSON.parse((await request('POST', ours.url('/emit'), {
    headers: { 'Content-Type': 'application/json' }, body: '{"op":"stats"}',
  })).body);
  assert.equal(js.redis, 'up');
});

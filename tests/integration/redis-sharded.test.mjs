// The sharded mode: our node runs siod --redis-mode=sharded, the Node.js
// peer @socket.io/redis-adapter's createShardedAdapter, over Redis 7's
// sharded pub/sub (SSUBSCRIBE, SPUBLISH, SHARDNUMSUB). Broadcasts go both
// ways in each subscription mode (static, dynamic, dynamic-private) with
// the room channels each subscribes; then, in the default mode: broadcasts
// with acks both ways, fetchSockets, socketsJoin/Leave and
// disconnectSockets from the Node side answered by siod, the server
// count, and Redis restarted mid-test (the cluster API of applications,
// server-side emits included, runs in redis-app-api-sharded.test.mjs); Redis absent at
// start, AUTH and SELECT on the sharded subscriber, a refused password;
// replies a fake Redis sends that the subscriber does not expect.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createClient } from 'redis';
import {
  sioConnect, closeAll, ackOf, sleep, waitFor, freePort, startInstance,
} from './harness.mjs';
import {
  startMixedCluster, peerClient, waitServers, broadcaster, siodRedisArgs, RedisServer,
} from './redis-lib.mjs';

const clusters = [];
after(async () => { for (const c of clusters) await c.stop(); });

async function cluster(name, mode) {
  const c = await startMixedCluster(name, mode);
  clusters.push(c);
  return c;
}

/** Subscribers of a shard channel. */
async function shardSubs(rc, channel) {
  const r = await rc.sendCommand(['PUBSUB', 'SHARDNUMSUB', channel]);
  return Number(r[1]);
}

const rooms = async (s) => (await ackOf(s, 'rooms'))[0].slice().sort();

for (const sub of ['static', 'dynamic', 'dynamic-private']) {
  test(`${sub}: broadcasts both ways: all, rooms, except, socket ids, binary`,
    { timeout: 40000 }, async () => {
      const { ours, peer, rc } = await cluster(`redis-sh-${sub}`, `sharded:${sub}`);
      const deliver = broadcaster(ours, peer);
      const [A, B] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/', { transports: ['polling'] })]);
      const [N1, N2] = await Promise.all([peerClient(peer), peerClient(peer)]);
      const all = { A, B, N1, N2 };
      try {
        assert.deepEqual(await ackOf(A, 'join', ['red']), [true]);
        assert.deepEqual(await ackOf(N1, 'join', ['red']), [true]);
        assert.deepEqual(await ackOf(N2, 'join', ['blue']), [true]);

        // the room channels siod subscribes, as the Node adapter does
        const red = await shardSubs(rc, 'socket.io#/#red#');
        assert.equal(red, sub === 'static' ? 0 : 2, 'subscribers of red\'s channel');
        assert.equal(await shardSubs(rc, `socket.io#/#${A.id}#`), sub === 'dynamic-private' ? 1 : 0,
          'a socket\'s own room has a channel in dynamic-private only');

        // from our node
        assert.deepEqual(await deliver(A, {}, all), ['A', 'B', 'N1', 'N2']);
        assert.deepEqual(await deliver(B, { rooms: ['red'] }, all), ['A', 'N1']);
        assert.deepEqual(await deliver(B, { rooms: ['red', 'blue'] }, all), ['A', 'N1', 'N2']);
        assert.deepEqual(await deliver(B, { except: ['red'] }, all), ['B', 'N2']);
        assert.deepEqual(await deliver(B, { rooms: ['red'], except: ['blue'] }, all), ['A', 'N1']);
        assert.deepEqual(await deliver(A, { exceptMe: true }, all), ['B', 'N1', 'N2']);
        assert.deepEqual(await deliver(A, { rooms: [N2.id] }, all), ['N2']);

        // from the Node.js node
        assert.deepEqual(await deliver(N1, {}, all), ['A', 'B', 'N1', 'N2']);
        assert.deepEqual(await deliver(N2, { rooms: ['red'] }, all), ['A', 'N1']);
        assert.deepEqual(await deliver(N2, { except: ['red'] }, all), ['B', 'N2']);
        assert.deepEqual(await deliver(N1, { exceptMe: true }, all), ['A', 'B', 'N2']);
        assert.deepEqual(await deliver(N1, { rooms: [B.id] }, all), ['B']);
        assert.deepEqual(await deliver(N1, { rooms: ['red'], except: [A.id] }, all), ['N1']);

        // binary and JSON values (msgpack on the wire), both ways
        const args = [{ s: 'é\u2028"\\', n: -12, f: 1.5, big: 2 ** 40, t: true, z: null, a: [1, [2, {}]] },
          Buffer.from([0, 1, 2, 255]), [Buffer.from('nested'), { b: Buffer.alloc(0) }]];
        for (const from of [A, N1]) {
          assert.deepEqual(await deliver(from, { rooms: ['red'] }, all, args), ['A', 'N1']);
          for (const s of [A, N1]) assert.deepEqual(s.rec.all('m').at(-1).slice(1), args);
        }

        // the room's channel goes with its last local socket
        assert.deepEqual(await ackOf(A, 'leave', ['red']), [true]);
        if (sub !== 'static') {
          await waitFor(async () => await shardSubs(rc, 'socket.io#/#red#') === 1, 3000, 'red unsubscribed');
        }
        assert.deepEqual(await deliver(N2, { rooms: ['red'] }, all), ['N1']);
      } finally {
        closeAll(A, B, N1, N2);
      }
    });
}

let main;
test('dynamic: the server count, fetchSockets from Node.js', { timeout: 40000 }, async () => {
  main = await cluster('redis-sh-main', 'sharded');
  const { ours, peer } = main;
  const [A, B] = await Promise.all([sioConnect(ours, '/', { query: { who: 'A' } }), sioConnect(ours, '/')]);
  const N = await peerClient(peer);
  try {
    assert.deepEqual(await ackOf(N, 'server-count'), [2]);
    await waitFor(() => /redis: namespace \/: 2 servers/.test(ours.siodLog()), 5000, 'siod counts 2 servers');
    assert.deepEqual(await ackOf(A, 'join', ['red']), [true]);
    const [all] = await ackOf(N, 'fetch', [{}], 8000);
    assert.ok(Array.isArray(all), JSON.stringify(all));
    assert.deepEqual(all.map((s) => s.id).sort(), [A.id, B.id, N.id].sort());
    const a = all.find((s) => s.id === A.id);
    assert.deepEqual(a.rooms, [A.id, 'red'].sort());
    assert.equal(a.query.who, 'A');
    const [red] = await ackOf(N, 'fetch', [{ rooms: ['red'] }], 8000);
    assert.deepEqual(red.map((s) => s.id), [A.id]);

  } finally {
    closeAll(A, B, N);
  }
});

test('dynamic: socketsJoin, socketsLeave, disconnectSockets from Node.js', { timeout: 30000 }, async () => {
  const { ours, peer, rc } = main;
  const [A, B] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/')]);
  const N = await peerClient(peer);
  try {
    assert.deepEqual(await ackOf(A, 'join', ['red']), [true]);
    assert.deepEqual(await ackOf(N, 'sockets-join', [{ rooms: ['red'], room: 'green' }]), [true]);
    await waitFor(async () => (await rooms(A)).includes('green'), 3000, 'A joins green');
    assert.deepEqual(await rooms(B), [B.id]);
    // a room joined so has its channel too
    await waitFor(async () => await shardSubs(rc, 'socket.io#/#green#') >= 1, 3000, 'green subscribed');
    assert.deepEqual(await ackOf(N, 'sockets-leave', [{ rooms: ['green'], room: 'red' }]), [true]);
    await waitFor(async () => !(await rooms(A)).includes('red'), 3000, 'A leaves red');
    const gone = new Promise((r) => A.once('disconnect', r));
    assert.deepEqual(await ackOf(N, 'disconnect-sockets', [{ rooms: ['green'], close: false }]), [true]);
    await gone;
    assert.equal(B.connected, true);
  } finally {
    closeAll(A, B, N);
  }
});

test('dynamic: broadcasts with acks both ways', { timeout: 30000 }, async () => {
  const { ours, peer } = main;
  const [A, B, C] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/'), sioConnect(ours, '/')]);
  const [N, M] = await Promise.all([peerClient(peer), peerClient(peer)]);
  try {
    A.on('ask', (x, cb) => cb(`A:${x}`));
    B.on('ask', (x, cb) => cb({ from: 'B', bin: Buffer.from([x.length, 9]) }));
    C.on('ask', () => {});          // never answers
    N.on('ask', (x, cb) => cb(`N:${x}`));
    for (const s of [A, B]) assert.deepEqual(await ackOf(s, 'join', ['red']), [true]);

    // from Node.js: counted and answered by our clients
    const [r] = await ackOf(N, 'to-ack', [{ rooms: ['red'], timeout: 3000, args: ['hey'] }], 6000);
    assert.equal(r.err, null, JSON.stringify(r));
    assert.equal(r.responses.length, 2);
    assert.ok(r.responses.includes('A:hey'), JSON.stringify(r.responses));
    const b = r.responses.find((x) => x?.from === 'B');
    assert.deepEqual(Buffer.from(b.bin), Buffer.from([3, 9]));
    const t0 = Date.now();
    const [every] = await ackOf(N, 'to-ack', [{ timeout: 800, args: ['yo'] }], 6000);
    assert.match(every.err ?? '', /timed out/);
    assert.ok(Date.now() - t0 >= 700);
    assert.deepEqual(every.responses.filter((x) => typeof x === 'string').sort(), ['A:yo', 'N:yo']);

    // from our node: the Node.js server's clients count and answer too
    B.on('bask', (x, cb) => cb(`B:${x}`));
    N.on('bask', (x, cb) => cb({ from: 'N', bin: Buffer.from([7, x.length]) }));
    M.on('bask', (x, cb) => cb(`M:${x}`));
    for (const s of [N, M]) assert.deepEqual(await ackOf(s, 'join', ['red']), [true]);
    assert.deepEqual(await ackOf(A, 'bcast-ack', [{ rooms: ['red'], except: [A.id], timeout: 3000, args: ['hi'] }]),
      [true]);
    const [mine] = await A.rec.next('bcast-ack-result', 5000);
    assert.equal(mine.err, null, JSON.stringify(mine));
    assert.equal(mine.count, 3);
    assert.deepEqual(mine.responses.filter((x) => typeof x === 'string').sort(), ['B:hi', 'M:hi']);
    const n = mine.responses.find((x) => x?.from === 'N');
    assert.deepEqual(Buffer.from(n.bin), Buffer.from([7, 2]));
  } finally {
    closeAll(A, B, C, N, M);
  }
});

test('dynamic: Redis restarted: local delivery goes on, one outage line, the cluster resumes',
  { timeout: 40000 }, async () => {
    const { ours, peer, redis } = main;
    const deliver = broadcaster(ours, peer);
    const lines = (re) => ours.siodLog().split('\n').filter((l) => re.test(l));
    const [A, B] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/')]);
    const N = await peerClient(peer);
    try {
      assert.deepEqual(await ackOf(A, 'join', ['red']), [true]);
      assert.deepEqual(await ackOf(N, 'join', ['red']), [true]);
      // both servers subscribed red's channel before the outage
      await waitFor(async () => await shardSubs(main.rc, 'socket.io#/#red#') === 2, 3000, 'red subscribed');
      await main.rc.disconnect().catch(() => {});
      await redis.stop();
      await waitFor(() => lines(/redis 127\.0\.0\.1:\d+: connection lost/).length === 1, 5000,
        `the outage line\n${ours.logs()}`);
      for (const tag of ['down1', 'down2']) {
        assert.deepEqual(await ackOf(A, 'to', [{ event: 'm', args: [tag] }]), [true]);
        await B.rec.until(() => B.rec.all('m').some((a) => a[0] === tag), 3000, tag);
      }
      await sleep(500);
      assert.equal(ours.siod.exitCode, null, 'siod exited');

      await redis.start();
      await waitFor(() => lines(/connected again after \d+ ms/).length === 1, 10000,
        `the recovery line\n${ours.logs()}`);
      assert.equal(lines(/connection lost|cannot connect/).length, 1, 'one line per outage');
      main.rc = createClient({ url: redis.url });
      main.rc.on('error', () => {});
      await main.rc.connect();
      await waitServers(main.rc, '/', 2, 15000, 'sharded');
      // the room channels are subscribed again
      await waitFor(async () => await shardSubs(main.rc, 'socket.io#/#red#') === 2, 10000,
        `red again\n${ours.logs()}\n--- peer:\n${peer.output()}`);
      const all = { A, B, N };
      assert.deepEqual(await deliver(A, {}, all), ['A', 'B', 'N']);
      assert.deepEqual(await deliver(N, { rooms: ['red'] }, all), ['A', 'N']);
      assert.equal(N.rec.all('m').filter((a) => String(a[0]).startsWith('down')).length, 0);
    } finally {
      closeAll(A, B, N);
    }
  });

test('sharded, no Redis at start, then AUTH as an ACL user with a database; a wrong password is one line',
  { timeout: 40000 }, async () => {
    const port = await freePort();
    const opts = (redis) => ({ app: 'testkit', logLevel: 'warn', redis, siodExtraArgs: siodRedisArgs('sharded') });
    const ours = await startInstance('redis-sh-late',
      opts(`redis://alice:${encodeURIComponent('al:ice@pw')}@127.0.0.1:${port}/2`));
    clusters.push(ours);
    const lines = (inst, re) => inst.siodLog().split('\n').filter((l) => re.test(l));
    const [A, A2] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/')]);
    try {
      assert.deepEqual(await ackOf(A, 'to', [{ event: 'm', args: ['x'] }]), [true]);
      await A2.rec.until(() => A2.rec.all('m').length === 1, 5000, 'local delivery');
      assert.equal(lines(ours, /cannot connect: /).length, 1, ours.logs());

      const redis = new RedisServer(['--requirepass', 'rootpw',
        '--user', 'alice', 'on', '>al:ice@pw', '~*', '&*', '+@all']);
      redis.port = port;
      clusters.push({ stop: () => redis.destroy() });
      await redis.start();
      await waitFor(() => lines(ours, /connected again/).length === 1, 10000, `recovery\n${ours.logs()}`);
      const rc = createClient({ url: `redis://:rootpw@127.0.0.1:${port}` });
      rc.on('error', () => {});
      await rc.connect();
      clusters.push({ stop: () => rc.disconnect().catch(() => {}) });
      await waitServers(rc, '/', 1, 10000, 'sharded');
      // a broadcast published by hand (JSON) reaches our clients
      await rc.sendCommand(['SPUBLISH', 'socket.io#/#', JSON.stringify({
        uid: 'by-hand', nsp: '/', type: 3,
        data: { packet: { type: 2, data: ['hi', 1], nsp: '/' }, opts: { rooms: [], except: [], flags: {} } },
      })]);
      await A.rec.until(() => A.rec.all('hi').length === 1, 5000, `through Redis\n${ours.logs()}`);

      // refused: serves locally, one line saying why, retrying quietly
      const bad = await startInstance('redis-sh-badauth', opts(`redis://alice:wrong@127.0.0.1:${port}`));
      clusters.push(bad);
      const B = await sioConnect(bad, '/');
      try {
        await sleep(1500);
        const refused = lines(bad, /redis /);
        assert.equal(refused.length, 1, refused.join('\n'));
        assert.match(refused[0], /cannot connect: AUTH: WRONGPASS/);
        assert.equal(bad.siod.exitCode, null);
      } finally {
        closeAll(B);
      }
    } finally {
      closeAll(A, A2);
    }
  });

/**
 * A fake Redis for the subscriber's replies: answers what siod sends
 * (AUTH, SELECT, PING, PUBSUB, SPUBLISH, SSUBSCRIBE) and, on the first
 * connection that subscribes to socket.io#/#, sends odd() (replies siod
 * must survive); every 200 ms a broadcast to the connections subscribed
 * to it. Resolves {port, conns, close()}.
 */
async function fakeRedis(odd) {
  const port = await freePort();
  const bulk = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  const f = { port, conns: 0, oddSent: 0 };
  const subscribed = new Set();
  const tick = setInterval(() => {
    for (const sock of subscribed) {
      sock.write(`*3\r\n${bulk('smessage')}${bulk('socket.io#/#')}${bulk(JSON.stringify({
        uid: 'fake', nsp: '/', type: 3,
        data: { packet: { type: 2, data: ['hi', f.conns], nsp: '/' }, opts: { rooms: [], except: [] } },
      }))}`);
    }
  }, 200);
  const server = net.createServer((sock) => {
    f.conns++;
    sock.on('error', () => {});
    sock.on('close', () => subscribed.delete(sock));
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        // one RESP array of bulk strings, as hiredis writes commands
        const text = buf.toString('latin1');
        const m = /^\*(\d+)\r\n/.exec(text);
        if (!m) return;
        let at = m[0].length;
        const args = [];
        for (let i = 0; i < Number(m[1]); i++) {
          const h = /^\$(\d+)\r\n/.exec(text.slice(at));
          if (!h || text.length < at + h[0].length + Number(h[1]) + 2) return;
          at += h[0].length;
          args.push(text.slice(at, at + Number(h[1])));
          at += Number(h[1]) + 2;
        }
        buf = buf.subarray(at);
        const cmd = args[0].toUpperCase();
        if (cmd === 'PING') sock.write('+PONG\r\n');
        else if (cmd === 'PUBSUB') sock.write(`*2\r\n${bulk(args[2])}:1\r\n`);
        else if (cmd === 'SPUBLISH') sock.write(':0\r\n');
        else if (cmd === 'SSUBSCRIBE' || cmd === 'SUNSUBSCRIBE') {
          sock.write(`*3\r\n${bulk(cmd.toLowerCase())}${bulk(args[1])}:1\r\n`);
          if (cmd === 'SSUBSCRIBE' && args[1] === 'socket.io#/#') {
            if (!f.oddSent++) sock.write(odd(bulk));
            else subscribed.add(sock);
          }
        } else sock.write('+OK\r\n');
      }
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  f.close = () => {
    clearInterval(tick);
    for (const sock of subscribed) sock.destroy();
    return new Promise((r) => server.close(r));
  };
  return f;
}

test('replies the subscriber does not expect never stop siod', { timeout: 30000 }, async () => {
  const odd = (bulk) => [
    `*3\r\n${bulk('smessage')}:5\r\n*1\r\n:1\r\n`,          // not strings
    `*1\r\n${bulk('smessage')}`,                                // too short
    '*0\r\n', ':42\r\n', '$-1\r\n', '*-1\r\n', '+OK\r\n',       // no message at all
    `*3\r\n${bulk('smessage')}${bulk('socket.io#/#')}${bulk('{"not":"a message"}')}`,
    `*3\r\n${bulk('smessage')}${bulk('socket.io#/#')}${bulk('\u0093\u00c1')}`, // bad msgpack
    '-ERR unknown command \'SSUBSCRIBE\'\r\n',                 // a Redis before 7
    '?garbage\r\n',                                              // not RESP: the connection goes
  ].join('');
  const fake = await fakeRedis(odd);
  const ours = await startInstance('redis-sh-fake', {
    app: 'testkit', logLevel: 'warn', redis: `redis://127.0.0.1:${fake.port}`,
    siodExtraArgs: siodRedisArgs('sharded'),
  });
  clusters.push(ours, { stop: () => fake.close() });
  const A = await sioConnect(ours, '/');
  try {
    // the broadcast sent after the odd replies, on the next connection
    await A.rec.until(() => A.rec.all('hi').length >= 1, 10000, `a broadcast\n${ours.logs()}`);
    assert.equal(ours.siod.exitCode, null, 'siod exited');
    const log = ours.siodLog();
    assert.match(log, /a message on socket\.io#\/# siod cannot read/);
    assert.match(log, /a subscription refused: ERR unknown command/);
    assert.match(log, /connection lost: Protocol error/);
    assert.ok(fake.conns >= 3, `${fake.conns} connections`);
    assert.equal((ours.siodLog().match(/connection lost/g) || []).length, 1, 'one outage');
  } finally {
    closeAll(A);
  }
});

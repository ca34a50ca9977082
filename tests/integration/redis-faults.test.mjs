// Redis stopped and restarted under a mixed cluster (our node and a Node.js
// peer): our node goes on delivering its own broadcasts to its own clients,
// logs the outage once and the broadcasts it could not publish, reconnects
// and subscribes again by itself, and cross-server delivery resumes. A
// Redis that never answers at start does not stop siod from serving; AUTH
// (an ACL user, a database) works and a wrong password is one line; a
// stalled Redis (SIGSTOP) holds at most 64 MiB of siod's publishes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { io as sioClient } from 'socket.io-client';
import { createClient } from 'redis';
import {
  startInstance, sioConnect, closeAll, ackOf, sleep, Recorder, withTimeout, waitFor, freePort,
} from './harness.mjs';
import { startRedis, startNodePeer, waitServers } from './redis-lib.mjs';

const cleanup = [];
// each step bounded: a test that failed half-way must not hang the rest
after(async () => {
  await sleep(100);
  for (const f of cleanup.reverse()) await withTimeout(Promise.resolve().then(f), 10000, 'cleanup').catch(() => {});
});

async function client(url) {
  const s = sioClient(url, { forceNew: true, reconnection: false, transports: ['websocket'] });
  s.rec = new Recorder(s);
  await withTimeout(new Promise((res, rej) => { s.once('connect', res); s.once('connect_error', rej); }),
    5000, 'peer connect');
  return s;
}

async function redisClient(url) {
  const c = createClient({ url });
  c.on('error', () => {});
  await c.connect();
  return c;
}

const lines = (inst, re) => inst.siodLog().split('\n').filter((l) => re.test(l));

test('Redis restarted: local delivery goes on, one outage line, lost counted, cluster resumes',
  { timeout: 40000 }, async () => {
    const redis = await startRedis();
    cleanup.push(() => redis.destroy());
    const ours = await startInstance('redis-faults', { app: 'testkit', redis: redis.url, logLevel: 'warn' });
    cleanup.push(() => ours.stop());
    const peer = await startNodePeer(redis.url);
    cleanup.push(() => peer.stop());
    let rc = await redisClient(redis.url);
    await waitServers(rc, '/', 2);
    await rc.disconnect();

    const [A, B] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/')]);
    const N = await client(peer.url('/'));
    cleanup.push(async () => closeAll(A, B, N));

    const ask = (s, tag) => ackOf(s, 'to', [{ event: 'm', args: [tag] }]);
    const got = (s, tag) => s.rec.until(() => s.rec.all('m').some((a) => a[0] === tag), 5000,
      `"${tag}"\n${ours.logs()}`);

    await ask(A, 'before');
    await Promise.all([got(B, 'before'), got(N, 'before')]);

    await redis.stop();
    await waitFor(() => lines(ours, /redis 127\.0\.0\.1:\d+: connection lost/).length === 1, 5000,
      `the outage line\n${ours.logs()}`);
    // our own clients still hear each other, at once
    for (const tag of ['down1', 'down2', 'down3']) {
      assert.deepEqual(await ask(A, tag), [true]);
      await got(B, tag);
    }
    await sleep(700);  // a few reconnection attempts
    assert.equal(ours.siod.exitCode, null, 'siod exited');

    await redis.start();  // the same port
    await waitFor(() => lines(ours, /connected again after \d+ ms/).length === 1, 10000,
      `the recovery line\n${ours.logs()}`);
    const back = lines(ours, /connected again/)[0];
    const lost = Number(/(\d+) messages could not be published/.exec(back)?.[1]);
    assert.ok(lost >= 3, `lost count in "${back}"`);
    assert.equal(lines(ours, /connection lost|cannot connect/).length, 1, 'one line per outage');

    rc = await redisClient(redis.url);
    cleanup.push(() => rc.disconnect());
    await waitServers(rc, '/', 2, 15000);
    await ask(A, 'after-ours');
    await Promise.all([got(B, 'after-ours'), got(N, 'after-ours')]);
    assert.deepEqual(await ackOf(N, 'to', [{ event: 'm', args: ['after-node'] }]), [true]);
    await Promise.all([got(A, 'after-node'), got(B, 'after-node')]);
    assert.equal(N.rec.all('m').filter((a) => String(a[0]).startsWith('down')).length, 0);
  });

test('no Redis at start: siod serves locally and joins once Redis comes', { timeout: 30000 }, async () => {
  const port = await freePort();
  const ours = await startInstance('redis-late', { app: 'testkit', redis: `redis://127.0.0.1:${port}/3`,
    logLevel: 'warn' });
  cleanup.push(() => ours.stop());
  const [A, B] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/')]);
  cleanup.push(async () => closeAll(A, B));
  assert.deepEqual(await ackOf(A, 'to', [{ event: 'm', args: ['x'] }]), [true]);
  await B.rec.until(() => B.rec.all('m').length === 1, 5000, 'local delivery');
  assert.equal(lines(ours, /cannot connect: /).length, 1, ours.logs());

  const { RedisServer } = await import('./redis-lib.mjs');
  const redis = new RedisServer();
  redis.port = port;
  await redis.start();
  cleanup.push(() => redis.destroy());
  await waitFor(() => lines(ours, /connected again/).length === 1, 10000, `recovery\n${ours.logs()}`);
  // SELECT 3 was accepted (pub/sub spans databases): a broadcast published
  // by hand (msgpack, no namespace: "/") reaches our clients
  const rc = await redisClient(`redis://127.0.0.1:${port}`);
  cleanup.push(() => rc.disconnect());
  await waitServers(rc, '/', 1);
  await rc.publish('socket.io#/#', Buffer.from([0x93, 0xa7, ...Buffer.from('emitter'),
    0x82, 0xa4, ...Buffer.from('type'), 0x02, 0xa4, ...Buffer.from('data'), 0x91, 0xa2, ...Buffer.from('hi'),
    0x80]));
  await B.rec.until(() => B.rec.all('hi').length === 1, 5000, 'a broadcast through Redis');
});

test('AUTH with an ACL user and a database; a wrong password is one outage line', { timeout: 30000 }, async () => {
  const { RedisServer } = await import('./redis-lib.mjs');
  const redis = new RedisServer(['--requirepass', 'rootpw',
    '--user', 'alice', 'on', '>al:ice@pw', '~*', '&*', '+@all']);
  await redis.start();
  cleanup.push(() => redis.destroy());
  const base = `127.0.0.1:${redis.port}`;
  const good = await startInstance('redis-auth', { app: 'testkit', logLevel: 'warn',
    redis: `redis://alice:${encodeURIComponent('al:ice@pw')}@${base}/2` });
  cleanup.push(() => good.stop());
  const bad = await startInstance('redis-badauth', { app: 'testkit', logLevel: 'warn',
    redis: `redis://alice:wrong@${base}` });
  cleanup.push(() => bad.stop());

  const rc = await redisClient(`redis://:rootpw@${base}`);
  cleanup.push(() => rc.disconnect());
  await waitServers(rc, '/', 1);
  const [A, B] = await Promise.all([sioConnect(good, '/'), sioConnect(bad, '/')]);
  cleanup.push(async () => closeAll(A, B));
  const { Emitter } = await import('@socket.io/redis-emitter');
  new Emitter(rc).emit('hi', 1);
  await A.rec.until(() => A.rec.all('hi').length === 1, 5000, `through an authenticated Redis\n${good.logs()}`);
  assert.equal(lines(good, /redis .*connected$/).length, 1, good.logs());

  // the refused one: serves locally, one line saying why, retrying quietly
  assert.deepEqual(await ackOf(B, 'to', [{ event: 'm', args: ['local'] }]), [true]);
  await B.rec.until(() => B.rec.all('m').length === 1, 5000, 'local delivery');
  await sleep(1500);
  const refused = lines(bad, /redis /);
  assert.equal(refused.length, 1, refused.join('\n'));
  assert.match(refused[0], /cannot connect: AUTH: WRONGPASS/);
  assert.equal(B.rec.all('hi').length, 0);
});

test('Redis stalled (SIGSTOP): siod does not wait for it, caps what it holds, counts the rest lost',
  { timeout: 40000 }, async () => {
    // no pubsub output limit: 60 MiB of messages for slow subscribers
    // (siod's own, the test's) must not get them disconnected
    const { RedisServer } = await import('./redis-lib.mjs');
    const redis = await new RedisServer(['--client-output-buffer-limit', 'pubsub 0 0 0']).start();
    cleanup.push(() => redis.destroy());
    const ours = await startInstance('redis-stall', { app: 'testkit', redis: redis.url, logLevel: 'warn' });
    cleanup.push(() => ours.stop());
    const rc = await redisClient(redis.url);
    cleanup.push(() => rc.disconnect());
    await waitServers(rc, '/', 1);
    const sub = rc.duplicate();
    sub.on('error', () => {});
    await sub.connect();
    cleanup.push(() => sub.disconnect());
    const big = [];
    await sub.subscribe('socket.io#/#nobody#', (m) => big.push(m.length));

    const [A, B] = await Promise.all([sioConnect(ours, '/'), sioConnect(ours, '/')]);
    cleanup.push(async () => closeAll(A, B));
    redis.proc.kill('SIGSTOP');
    try {
      // 6 broadcasts of 12 MiB to a room nobody here is in: 5 fit under
      // siod's 64 MiB of unanswered publishes, the 6th is dropped
      for (let i = 0; i < 6; i++)
        assert.deepEqual(await ackOf(A, 'to', [{ event: 'big', pad: 12 << 20, rooms: ['nobody'] }], 10000), [true]);
      await waitFor(() => lines(ours, /bytes of publishes unanswered: a message dropped \(lost\)/).length === 1,
        3000, `the line of the cap\n${ours.logs()}`);
      // local delivery goes on, at once
      for (const tag of ['s1', 's2', 's3']) {
        assert.deepEqual(await ackOf(A, 'to', [{ event: 'small', args: [tag], exceptMe: true }]), [true]);
        await B.rec.until(() => B.rec.all('small').some((a) => a[0] === tag), 2000, `"${tag}" while stalled`);
      }
    } finally {
      redis.proc.kill('SIGCONT');
    }
    await waitFor(() => big.length === 5, 10000, `the 5 held publishes reach Redis (got ${big.length})`);
    await sleep(300);
    assert.equal(big.length, 5);
    assert.equal(lines(ours, /connection lost/).length, 0, 'a stall is no outage');
  });

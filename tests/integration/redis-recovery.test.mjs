// Connection state recovery across a cluster (siod --recovery with
// --redis: the store in Redis, siod/sio/siod_sio_store_redis.c), with the
// official socket.io-client and two of our nodes (httpd + siod, the
// recoverykit app) sharing a redis-server: a client comes back recovered
// (same id, rooms, data, every missed event in order, exactly once) after
// siod was killed with SIGKILL and restarted, through the other node,
// and again and again while its node keeps emitting (what that node logs
// during the claim's round trip is replayed too);
// a claim made while Redis restarts waits for it, and what was emitted
// meanwhile reaches Redis then; an offset trimmed from the stream, Redis
// down for longer than a claim waits (10 s) or stalled (2 s) gives a new
// socket and siod carries on, with one log line per outage; the emit
// API answers a plain emit once it is in the log; the sharded mode does
// the same.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createClient } from 'redis';
import {
  startInstance, sioConnect, closeAll, ackOf, withTimeout, waitFor, sleep, request, nspUrl, startedOrStopped,
} from './harness.mjs';
import { RedisServer } from './redis-lib.mjs';

const WINDOW = 8000;
const MAX_PACKETS = 50;
let redis, rc, A, B;

before(async () => {
  // small stream nodes: MAXLEN ~ trims at about MAX_PACKETS, not at 100s
  redis = await new RedisServer(['--stream-node-max-entries', '10']).start();
  rc = createClient({ url: redis.url });
  rc.on('error', () => {});
  await rc.connect();
  const opts = {
    app: 'recoverykit', redis: redis.url, pingInterval: 2000, pingTimeout: 2000,
    siodExtraArgs: [`--recovery=${WINDOW}`, `--max-recovery-packets=${MAX_PACKETS}`],
  };
  [A, B] = await startedOrStopped([startInstance('redis-recovery-a', opts), startInstance('redis-recovery-b', opts)]);
});
after(async () => {
  await sleep(200);
  await A?.stop();
  await B?.stop();
  await rc?.disconnect().catch(() => {});
  await redis?.destroy();
});

const RECONNECT = { reconnection: true, reconnectionDelay: 1000, reconnectionDelayMax: 1000, randomizationFactor: 0 };

/** Resolves once s has disconnected and connected again. */
function cycle(s, what, ms = 20000) {
  return withTimeout(new Promise((resolve) => {
    s.once('disconnect', (reason) => s.once('connect', () => resolve(reason)));
  }), ms, `${what}: disconnect and reconnect\n${A.logs(10)}\n${B.logs(10)}`);
}

/** Cuts s's transport: its WebSocket's TCP connection dies. */
function cut(s) {
  s.io.engine.transport.ws._socket.destroy();
}

/** The first argument of every `event` s got. */
const firsts = (s, event) => s.rec.all(event).map((a) => a[0]);

/** Waits until Redis holds s's record with room in it (written after a join). */
async function recordHas(s, room) {
  const key = `socket.io#recovery#/#${s._pid}`;
  await waitFor(async () => {
    const v = await rc.get(key);
    return v !== null && v.includes(room);
  }, 5000, `record ${key} with ${room}`);
}

/** The HTTP emit API of inst: event with argument i (0..n-1) to rooms. */
async function emitApi(inst, rooms, event, n) {
  for (let i = 0; i < n; i++) {
    const res = await request('POST', inst.url('/emit'), {
      body: JSON.stringify({ rooms, event, args: [i] }), headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(res.status, 200, res.body);
  }
}

/** Lines of inst's siod log matching re. */
const logLines = (inst, re) => fs.readFileSync(inst.siodLogFile, 'utf8').split('\n').filter((l) => re.test(l));

/**
 * Redis stops, what it holds saved for its restart (a snapshot: the
 * server keeps nothing otherwise), once node A has seen it go: what A
 * sends from then on is held, not sent on a dead connection (a write
 * under way as Redis goes is not sent again).
 */
async function redisAway() {
  assert.equal(await rc.sendCommand(['SAVE']), 'OK');
  const lost = /warn: redis \S+: connection lost/;
  const lostBefore = logLines(A, lost).length;
  await redis.stop();
  await waitFor(() => logLines(A, lost).length > lostBefore, 5000, 'siod to see Redis gone');
}

/** s joins r1 and sets its data; returns its id. */
async function setUp(s) {
  const [welcome] = await s.rec.next('welcome');
  assert.equal(welcome.recovered, false);
  assert.equal(typeof s.rec.all('welcome')[0].at(-1), 'string', 'an offset on a plain emit');
  assert.deepEqual(await ackOf(s, 'join', ['r1']), [true]);
  assert.deepEqual(await ackOf(s, 'set-data', [{ user: 'ann' }]), [true]);
  await recordHas(s, 'r1');
  return s.id;
}

/** s came back as the socket id was, in [id, r1], with its data. */
async function assertRecovered(s, id, inst) {
  assert.equal(s.recovered, true, `recovered\n${inst.logs(20)}`);
  assert.equal(s.id, id, 'the same id');
  const [who] = await ackOf(s, 'whoami');
  assert.equal(who.id, id);
  assert.equal(who.recovered, true);
  assert.deepEqual(who.rooms.sort(), [id, 'r1'].sort(), 'the same rooms');
  assert.deepEqual(who.data, { user: 'ann' }, 'the same data');
}

test('siod killed (SIGKILL) and restarted: the client comes back recovered, with what the other node sent meanwhile',
  { timeout: 60000 }, async () => {
    const s = await sioConnect(A, '/', { ...RECONNECT, transports: ['websocket'] });
    const witness = await sioConnect(B, '/', { transports: ['websocket'] });
    try {
      const id = await setUp(s);
      assert.deepEqual(await ackOf(witness, 'join', ['r1']), [true]);
      const back = cycle(s, 'client');
      await A.killSiod('SIGKILL');
      // while A's siod is dead: B's emit API to r1 and to the socket's
      // own room, B's application to r1, and to a room it is not in
      await emitApi(B, 'r1', 'r', 3);
      await emitApi(B, id, 'm', 2);
      assert.deepEqual(await ackOf(witness, 'later', [{ delay: 0, to: 'room:r1', event: 'b', n: 2 }]), [true]);
      await emitApi(B, 'elsewhere', 'no', 1);
      await witness.rec.count('b', 2);
      await A.startSiod();
      await back;
      await assertRecovered(s, id, A);
      await sleep(300);
      const order = s.rec.log.map((e) => e.event).filter((e) => ['r', 'm', 'b', 'no'].includes(e));
      assert.deepEqual(order, ['r', 'r', 'r', 'm', 'm', 'b', 'b'], 'missed events in order, once each');
      assert.deepEqual(firsts(s, 'r'), [0, 1, 2]);
      assert.deepEqual(firsts(s, 'm'), [0, 1]);
      assert.deepEqual(firsts(s, 'b'), [0, 1]);
      for (const args of s.rec.all('r')) assert.equal(typeof args.at(-1), 'string', 'r: carries its offset');
      // it goes on: live events; the new siod keeps its record up to date
      await emitApi(B, 'r1', 'live', 1);
      await s.rec.count('live', 1);
      assert.deepEqual(await ackOf(s, 'join', ['r2']), [true]);
      await recordHas(s, 'r2');
      // and a second crash: back again, in r2 too, with what r2 got
      const again = cycle(s, 'client, second crash');
      await A.killSiod('SIGKILL');
      await emitApi(B, 'r2', 'r2', 2);
      await A.startSiod();
      await again;
      assert.equal(s.recovered, true, `recovered again\n${A.logs(20)}`);
      assert.equal(s.id, id);
      const [who] = await ackOf(s, 'whoami');
      assert.deepEqual(who.rooms.sort(), [id, 'r1', 'r2'].sort());
      await s.rec.count('r2', 2);
      assert.deepEqual(firsts(s, 'r2'), [0, 1]);
    } finally {
      closeAll(s, witness);
    }
  });

test('a client on node A loses its transport and comes back through node B: recovered',
  { timeout: 60000 }, async () => {
    const s = await sioConnect(A, '/', { ...RECONNECT, transports: ['websocket'] });
    try {
      const id = await setUp(s);
      // emitted on A while the client is away: to its socket object, to r1
      assert.deepEqual(await ackOf(s, 'later', [{ delay: 300, to: 'me', event: 'm', n: 3 }]), [true]);
      assert.deepEqual(await ackOf(s, 'later', [{ delay: 350, to: 'room:r1', event: 'r', n: 2 }]), [true]);
      assert.deepEqual(await ackOf(s, 'later', [{ delay: 400, to: 'me', event: 'vol', n: 2, volatile: true }]), [true]);
      // and once it is back on B: A's application still holds the old socket object
      assert.deepEqual(await ackOf(s, 'later', [{ delay: 3000, to: 'me', event: 'late', n: 1 }]), [true]);
      s.io.uri = nspUrl(B, '/');
      const back = cycle(s, 'client');
      cut(s);
      await back;
      assert.equal(String(s.io.engine.port), new URL(B.url('')).port, 'connected through B');
      await assertRecovered(s, id, B);
      await sleep(300);
      const order = s.rec.log.map((e) => e.event).filter((e) => ['m', 'r', 'vol'].includes(e));
      assert.deepEqual(order, ['m', 'm', 'm', 'r', 'r'], 'missed events in order, once each; volatile not replayed');
      assert.deepEqual(firsts(s, 'm'), [0, 1, 2]);
      // B serves it now: B's application reaches it by its id, and so
      // does A's emit to the socket object it kept (through the cluster)
      await emitApi(B, id, 'live', 1);
      await s.rec.count('live', 1);
      await s.rec.count('late', 1, 8000);
      assert.equal(typeof s.rec.all('late')[0].at(-1), 'string', 'late: carries its offset');
    } finally {
      closeAll(s);
    }
  });

test('mid-stream: cut again and again while its node emits every 2 ms: every event once, in order',
  { timeout: 60000 }, async () => {
    const s = await sioConnect(A, '/', {
      reconnection: true, reconnectionDelay: 20, reconnectionDelayMax: 20, randomizationFactor: 0, transports: ['websocket'],
    });
    try {
      const id = await setUp(s);
      const N = 1500;
      assert.deepEqual(await ackOf(s, 'stream', [{ every: 2, n: N, to: 'room:r1' }]), [true]);
      for (let i = 0; i < 8; i++) {
        await s.rec.count('tick', (i + 1) * 100, 10000);
        const back = cycle(s, `cut ${i}`);
        cut(s);
        await back;
        assert.equal(s.recovered, true, `recovered after cut ${i}\n${A.logs(10)}`);
      }
      await s.rec.next('tick-end', 20000);
      const ticks = firsts(s, 'tick');
      const missing = Array.from({ length: N }, (_, i) => i).filter((i) => !ticks.includes(i));
      assert.deepEqual(missing, [], 'no tick lost');
      assert.deepEqual(ticks, Array.from({ length: N }, (_, i) => i), 'every tick once, in order');
      assert.equal(s.id, id);
    } finally {
      closeAll(s);
    }
  });

test('an offset trimmed from the stream (--max-recovery-packets): a new socket', { timeout: 60000 }, async () => {
  const s = await sioConnect(A, '/', { ...RECONNECT, transports: ['websocket'] });
  try {
    const id = await setUp(s);
    assert.deepEqual(await ackOf(s, 'later', [{ delay: 300, to: 'room:r1', event: 'f', n: MAX_PACKETS * 3 }]), [true]);
    const back = cycle(s, 'client');
    cut(s);
    await back;
    assert.equal(s.recovered, false, 'not recovered');
    assert.notEqual(s.id, id, 'a new id');
    const [who] = await ackOf(s, 'whoami');
    assert.deepEqual(who.rooms, [s.id], 'only its own room');
    assert.equal(who.data, null);
    assert.equal(s.rec.all('f').length, 0, 'none of what it missed');
    assert.ok(Number(await rc.xLen('socket.io#recovery#log')) < MAX_PACKETS * 3, 'the stream is bounded');
  } finally {
    closeAll(s);
  }
});

test('Redis down at reconnect and not back: the claims wait, then new sockets; siod carries on, one log line for the outage', { timeout: 60000 }, async () => {
  const s1 = await sioConnect(A, '/', { ...RECONNECT, transports: ['websocket'] });
  const s2 = await sioConnect(A, '/', { ...RECONNECT, transports: ['websocket'] });
  const down = /recovery: Redis does not answer/;
  try {
    const id1 = await setUp(s1);
    await setUp(s2);
    const before1 = logLines(A, down).length;
    assert.equal(before1, 0, `no outage line while Redis answered\n${A.logs(20)}`);
    await redis.stop();
    const t0 = Date.now();
    const backs = [s1, s2].map((s) => cycle(s, 'client'));
    for (const s of [s1, s2]) cut(s);
    await Promise.all(backs);
    // the claim's 10 s (from the client's retry a second later), the expire tick's second
    assert.ok(Date.now() - t0 < 15000, `not held until Redis is back (${Date.now() - t0} ms)`);
    for (const s of [s1, s2]) assert.equal(s.recovered, false, 'not recovered');
    assert.notEqual(s1.id, id1);
    const [who] = await ackOf(s1, 'whoami');
    assert.equal(who.recovered, false);
    // later events reach them; siod is alive
    assert.deepEqual(await ackOf(s1, 'later', [{ delay: 0, to: 'me', event: 'm', n: 2 }]), [true]);
    await s1.rec.count('m', 2);
    assert.equal(A.siod.exitCode, null, 'siod runs');
    assert.equal(logLines(A, down).length - before1, 1, `one line for the outage\n${A.logs(20)}`);
  } finally {
    closeAll(s1, s2);
    await redis.start();
  }
});

test('Redis restarted while a client is away: its claim waits for Redis, it comes back recovered with what was emitted meanwhile',
  { timeout: 60000 }, async () => {
    const s = await sioConnect(A, '/', { ...RECONNECT, transports: ['websocket'] });
    try {
      const id = await setUp(s);
      await redisAway();
      const back = cycle(s, 'client');
      cut(s);
      // emitted while Redis is away: in the log once it is back (the
      // emit API says it is not yet, after the request's wait)
      for (let i = 0; i < 3; i++) {
        const res = await request('POST', A.url('/emit'), {
          body: JSON.stringify({ rooms: 'r1', event: 'r', args: [i], timeout: 100 }),
          headers: { 'Content-Type': 'application/json' },
        });
        assert.equal(res.status, 200, res.body);
        assert.equal(JSON.parse(res.body).logged, false, res.body);
      }
      // the client's claim (1 s later) waits for Redis meanwhile
      await sleep(1500);
      await redis.start();
      await back;
      await assertRecovered(s, id, A);
      await sleep(300);
      assert.deepEqual(firsts(s, 'r'), [0, 1, 2], 'what was emitted while Redis was away, once each, in order');
    } finally {
      closeAll(s);
    }
  });

test('Redis away while the client comes back twice (its first CONNECT still waiting when it cuts again): ' +
  'the state goes to its last CONNECT, recovered', { timeout: 60000 }, async () => {
  const s = await sioConnect(A, '/', { ...RECONNECT, transports: ['websocket'] });
  try {
    const id = await setUp(s);
    await redisAway();
    // back on a new session: its CONNECT waits for Redis
    const opened = () => new Promise((resolve) => s.io.once('open', resolve));
    let next = opened();
    cut(s);
    await withTimeout(next, 10000, 'the first reconnection');
    await sleep(300);
    assert.equal(s.connected, false, 'the CONNECT waits for Redis');
    // and gone again before Redis answered, back on another session
    next = opened();
    s.io.engine.transport.ws._socket.destroy();
    await withTimeout(next, 10000, 'the second reconnection');
    await sleep(300);
    const back = withTimeout(new Promise((resolve) => s.once('connect', resolve)), 15000, 'connect');
    await redis.start();
    await back;
    await assertRecovered(s, id, A);
  } finally {
    closeAll(s);
  }
});

test('Redis stalled (SIGSTOP) at reconnect: the claim gives up in seconds, a new socket, siod does not wait',
  { timeout: 60000 }, async () => {
    const s = await sioConnect(A, '/', { ...RECONNECT, transports: ['websocket'] });
    const other = await sioConnect(A, '/', { transports: ['websocket'] });
    try {
      const id = await setUp(s);
      redis.proc.kill('SIGSTOP');
      try {
        const back = cycle(s, 'client', 15000);
        const t0 = Date.now();
        cut(s);
        // meanwhile siod serves everyone else
        assert.equal((await ackOf(other, 'whoami'))[0].id, other.id);
        await back;
        // the claim's 2 s, the expire tick's second, the client's retry
        assert.ok(Date.now() - t0 < 6000, `not held until Redis answers (${Date.now() - t0} ms)`);
        assert.equal(s.recovered, false);
        assert.notEqual(s.id, id);
      } finally {
        redis.proc.kill('SIGCONT');
      }
    } finally {
      closeAll(s, other);
    }
  });

test('Redis gone with a claim under way (its answer lost with the connection): the claim is sent again ' +
  'once Redis is back, recovered', { timeout: 60000 }, async () => {
  const s = await sioConnect(A, '/', { ...RECONNECT, transports: ['websocket'] });
  try {
    const id = await setUp(s);
    assert.equal(await rc.sendCommand(['SAVE']), 'OK');
    // Redis stalls: the client's claim goes out and waits for an answer
    redis.proc.kill('SIGSTOP');
    const opened = new Promise((resolve) => s.io.once('open', resolve));
    cut(s);
    await withTimeout(opened, 10000, 'the reconnection');
    await sleep(500);
    assert.equal(s.connected, false, 'the CONNECT waits for its claim');
    // and dies before answering (within the claim's 2 s)
    const back = withTimeout(new Promise((resolve) => s.once('connect', resolve)), 20000, 'connect');
    await redis.stop();
    await sleep(300);
    await redis.start();
    await back;
    await assertRecovered(s, id, A);
  } finally {
    redis.proc?.kill('SIGCONT');
    closeAll(s);
  }
});

test('the emit API answers a plain emit once Redis has it in the log (a siod killed after its 200 loses no event)',
  { timeout: 60000 }, async () => {
    const emit = (volatile) => request('POST', A.url('/emit'), {
      body: JSON.stringify({ rooms: 'r1', event: 'e', args: [1], volatile }),
      headers: { 'Content-Type': 'application/json' },
    });
    redis.proc.kill('SIGSTOP');
    let answered = null;
    try {
      const res = emit(false).then((r) => { answered = r; return r; });
      // a volatile emit is not logged: answered at once
      assert.equal((await emit(true)).status, 200);
      await sleep(800);
      assert.equal(answered, null, 'not answered while Redis does not answer');
      redis.proc.kill('SIGCONT');
      const r = await res;
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body), { ok: true }, 'logged');
    } finally {
      redis.proc.kill('SIGCONT');
    }
  });

test('the sharded mode (--redis-mode=sharded): a client comes back through the other node, recovered',
  { timeout: 60000 }, async () => {
    const sharded = { siodExtraArgs: [`--recovery=${WINDOW}`, `--max-recovery-packets=${MAX_PACKETS}`, '--redis-mode=sharded'] };
    await Promise.all([A.restartSiod({ opts: sharded }), B.restartSiod({ opts: sharded })]);
    const s = await sioConnect(A, '/', { ...RECONNECT, transports: ['websocket'] });
    try {
      const id = await setUp(s);
      assert.deepEqual(await ackOf(s, 'later', [{ delay: 300, to: 'room:r1', event: 'r', n: 2 }]), [true]);
      s.io.uri = nspUrl(B, '/');
      const back = cycle(s, 'client');
      cut(s);
      await back;
      await assertRecovered(s, id, B);
      await s.rec.count('r', 2);
      assert.deepEqual(firsts(s, 'r'), [0, 1]);
    } finally {
      closeAll(s);
    }
  });

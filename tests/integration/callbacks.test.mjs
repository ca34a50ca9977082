// siod's HTTP callbacks (docs/callbacks.md) against a real PHP backend: a
// real httpd with PHP in a private php-fpm pool serving
// tests/integration/php/probe.php, siod --callback for "/", and the
// official socket.io-client: connect accepted or refused (auth, cookie),
// socket data and rooms, binary arguments both ways, one socket's events in
// order, a slow, failing or garbled backend answered with an error while
// other sockets go on, the queue's bound, and the disconnect callback.
import { test, before, after } from 'node:test';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import assert from 'node:assert/strict';
import { startInstance, sioConnect, sioSocket, once, closeAll, ackOf, request, sleep, waitFor, BUILD } from './harness.mjs';

const TIMEOUT_MS = 1500;
const QUEUE = 4;
const REQUESTS = 4;
let inst;
before(async () => {
  inst = await startInstance('callbacks', {
    // more PHP workers than siod's --callback-requests, so that siod's
    // bound is the one that shows
    fpm: true, fpmChildren: 3 * REQUESTS, handlers: ['conf/php', 'tests/integration/php'],
    callbacks: ['/,connect,probe.php', '/,event,probe.php', '/,disconnect,probe.php',
      // nothing listens on port 1: an unreachable backend
      '/down,event,http://127.0.0.1:1/nothing.php',
      // a dynamic namespace: events only, so every client is let in
      '~^/dyn-[0-9]+$,event,probe.php'],
    siodExtraArgs: [`--callback-timeout=${TIMEOUT_MS}`, `--callback-queue=${QUEUE}`,
      `--callback-requests=${REQUESTS}`],
    // %k: the requests before this one on its connection (keep-alive)
    extraConf: 'CustomLog "logs/callbacks_log" "%k %m %U"',
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

const good = (opts = {}) => sioConnect(inst, '/', { auth: { token: 'good' }, ...opts });

function refusal(opts) {
  const s = sioSocket(inst, '/', opts);
  return once(s, 'connect_error', 10000).then(([err]) => { closeAll(s); return err; });
}

test('connect: the backend accepts by the auth payload, sets socket data and rooms, and emits', { timeout: 20000 }, async () => {
  const s = sioSocket(inst, '/', { auth: { token: 'good' }, query: { q: 'x y' }, extraHeaders: { 'user-agent': 'probe/1' } });
  try {
    await once(s, 'connect', 10000);
    const [hello, bin] = await s.rec.next('welcome');
    assert.equal(hello, 'hello');
    assert.deepEqual(Buffer.from(bin), Buffer.from([0, 1]));
    const [data, rooms, nsp] = await ackOf(s, 'whoami');
    assert.deepEqual(data, { user: 'by-token', agent: 'probe/1', q: 'x y', address: '127.0.0.1' });
    assert.deepEqual([...rooms].sort(), [s.id, 'vip'].sort());
    assert.equal(nsp, '/');
  } finally {
    closeAll(s);
  }
});

test('connect: a PHP session cookie lets a client in; without token or session it is refused with the backend\'s message and data', { timeout: 20000 }, async () => {
  const r = await request('POST', inst.url('/session.php'));
  const cookie = String(r.headers['set-cookie']).split(';')[0];
  const s = await sioConnect(inst, '/', { extraHeaders: { cookie } });
  try {
    assert.deepEqual((await ackOf(s, 'whoami'))[0], { user: 'by-session' });
  } finally {
    closeAll(s);
  }
  const err = await refusal({ auth: { token: 'bad' } });
  assert.equal(err.message, 'refused');
  assert.deepEqual(err.data, { reason: 'no token, no session' });
});

test('connect: a garbled or slow backend is a CONNECT_ERROR with a code, not a hang', { timeout: 20000 }, async () => {
  const garbled = await refusal({ auth: { token: 'garbled' } });
  assert.equal(garbled.message, 'callback failed');
  assert.equal(garbled.data.code, 'bad-answer');
  const t0 = Date.now();
  const slow = await refusal({ auth: { token: 'slow' } });
  assert.equal(slow.data.code, 'timeout');
  assert.ok(Date.now() - t0 < TIMEOUT_MS + 1500, `refused after ${Date.now() - t0} ms`);
});

test('connect: a client that leaves while its connect callback runs is let go; the late answer harms nothing', { timeout: 20000 }, async () => {
  const leaving = sioSocket(inst, '/', { auth: { token: 'slow-good' }, transports: ['websocket'] });
  await sleep(150);
  closeAll(leaving);
  await sleep(900);            // the answer (accept, join, emit) came meanwhile
  assert.ok(inst.siodPid, 'siod is running');
  const s = await good();
  try {
    assert.equal((await ackOf(s, 'whoami'))[0].user, 'by-token');
  } finally {
    closeAll(s);
  }
});

test('binary arguments reach PHP as bytes and come back as buffers, nested too', { timeout: 20000 }, async () => {
  const s = await good();
  try {
    const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
    // numbers past 64 bits as JavaScript writes them (in full below 1e21)
    const args = [1, 'two', { three: [3], empty: {} }, bytes, { nested: [Buffer.from('héllo')] }, null, [], 1.5,
      1e19, -1e19, 2 ** 63, 1e20, 123456789012345680000, 1e300];
    const back = await ackOf(s, 'echo', args);
    assert.deepEqual(back.map(norm), args.map(norm));
    assert.deepEqual((await s.rec.next('echo-back')).map(norm), args.map(norm));
    assert.deepEqual(await ackOf(s, 'sizes', [bytes, 'text', Buffer.alloc(0)]), [[6, '00ff01fe'], null, [0, '']]);
    // nested as deep as siod takes from a client
    let deep = [Buffer.from([7])];
    for (let i = 0; i < 120; i++) deep = [deep];
    assert.deepEqual((await ackOf(s, 'echo', [deep])).map(norm), [deep].map(norm));
  } finally {
    closeAll(s);
  }
});

/** Buffers and typed arrays as {bin: hex} for deepEqual. */
function norm(v) {
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return { bin: Buffer.from(v.buffer ?? v, v.byteOffset, v.byteLength).toString('hex') };
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

test('one socket\'s events reach the backend in order, though earlier ones take longer', { timeout: 30000 }, async () => {
  const [A, B] = await Promise.all([good({ transports: ['websocket'] }), good({ transports: ['polling'] })]);
  try {
    // one in flight and a full queue behind it; two sockets at once: each
    // sees its own in order
    const N = QUEUE + 1;
    for (let i = 0; i < N; i++) { A.emit('seq', i); B.emit('seq', i); }
    for (const s of [A, B]) {
      const got = (await s.rec.count('seq', N, 15000)).map(([n]) => n);
      assert.deepEqual(got, [...Array(N).keys()]);
    }
  } finally {
    closeAll(A, B);
  }
});

test('many sockets at once: past --callback-requests they wait their turn, and every ack comes back right', { timeout: 30000 }, async () => {
  // connected one by one: their connect callbacks are not what is measured
  const socks = [];
  for (let i = 0; i < 12; i++) socks.push(await good({ transports: [i % 2 ? 'polling' : 'websocket'] }));
  try {
    const acks = socks.flatMap((s, i) => [0, 1, 2].map((k) => ackOf(s, 'echo', [i, k, Buffer.from([i, k])], 10000)));
    const got = await Promise.all(acks);
    got.forEach((args, j) => {
      const i = Math.floor(j / 3), k = j % 3;
      assert.deepEqual(args.map(norm), [i, k, Buffer.from([i, k])].map(norm));
    });
  } finally {
    closeAll(socks);
  }
});

test('at most --callback-requests callbacks run at once', { timeout: 30000 }, async () => {
  const socks = [];
  for (let i = 0; i < 3 * REQUESTS; i++) socks.push(await good());
  const file = path.join(inst.rundir, 'handlers-conc');
  fs.writeFileSync(file, '0 0');
  fs.chmodSync(file, 0o666);
  fs.chmodSync(inst.rundir, 0o755);
  try {
    const got = await Promise.all(socks.map((s) => ackOf(s, 'conc', [file], 10000)));
    const max = Math.max(...got.map(([m]) => m));
    assert.ok(typeof max === 'number' && max <= REQUESTS && max >= 2, `at most ${max} at once: ${JSON.stringify(got)}`);
  } finally {
    closeAll(socks);
  }
});

test('a slow backend: the event is acked with a timeout error; other sockets are not held; the socket goes on', { timeout: 20000 }, async () => {
  const [A, B] = await Promise.all([good(), good()]);
  try {
    const t0 = Date.now();
    const slow = ackOf(A, 'slow', [3], 10000);
    await sleep(100);
    const tb = Date.now();
    assert.deepEqual(await ackOf(B, 'echo', ['quick']), ['quick']);
    assert.ok(Date.now() - tb < TIMEOUT_MS, `another socket waited ${Date.now() - tb} ms`);
    const [err] = await slow;
    assert.equal(err.error.code, 'timeout');
    assert.ok(Date.now() - t0 < TIMEOUT_MS + 1500, `timeout after ${Date.now() - t0} ms`);
    assert.deepEqual(await ackOf(A, 'echo', ['after']), ['after']);
  } finally {
    closeAll(A, B);
  }
});

test('a failing (500), garbled or ill-typed answer is acked with an error object, and logged', { timeout: 20000 }, async () => {
  const s = await good();
  try {
    assert.equal((await ackOf(s, 'fail'))[0].error.code, 'http-error');
    assert.equal((await ackOf(s, 'garbled'))[0].error.code, 'bad-answer');
    const [bad] = await ackOf(s, 'bad-type');
    assert.equal(bad.error.code, 'bad-answer');
    assert.match(bad.error.message, /join/);
    // no ack in the answer when one was asked: an error too
    assert.equal((await ackOf(s, 'no-such-event'))[0].error.code, 'no-ack');
    const d = await sioConnect(inst, '/down', {}).catch((e) => e);
    assert.ok(!(d instanceof Error), String(d));
    const [down] = await ackOf(d, 'anything');
    assert.equal(down.error.code, 'unreachable');
    closeAll(d);
    await waitFor(() => /callback event .*probe\.php.*HTTP 500/.test(inst.siodLog()), 3000, 'the HTTP 500 logged');
    assert.match(inst.siodLog(), /callback event .*bad answer/);
  } finally {
    closeAll(s);
  }
});

test('the queue is bounded: events past --callback-queue are acked "overloaded" at once', { timeout: 20000 }, async () => {
  const s = await good();
  try {
    const slow = ackOf(s, 'slow', [2], 10000);     // in flight until the timeout
    await sleep(100);
    const acks = [];
    for (let i = 0; i < QUEUE + 2; i++) acks.push(ackOf(s, 'echo', [i], 10000));
    const got = await Promise.all(acks);
    assert.deepEqual(got.slice(0, QUEUE), [...Array(QUEUE).keys()].map((i) => [i]));
    for (const [e] of got.slice(QUEUE)) assert.equal(e.error.code, 'overloaded');
    assert.equal((await slow)[0].error.code, 'timeout');
  } finally {
    closeAll(s);
  }
});

test('answers reach rooms, others but the sender, and set socket data; "disconnect" in an answer disconnects', { timeout: 20000 }, async () => {
  const [A, B, C] = await Promise.all([good(), good(), sioConnect(inst, '/', { extraHeaders: { cookie: await sessionCookie() } })]);
  try {
    assert.deepEqual(await ackOf(B, 'room', ['r1']), [true]);
    assert.deepEqual(await ackOf(A, 'room', ['r1']), [true]);
    assert.equal((await A.rec.next('in-room'))[0], A.id);
    await B.rec.until(() => B.rec.all('in-room').some(([id]) => id === A.id), 5000, 'B: A in the room');
    // to everyone but A, except room "vip" (A and B, which the token put there)
    assert.deepEqual(await ackOf(A, 'nobody'), [true]);
    A.emit('tell-others', 'psst');
    assert.deepEqual(await C.rec.next('told'), ['psst']);
    assert.deepEqual(await ackOf(C, 'set', [{ n: 1 }]), [true]);
    assert.deepEqual((await ackOf(C, 'whoami'))[0], { n: 1 });
    await sleep(100);
    assert.equal(A.rec.all('told').length + B.rec.all('told').length, 0);
    const gone = once(A, 'disconnect');
    assert.deepEqual(await ackOf(A, 'bye'), ['bye']);
    assert.equal((await gone)[0], 'io server disconnect');
  } finally {
    closeAll(A, B, C);
  }
});

async function sessionCookie() {
  const r = await request('POST', inst.url('/session.php'));
  return String(r.headers['set-cookie']).split(';')[0];
}

test('the disconnect callback sees the reason, the socket\'s data and its rooms', { timeout: 20000 }, async () => {
  const [A, B] = await Promise.all([good(), good()]);
  try {
    assert.deepEqual(await ackOf(A, 'room', ['r2']), [true]);
    const aid = A.id;
    A.disconnect();
    let left;
    await B.rec.until(() => (left = B.rec.all('left').find(([l]) => l.id === aid)), 5000, '"left" for A');
    const [l] = left;
    assert.equal(l.reason, 'client namespace disconnect');
    assert.equal(l.data.user, 'by-token');
    assert.deepEqual([...l.rooms].sort(), [aid, 'r2', 'vip'].sort());
  } finally {
    closeAll(A, B);
  }
});

test('a pattern\'s dynamic namespaces: without a connect callback every client is let in; events carry the child\'s name', { timeout: 20000 }, async () => {
  const s = await sioConnect(inst, '/dyn-7');
  try {
    const [data, rooms, nsp] = await ackOf(s, 'whoami');
    assert.equal(data, null);
    assert.deepEqual(rooms, [s.id]);
    assert.equal(nsp, '/dyn-7');
  } finally {
    closeAll(s);
  }
});

test('callbacks reuse kept-alive connections to the backend', { timeout: 20000 }, async () => {
  const s = await good();
  try {
    for (let i = 0; i < 5; i++) assert.deepEqual(await ackOf(s, 'echo', [i]), [i]);
  } finally {
    closeAll(s);
  }
  const log = fs.readFileSync(path.join(inst.rundir, 'logs', 'callbacks_log'), 'utf8');
  const reused = log.split('\n').filter((l) => /^[1-9]\d* POST \/socketio-handlers\/probe\.php$/.test(l));
  assert.ok(reused.length >= 4, `callbacks on a connection used before: ${reused.length}\n${log.slice(-500)}`);
});

test('siod refuses bad callback options at startup (a usage error, exit 2, saying why)', () => {
  const bad = [
    [['--callback=/,connect'], /expected NSP,KIND,URL/],
    [['--callback=/,talk,http://x/'], /KIND is connect, event or disconnect/],
    [['--callback=/,event,ftp://x/'], /http:\/\/ or https:\/\//],
    [['--callback=~(,event,http://x/'], /not a POSIX extended regular expression/],
    [['--callback=/,event,http://a/', '--callback=/,event,http://b/'], /a second event callback for \//],
    [['--callback-timeout=0'], /expected 1\.\.3600000/],
    [['--callback-queue=x'], /expected 1\.\.100000/],
    [['-a', 'echo-engine', '--callback=/,event,http://a/'], /cannot be combined/],
  ];
  for (const [args, why] of bad) {
    const r = spawnSync(path.join(BUILD, 'siod'), ['-s', '/nonexistent/siod.sock', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
});

// last: it stops siod
test('siod stops cleanly with callbacks in flight, queued, and a connect waiting for its answer', { timeout: 20000 }, async () => {
  const s = await good();
  const pending = sioSocket(inst, '/', { auth: { token: 'slow' } });
  try {
    s.emit('slow', 2);
    for (let i = 0; i < QUEUE; i++) s.emit('echo', i);
    s.emit('leave-me-queued');
    await sleep(300);
    assert.equal(await inst.stopSiod(), 0, inst.logs());
    assert.doesNotMatch(inst.siodLog(), /ERROR: (Address|Leak)Sanitizer|runtime error:/);
  } finally {
    closeAll(s, pending);
  }
});

// The HTTP emit API (SetHandler socketio-emit, docs/emit-api.md) through
// httpd + mod_socketio + siod (testkit app) with the official
// socket.io-client: emits to everyone, rooms and exceptions, with acks
// (answers gathered, a timeout), fetchSockets with rooms, data and
// handshake, socketsJoin/socketsLeave/disconnectSockets; the refusals
// (method, media type, JSON, reserved names, unknown namespace, size,
// Apache's own access control); and the PHP client shipped in conf/php,
// run by the real php-cli.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  startInstance, sioConnect, closeAll, ackOf, sleep, request, REPO,
} from './harness.mjs';

let inst;
before(async () => {
  inst = await startInstance('emit-api', {
    app: 'testkit', logLevel: 'warn socketio:info',
    extraConf: [
      '<Location /emit-closed>',
      '    SetHandler socketio-emit',
      '    Require all denied',
      '</Location>',
    ].join('\n'),
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

const post = (body, { path: p = '/emit', type = 'application/json' } = {}) =>
  request('POST', inst.url(p), {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: type ? { 'Content-Type': type } : {},
  });
const api = async (body) => {
  const res = await post(body);
  return { status: res.status, json: JSON.parse(res.body), type: res.headers['content-type'] };
};
const join = async (s, rooms) => assert.deepEqual(await ackOf(s, 'join', [rooms]), [true]);

/** Emits `event` through the API and returns the names of the clients that got it. */
async function reached(socks, names, req) {
  const tag = `t${Math.random()}`;
  const r = await api({ ...req, event: 'm', args: [tag] });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json, { ok: true });
  // a marker to everyone after it: each client's stream is ordered
  assert.equal((await api({ event: 'mark', args: [tag] })).status, 200);
  await Promise.all(socks.map((s) => s.rec.until(() => s.rec.all('mark').some((a) => a[0] === tag), 5000, 'marker')));
  return socks.filter((s) => s.rec.all('m').some((a) => a[0] === tag)).map((s) => names.get(s)).sort().join('');
}

test('emit: everyone, rooms, except, volatile, arguments as sent', { timeout: 30000 }, async () => {
  const socks = await Promise.all([0, 1, 2].map((i) =>
    sioConnect(inst, '/', { transports: i === 1 ? ['polling'] : ['websocket'] })));
  const [A, B, C] = socks;
  const names = new Map([[A, 'A'], [B, 'B'], [C, 'C']]);
  try {
    await join(A, 'r1');
    await join(B, ['r1', 'r2']);
    await join(C, 'r2');
    assert.equal(await reached(socks, names, {}), 'ABC');
    assert.equal(await reached(socks, names, { rooms: 'r1' }), 'AB');
    assert.equal(await reached(socks, names, { rooms: ['r1', 'r2'], except: 'r2' }), 'A');
    assert.equal(await reached(socks, names, { except: ['r1'] }), 'C');
    assert.equal(await reached(socks, names, { rooms: 'nobody' }), '');
    assert.equal(await reached(socks, names, { rooms: C.id, volatile: true }), 'C');

    const args = [{ text: 'héllo', n: 1.5, list: [null, true, 'x/y'] }, 'two', 3];
    const got = A.rec.until(() => A.rec.all('news').length > 0, 5000, 'news');
    assert.equal((await api({ event: 'news', args, rooms: A.id })).status, 200);
    await got;
    assert.deepEqual(A.rec.all('news')[0], args);
  } finally {
    closeAll(...socks);
  }
});

test('emit with acks: every answer, and a timeout', { timeout: 30000 }, async () => {
  const socks = await Promise.all([0, 1].map(() => sioConnect(inst, '/')));
  const [A, B] = socks;
  try {
    await join(A, 'ack-room');
    await join(B, 'ack-room');
    A.on('ask', (x, cb) => cb({ from: 'A', x }));
    B.on('ask', (x, cb) => cb({ from: 'B', x }));
    let r = await api({ event: 'ask', args: [7], rooms: 'ack-room', ack: true, timeout: 3000 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.count, 2);
    assert.equal(r.json.timedOut, false);
    assert.deepEqual(r.json.responses.map((x) => x.from).sort(), ['A', 'B']);
    assert.ok(r.json.responses.every((x) => x.x === 7));

    // a client that never answers: the answer comes at the timeout
    const C = await sioConnect(inst, '/');
    socks.push(C);
    await join(C, 'ack-room');
    const t0 = Date.now();
    r = await api({ event: 'ask', args: [8], rooms: 'ack-room', ack: true, timeout: 500 });
    assert.equal(r.status, 200);
    assert.equal(r.json.timedOut, true);
    assert.equal(r.json.responses.length, 2);
    assert.ok(Date.now() - t0 >= 450, 'waited for the timeout');
  } finally {
    closeAll(...socks);
  }
});

test('fetchSockets, socketsJoin, socketsLeave, disconnectSockets', { timeout: 30000 }, async () => {
  const socks = await Promise.all([0, 1].map(() => sioConnect(inst, '/', { query: { who: 'fetch' } })));
  const [A, B] = socks;
  try {
    await join(A, 'f1');
    assert.deepEqual(await ackOf(A, 'set-data', [{ user: 'alice', n: 1 }]), [true]);
    let r = await api({ op: 'fetchSockets', rooms: 'f1' });
    assert.equal(r.status, 200);
    assert.equal(r.json.sockets.length, 1);
    const [s] = r.json.sockets;
    assert.equal(s.id, A.id);
    assert.deepEqual(s.rooms.sort(), [A.id, 'f1'].sort());
    assert.deepEqual(s.data, { user: 'alice', n: 1 });
    assert.equal(s.handshake.query.who, 'fetch');
    assert.ok(s.handshake.headers.host, 'handshake headers');

    // B joins f1 and f2 by the API, then leaves f1
    r = await api({ op: 'socketsJoin', rooms: B.id, room: ['f1', 'f2'] });
    assert.deepEqual(r.json, { ok: true });
    assert.deepEqual((await ackOf(B, 'rooms'))[0].sort(), [B.id, 'f1', 'f2'].sort());
    r = await api({ op: 'socketsLeave', rooms: 'f2', room: 'f1' });
    assert.deepEqual(r.json, { ok: true });
    assert.deepEqual((await ackOf(B, 'rooms'))[0].sort(), [B.id, 'f2'].sort());
    assert.deepEqual((await ackOf(A, 'rooms'))[0].sort(), [A.id, 'f1'].sort());
    r = await api({ op: 'fetchSockets', rooms: ['f1', 'f2'] });
    assert.deepEqual(r.json.sockets.map((x) => x.id).sort(), [A.id, B.id].sort());

    // disconnectSockets: only the selection, with the server's reason
    const gone = new Promise((resolve) => B.once('disconnect', resolve));
    r = await api({ op: 'disconnectSockets', rooms: 'f2' });
    assert.deepEqual(r.json, { ok: true });
    assert.equal(await gone, 'io server disconnect');
    assert.equal(A.connected, true);
  } finally {
    closeAll(...socks);
  }
});

test('refusals: method, media type, JSON, names, namespace, size, access control', { timeout: 30000 }, async () => {
  let res = await request('GET', inst.url('/emit'));
  assert.equal(res.status, 405);
  assert.match(JSON.parse(res.body).error, /POST/);
  res = await post({ event: 'x' }, { type: 'text/plain' });
  assert.equal(res.status, 415);
  const cases = [
    ['not json', 400, /not one JSON object/],
    ['{"event":"x"} trailing', 400, /not one JSON object/],
    ['[1,2]', 400, /must be a JSON object/],
    ['{}', 400, /"event" must be/],
    ['{"event":""}', 400, /"event" must be/],
    ['{"event":"connect"}', 400, /reserved event name/],
    ['{"event":"disconnecting"}', 400, /reserved event name/],
    ['{"event":"x","args":{}}', 400, /"args" must be an array/],
    ['{"event":"x","rooms":[1]}', 400, /"rooms" and "except"/],
    ['{"event":"x","volatile":"yes"}', 400, /booleans/],
    ['{"event":"x","ack":true,"timeout":0}', 400, /"timeout"/],
    ['{"event":"x","nsp":"chat"}', 400, /"nsp"/],
    ['{"event":"x","nsp":"/nope"}', 404, /no namespace \/nope/],
    ['{"op":"explode"}', 400, /unknown "op"/],
    ['{"op":"socketsJoin"}', 400, /"room" must be/],
    ['{"op":"disconnectSockets","close":1}', 400, /"close" must be a boolean/],
    ['{"op":"fetchSockets","local":"yes"}', 400, /"local" must be a boolean/],
    ['{"op":"serverSideEmit","event":"x"}', 400, /cluster/],
  ];
  for (const [body, status, re] of cases) {
    const r = await api(body);
    assert.equal(r.status, status, `${body}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.ok, false);
    assert.match(r.json.error, re, body);
    assert.match(r.type, /^application\/json/);
  }
  // a body over SocketIOMaxPayload (1,000,000 bytes by default)
  res = await post(JSON.stringify({ event: 'x', args: ['y'.repeat(1100000)] }));
  assert.equal(res.status, 413);
  // Apache's access control decides before the handler
  res = await post({ event: 'x' }, { path: '/emit-closed' });
  assert.equal(res.status, 403);
  // trailing whitespace is fine (what a PHP heredoc leaves)
  assert.equal((await api('{"event":"ok"}\n')).status, 200);
  // the server is still fine
  const s = await sioConnect(inst, '/');
  assert.deepEqual(await ackOf(s, 'echo', [1]), [1]);
  closeAll(s);
});

test('the PHP client (conf/php/SocketIOEmitter.php) under php-cli', { timeout: 30000 }, async () => {
  const socks = await Promise.all([0, 1].map(() => sioConnect(inst, '/')));
  const [A, B] = socks;
  try {
    await join(A, 'php-room');
    B.on('ask', (cb) => cb('B says hi'));
    const script = path.join(inst.rundir, 'emit.php');
    fs.writeFileSync(script, `<?php
require ${JSON.stringify(path.join(REPO, 'conf/php/SocketIOEmitter.php'))};
$io = new SocketIOEmitter(${JSON.stringify(inst.url('/emit'))});
$io->to('php-room')->emit('from-php', ['text' => 'hi'], 2);
$acks = $io->to(${JSON.stringify(B.id)})->emitWithAck(3000, 'ask');
$in = array_map(fn($s) => $s['id'], $io->in('php-room')->fetchSockets());
$io->in(${JSON.stringify(B.id)})->socketsJoin('php-room');
$both = count($io->in('php-room')->fetchSockets());
try { $io->of('/nope')->emit('x'); $err = 'none'; }
catch (SocketIOEmitterException $e) { $err = $e->status . ' ' . $e->getMessage(); }
echo json_encode(['acks' => $acks, 'in' => $in, 'both' => $both, 'err' => $err]);
`);
    const got = A.rec.until(() => A.rec.all('from-php').length > 0, 5000, 'from-php');
    const out = await new Promise((resolve, reject) => execFile('php', [script], { timeout: 20000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))));
    await got;
    assert.deepEqual(A.rec.all('from-php')[0], [{ text: 'hi' }, 2]);
    assert.equal(B.rec.all('from-php').length, 0);
    const r = JSON.parse(out);
    assert.deepEqual(r.acks, { responses: ['B says hi'], count: 1, timedOut: false });
    assert.deepEqual(r.in, [A.id]);
    assert.equal(r.both, 2);
    assert.equal(r.err, '404 no namespace /nope is served here');
  } finally {
    closeAll(...socks);
  }
});

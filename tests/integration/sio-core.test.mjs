// Socket.IO through httpd + mod_socketio + siod with the official
// socket.io-client and the test app tests/apps/testkit.c: the three ways to
// connect (polling, WebSocket, upgrade), several namespaces over one
// connection, acknowledgements both ways with timeouts, binary data nested
// in objects and arrays both ways, the handshake as the app sees it,
// connect and event middleware, and dynamic namespaces.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Manager } from 'socket.io-client';
import {
  startInstance, sioSocket, sioConnect, sioConnected, Recorder, nspUrl, once, closeAll, ackOf,
  withTimeout, waitFor, sleep,
} from './harness.mjs';

let inst;
before(async () => {
  inst = await startInstance('sio-core', { app: 'testkit', pingInterval: 5000, pingTimeout: 5000 });
});
// a moment for the clients' last requests (close packets) to finish first
after(async () => { await sleep(200); await inst?.stop(); });

const whoami = async (s, opts = {}) => (await ackOf(s, 'whoami', [opts]))[0];

/** A nested value with buffers in objects and arrays, and its size in bytes. */
function nested(seed) {
  const buf = (n, k) => Buffer.from(Array.from({ length: n }, (_, i) => (i * k + seed) & 255));
  return {
    text: `seed ${seed} é€😀`,
    top: buf(16, 3),
    list: [buf(1, 5), { deep: buf(300, 7), also: [buf(2, 11), 'x', 42] }, null],
    empty: {},
  };
}

async function echoRoundTrip(s) {
  assert.deepEqual(await ackOf(s, 'echo', [1, 'two', { three: [3] }, true, null]),
    [1, 'two', { three: [3] }, true, null]);
  const v = nested(s.id.charCodeAt(0));
  const big = Buffer.alloc(100 * 1024, 0x5a);
  assert.deepEqual(await ackOf(s, 'echo', [v, big]), [v, big]);
  // and as an event the server emits back (not an ack)
  s.emit('echo', 'evt', v);
  assert.deepEqual(await s.rec.next('echo'), ['evt', v]);
}

for (const [name, opts, want] of [
  ['polling only', { transports: ['polling'] }, 'polling'],
  ['websocket only', { transports: ['websocket'] }, 'websocket'],
  ['polling upgraded to websocket', {}, 'websocket'],
]) {
  test(`transports: ${name}: connect, echo text and binary, the server sees ${want}`, { timeout: 30000 }, async () => {
    const s = sioSocket(inst, '/', opts);
    const upgraded = want === 'websocket' && !opts.transports
      ? withTimeout(new Promise((r) => s.io.on('open', () => s.io.engine.once('upgrade', r))), 10000, 'engine upgrade')
      : null;
    try {
      await sioConnected(inst, s);
      const [welcome] = await s.rec.next('welcome');
      assert.deepEqual(welcome, { id: s.id, nsp: '/' });
      assert.match(s.id, /^[A-Za-z0-9_-]{20}$/);
      if (upgraded) await upgraded;
      assert.equal(s.io.engine.transport.name, want);
      await echoRoundTrip(s);
      assert.equal((await whoami(s)).transport, want);
    } finally {
      closeAll(s);
    }
  });
}

test('namespaces /a and /b multiplexed over one Engine.IO connection (one Manager)', { timeout: 30000 }, async () => {
  // polling: each connection's handshake URL carries its own t= token
  const mgr = new Manager(nspUrl(inst, ''), { path: '/socket.io/', reconnection: false, transports: ['polling'] });
  const a = mgr.socket('/a');
  const b = mgr.socket('/b');
  a.rec = new Recorder(a);
  b.rec = new Recorder(b);
  const other = sioSocket(inst, '/a', { transports: ['polling'] });
  try {
    await Promise.all([sioConnected(inst, a), sioConnected(inst, b), sioConnected(inst, other)]);
    assert.equal(a.io, b.io);
    const engineId = mgr.engine.id;
    assert.notEqual(other.io.engine.id, engineId, 'forceNew client has its own connection');
    assert.deepEqual((await a.rec.next('welcome'))[0], { id: a.id, nsp: '/a' });
    assert.deepEqual((await b.rec.next('welcome'))[0], { id: b.id, nsp: '/b' });
    const [wa, wb, wo] = [await whoami(a), await whoami(b), await whoami(other)];
    assert.equal(wa.nsp, '/a');
    assert.equal(wb.nsp, '/b');
    assert.notEqual(wa.id, wb.id);
    // one server-side connection: both sockets have its handshake request
    assert.match(wa.url, /[?&]t=/);
    assert.equal(wa.url, wb.url);
    assert.notEqual(wo.url, wa.url);

    // the server disconnects /a only: /b and the connection stay
    const aGone = once(a, 'disconnect');
    a.emit('kick-me', {});
    assert.equal((await aGone)[0], 'io server disconnect');
    assert.deepEqual(await ackOf(b, 'echo', ['still here']), ['still here']);
    assert.equal(mgr.engine.id, engineId);
    // /a joins again over the same connection
    a.connect();
    await sioConnected(inst, a);
    assert.equal(mgr.engine.id, engineId);
    assert.equal((await whoami(a)).url, wb.url);

    // close=true from /b ends the whole connection, /a with it (the
    // reasons the client reports are checked in sio-rooms); the other
    // client is untouched. As from Node, the namespaces hear it in the
    // order their sockets connected: /b first (/a joined again after it)
    const order = [];
    a.once('disconnect', () => order.push('/a'));
    b.once('disconnect', () => order.push('/b'));
    const reasons = Promise.all([once(a, 'disconnect'), once(b, 'disconnect')]);
    b.emit('kick-me', { close: true });
    await reasons;
    assert.deepEqual(order, ['/b', '/a'], 'DISCONNECTs in the order the sockets connected');
    await waitFor(() => mgr.engine.readyState === 'closed', 5000, 'the shared connection to close');
    assert.deepEqual(await ackOf(other, 'echo', [1]), [1]);
  } finally {
    closeAll(a, b, other);
  }
});

test('client → server acks: emitWithAck, timeout() errors, an ack the server holds and answers late', { timeout: 30000 }, async () => {
  const s = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    assert.equal(await s.emitWithAck('echo', 'first'), 'first');
    assert.deepEqual(await s.timeout(2000).emitWithAck('echo', { n: 1 }), { n: 1 });
    // an event the app never acknowledges
    let t0 = Date.now();
    await assert.rejects(s.timeout(200).emitWithAck('no-such-event', 1), /timed out|timeout/i);
    assert.ok(Date.now() - t0 >= 190, 'ack timeout fired early');
    // the app holds the ack 600 ms: a 150 ms timeout fails, 3 s succeeds
    t0 = Date.now();
    await assert.rejects(s.timeout(150).emitWithAck('slow-echo', { delay: 600 }), /timed out|timeout/i);
    t0 = Date.now();
    assert.equal(await s.timeout(3000).emitWithAck('slow-echo', { delay: 600 }), 'late');
    assert.ok(Date.now() - t0 >= 550, `held ack answered after ${Date.now() - t0} ms`);
    // callback style with several ack arguments
    assert.deepEqual(await ackOf(s, 'echo', ['a', 2, [3]]), ['a', 2, [3]]);
  } finally {
    closeAll(s);
  }
});

test('server → client acks: answered (binary too), timed out, and failed by a disconnect', { timeout: 30000 }, async () => {
  const s = await sioConnect(inst, '/', { transports: ['polling'] });
  const observer = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    // answered, with a buffer in the answer
    s.once('ask', (...args) => {
      const cb = args.pop();
      cb({ got: args, bin: Buffer.from([1, 2, 3]) }, 'second');
    });
    assert.deepEqual(await ackOf(s, 'server-ack', [{ timeout: 2000, args: ['q', 1] }]), [true]);
    const [ok] = await s.rec.next('server-ack-result');
    assert.deepEqual(ok, { err: null, args: [{ got: ['q', 1], bin: Buffer.from([1, 2, 3]) }, 'second'] });

    // not answered within 300 ms: the server's callback gets a timeout
    s.once('ask', () => { /* never answers */ });
    const t0 = Date.now();
    s.emit('server-ack', { timeout: 300, args: [] });
    const [late] = await s.rec.next('server-ack-result');
    const waited = Date.now() - t0;
    assert.equal(late.err, 'timeout');
    assert.ok(waited >= 280 && waited < 3000, `server ack timeout after ${waited} ms`);

    // no timeout, and the client leaves without answering: disconnected,
    // reported to the observer
    s.once('ask', () => s.disconnect());
    s.emit('server-ack', { timeout: 0, reportTo: observer.id });
    const [gone] = await observer.rec.next('server-ack-result', 10000);
    assert.equal(gone.err, 'disconnected');
  } finally {
    closeAll(s, observer);
  }
});

test('binary both ways: nested buffers via events and acks, server-made buffers, over polling and websocket', { timeout: 30000 }, async () => {
  for (const transports of [['polling'], ['websocket']]) {
    const s = await sioConnect(inst, '/', { transports });
    try {
      const v = nested(7);
      const arr = [Buffer.from('a'), [Buffer.from([0, 255]), { k: Buffer.alloc(0) }]];
      assert.deepEqual(await ackOf(s, 'emit-back', [{ event: 'back', args: [v, arr, 'tail'] }]), [0]);
      assert.deepEqual(await s.rec.next('back'), [v, arr, 'tail']);

      const b1 = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const b3 = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 255));
      const want = [{ a: Buffer.from([0, 1, 2, 255]), list: [b1, { deep: Buffer.from([0x2a]) }], n: 1 }, b3];
      s.emit('bin-gen');
      assert.deepEqual(await s.rec.next('bin'), want, `${transports}: bin event`);
      assert.deepEqual(await ackOf(s, 'bin-gen'), want, `${transports}: bin ack`);
      // Uint8Array / ArrayBuffer arrive as Buffers
      const u8 = new Uint8Array([9, 8, 7]);
      const [back] = await ackOf(s, 'echo', [{ u8, ab: u8.buffer }]);
      assert.deepEqual(back, { u8: Buffer.from([9, 8, 7]), ab: Buffer.from([9, 8, 7]) });
    } finally {
      closeAll(s);
    }
  }
});

test('handshake: whoami reports headers, query, address, secure, user, auth, url and time', { timeout: 20000 }, async () => {
  const t0 = Date.now();
  const s = await sioConnect(inst, '/', {
    transports: ['polling'],
    auth: { name: 'ann', n: [1, 2] },
    query: { q: 'v w', 'k€': 'ü' },
    extraHeaders: { 'X-Test': 'hello', 'X-Multi': 'one' },
  });
  try {
    const w = await whoami(s, { headers: ['x-test', 'host', 'x-absent'], query: ['q', 'k€', 'EIO', 'transport', 'nope'] });
    assert.equal(w.id, s.id);
    assert.equal(w.nsp, '/');
    assert.deepEqual(w.headers, { 'x-test': 'hello', host: `127.0.0.1:${inst.port}`, 'x-absent': null });
    assert.deepEqual(w.query, { q: 'v w', 'k€': 'ü', EIO: '4', transport: 'polling', nope: null });
    assert.equal(w.address, '127.0.0.1');
    assert.equal(w.secure, false);
    assert.equal(w.xdomain, false);
    assert.equal(w.user, null);
    assert.deepEqual(w.auth, { name: 'ann', n: [1, 2] });
    assert.match(w.url, /^\/socket\.io\/\?/);
    assert.ok(w.url.includes('q=v%20w') || w.url.includes('q=v+w'), w.url);
    assert.ok(w.issued >= t0 - 2000 && w.issued <= Date.now() + 2000, `issued ${w.issued}`);
    assert.equal(new Date(w.time).getTime(), Math.floor(w.issued / 1000) * 1000, `time ${w.time}`);
    // the reference's whole object
    const h = w.handshake;
    assert.deepEqual(Object.keys(h).filter((k) => k !== 'user').sort(),
      ['address', 'auth', 'headers', 'issued', 'query', 'secure', 'time', 'url', 'xdomain']);
    assert.equal(h.headers['x-multi'], 'one');
    assert.equal(h.query.q, 'v w');
    assert.deepEqual(h.auth, w.auth);
  } finally {
    closeAll(s);
  }
});

test('connect middleware: refusal with message and data, late acceptance and late refusal, unknown namespace', { timeout: 20000 }, async () => {
  const bad = sioSocket(inst, '/', { auth: { token: 'bad' } });
  const [err] = await once(bad, 'connect_error', 10000);
  assert.equal(err.message, 'not authorized');
  assert.deepEqual(err.data, { code: 42 });
  assert.equal(bad.connected, false);
  assert.equal(bad.active, false, 'a middleware refusal is final (no retry)');
  closeAll(bad);

  const t0 = Date.now();
  const slow = await sioConnect(inst, '/a', { auth: { token: 'good', delay: 400 } });
  assert.ok(Date.now() - t0 >= 350, `connected after ${Date.now() - t0} ms despite a 400 ms middleware`);
  assert.equal(await slow.emitWithAck('echo', 'ok'), 'ok');
  closeAll(slow);

  const late = sioSocket(inst, '/', { auth: { delay: 200, reject: true } });
  const [lerr] = await once(late, 'connect_error', 10000);
  assert.equal(lerr.message, 'late no');
  assert.equal(lerr.data, undefined);
  closeAll(late);

  const nobody = sioSocket(inst, '/nobody-serves-this');
  const [nerr] = await once(nobody, 'connect_error', 10000);
  assert.equal(nerr.message, 'Invalid namespace');
  closeAll(nobody);
});

test('event middleware drops "forbidden" (no ack, app error event), catch-all counts every event', { timeout: 20000 }, async () => {
  const s = await sioConnect(inst, '/b', { transports: ['websocket'] });
  try {
    s.emit('x', 1);
    s.emit('y');
    await assert.rejects(s.timeout(300).emitWithAck('forbidden', 'payload'), /timed out|timeout/i);
    const [mw] = await s.rec.next('mw-error');
    assert.deepEqual(mw, { message: 'forbidden event' });
    assert.deepEqual((await ackOf(s, 'count'))[0], { any: 4, errors: 1 });
    // the connection is fine afterwards
    assert.equal(await s.emitWithAck('echo', 'after'), 'after');
  } finally {
    closeAll(s);
  }
});

test('dynamic namespaces: created on demand, isolated, reachable through the pattern, removed when empty', { timeout: 30000 }, async () => {
  const d1a = await sioConnect(inst, '/dyn-1', { transports: ['websocket'] });
  const d1b = await sioConnect(inst, '/dyn-1', { transports: ['polling'] });
  const d2 = await sioConnect(inst, '/dyn-22');
  const root = await sioConnect(inst, '/');
  try {
    assert.deepEqual((await d1a.rec.next('welcome'))[0], { id: d1a.id, nsp: '/dyn-1' });
    assert.equal((await whoami(d2)).nsp, '/dyn-22');
    assert.deepEqual(await ackOf(root, 'nsp-count', ['/dyn-1']), [2]);
    assert.deepEqual(await ackOf(root, 'nsp-count', ['/dyn-22']), [1]);

    const bad = sioSocket(inst, '/dyn-x');
    assert.equal((await once(bad, 'connect_error', 10000))[0].message, 'Invalid namespace');
    closeAll(bad);

    // a namespace-wide broadcast stays in its namespace
    assert.deepEqual(await ackOf(d1a, 'to', [{ event: 'n1', args: ['only dyn-1'] }]), [true]);
    assert.deepEqual(await d1a.rec.next('n1'), ['only dyn-1']);
    assert.deepEqual(await d1b.rec.next('n1'), ['only dyn-1']);
    // the pattern namespace reaches every child
    assert.deepEqual(await ackOf(root, 'dyn-all', [{ event: 'all', args: [7] }]), [true]);
    for (const s of [d1a, d1b, d2]) assert.deepEqual(await s.rec.next('all'), [7]);
    assert.equal(d2.rec.all('n1').length, 0, '/dyn-22 got /dyn-1\'s broadcast');
    assert.equal(root.rec.all('all').length, 0, '/ got the dynamic broadcast');

    // the last socket leaves: the namespace goes; a newcomer recreates it
    closeAll(d1a, d1b);
    await waitFor(async () => (await ackOf(root, 'nsp-count', ['/dyn-1']))[0] === null, 5000, '/dyn-1 to be removed');
    const again = await sioConnect(inst, '/dyn-1');
    assert.deepEqual(await ackOf(root, 'nsp-count', ['/dyn-1']), [1]);
    closeAll(again);
  } finally {
    closeAll(d1a, d1b, d2, root);
  }
  await sleep(50);
});

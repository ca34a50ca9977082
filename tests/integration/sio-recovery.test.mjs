// Connection state recovery (siod --recovery; recoverykit app) with the
// official socket.io-client: a client whose transport is lost, or whose
// WebSocket a gracefully stopping httpd child closes (1001), comes back
// with socket.recovered true, the same id, rooms and data, and every event
// emitted while it was away (single emits and broadcasts, in order,
// exactly once); volatile events and events with acks are not replayed;
// past the window, or once the packet log dropped its offset, it gets a
// fresh session (recovered false) and siod carries on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startInstance, sioSocket, sioConnect, sioConnected, closeAll, ackOf, withTimeout, waitFor, sleep, request,
} from './harness.mjs';
import { graceful } from './scale-lib.mjs';
import { execFileSync } from 'node:child_process';

/** `apache2 -k restart`: the parent stops its children at once and starts new ones. */
function restart(inst) {
  const env = { ...process.env };
  if (process.env.SAN === '1') {
    env.LD_PRELOAD = execFileSync(process.env.CC || 'gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
    env.ASAN_OPTIONS = 'detect_leaks=0';
  }
  execFileSync(process.env.HTTPD || '/usr/sbin/apache2', ['-f', inst.paths.CONF, '-k', 'restart'], { stdio: 'pipe', env });
}

const WINDOW = 3000;
const LOG_BYTES = 300000;
let inst;
before(async () => {
  inst = await startInstance('sio-recovery', {
    app: 'recoverykit', pingInterval: 2000, pingTimeout: 2000,
    siodExtraArgs: [`--recovery=${WINDOW}`, `--max-recovery-log-bytes=${LOG_BYTES}`],
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

const RECONNECT = { reconnection: true, reconnectionDelay: 1000, reconnectionDelayMax: 1000, randomizationFactor: 0 };

/** Resolves once s has disconnected and connected again. */
function cycle(s, what, ms = 20000) {
  return withTimeout(new Promise((resolve) => {
    s.once('disconnect', (reason) => s.once('connect', () => resolve(reason)));
  }), ms, `${what}: disconnect and reconnect\n${inst.logs(10)}`);
}

/** Cuts s's transport: a WebSocket's TCP connection dies, a polling client closes its Engine.IO session. */
function cut(s) {
  const t = s.io.engine.transport;
  if (t.name === 'websocket' && t.ws?._socket) t.ws._socket.destroy();
  else s.io.engine.close();
}

/** The first argument of every `event` the socket's recorder has. */
function firsts(s, event) {
  return s.rec.all(event).map((a) => a[0]);
}

for (const transports of [['websocket'], ['polling']]) {
  test(`${transports[0]}: transport lost, back within the window: recovered, same id, rooms, data, ` +
    'missed single emits and broadcasts in order, exactly once; volatile and ack events not replayed',
  { timeout: 30000 }, async () => {
    const s = await sioConnect(inst, '/', { ...RECONNECT, transports });
    const witness = await sioConnect(inst, '/', { transports: ['websocket'] });
    try {
      const [welcome] = await s.rec.next('welcome');
      assert.equal(welcome.recovered, false);
      assert.equal(s.recovered, false);
      assert.equal(typeof s.rec.all('welcome')[0].at(-1), 'string', 'an offset on a plain emit');
      assert.deepEqual(await ackOf(s, 'join', ['r1']), [true]);
      assert.deepEqual(await ackOf(witness, 'join', ['r1']), [true]);
      assert.deepEqual(await ackOf(s, 'set-data', [{ user: 'ann', n: 1 }]), [true]);
      const [me] = await ackOf(s, 'whoami');
      assert.equal(me.mw, true);
      const id = s.id;

      // emitted while the client is away, in this order
      for (const [delay, opts] of [
        [300, { to: 'me', event: 'm', n: 3 }],
        [320, { to: 'me', event: 'vol', n: 2, volatile: true }],
        [340, { to: 'me', event: 'acked', n: 2, withAck: true }],
        [360, { to: 'room:r1', event: 'r', n: 3 }],
        [380, { to: 'room:r1', event: 'rvol', n: 2, volatile: true }],
        [390, { to: 'me', event: 'bin', n: 2, binary: true }],
        [400, { to: 'all', event: 'a', n: 2 }],
        [420, { to: 'room:elsewhere', event: 'no', n: 1 }],
      ]) {
        assert.deepEqual(await ackOf(s, 'later', [{ delay, ...opts }]), [true]);
      }
      const back = cycle(s, 'client');
      cut(s);
      await back;
      await sleep(300);
      assert.equal(s.recovered, true, `recovered\n${inst.logs(10)}`);
      assert.equal(s.id, id, 'the same id');
      const [who] = await ackOf(s, 'whoami');
      assert.equal(who.id, id);
      assert.equal(who.recovered, true);
      assert.deepEqual(who.rooms.sort(), [id, 'r1'].sort(), 'the same rooms');
      assert.deepEqual(who.data, { user: 'ann', n: 1 }, 'the same data');
      assert.equal(who.mw, false, 'connect middleware skipped for a recovered socket');
      assert.equal(s.rec.all('welcome').length, 2);
      assert.equal(s.rec.all('welcome')[1][0].recovered, true, 'on_connection sees it recovered');

      const order = s.rec.log.map((e) => e.event).filter((e) => ['m', 'r', 'bin', 'a', 'vol', 'rvol', 'acked', 'no'].includes(e));
      assert.deepEqual(order, ['m', 'm', 'm', 'r', 'r', 'r', 'bin', 'bin', 'a', 'a'], 'missed events in order, once each');
      assert.deepEqual(firsts(s, 'm'), [0, 1, 2]);
      assert.deepEqual(firsts(s, 'r'), [0, 1, 2]);
      assert.deepEqual(firsts(s, 'a'), [0, 1]);
      // a binary event keeps its buffer, the offset comes after the arguments
      assert.deepEqual(s.rec.all('bin').map(([b, i]) => [[...b], i]), [[[0, 1, 2], 0], [[1, 2, 3], 1]]);
      for (const args of s.rec.all('bin')) assert.equal(typeof args[2], 'string', 'bin: carries its offset');
      for (const ev of ['m', 'r', 'a']) {
        for (const args of s.rec.all(ev)) assert.equal(typeof args[1], 'string', `${ev}: carries its offset`);
      }
      // the witness stayed: it had the broadcasts live (volatile ones too)
      await witness.rec.count('a', 2);
      assert.deepEqual(firsts(witness, 'r'), [0, 1, 2]);

      // the socket goes on: later events arrive as usual
      assert.deepEqual(await ackOf(s, 'later', [{ delay: 0, to: 'room:r1', event: 'after', n: 1 }]), [true]);
      assert.deepEqual((await s.rec.next('after'))[0], 0);
    } finally {
      closeAll(s, witness);
    }
  });
}

test('an emit to the old socket object after the client is back reaches it (the socket by its id)', { timeout: 20000 }, async () => {
  const s = await sioConnect(inst, '/', { ...RECONNECT, transports: ['websocket'] });
  try {
    await s.rec.next('welcome');
    const back = cycle(s, 'client');
    // fires after the client is back (reconnection delay 1000 ms)
    assert.deepEqual(await ackOf(s, 'later', [{ delay: 2000, to: 'me', event: 'old', n: 2 }]), [true]);
    cut(s);
    await back;
    assert.equal(s.recovered, true);
    await s.rec.count('old', 2, 5000);
    assert.deepEqual(firsts(s, 'old'), [0, 1]);
  } finally {
    closeAll(s);
  }
});

test('polling: back on a new session before siod saw the old one end (its held poll cut, no close sent): ' +
  'recovered at once, same id and rooms, the old socket gone, missed events once', { timeout: 30000 }, async () => {
  const s = await sioConnect(inst, '/', { ...RECONNECT, reconnectionDelay: 200, reconnectionDelayMax: 200, transports: ['polling'] });
  try {
    await s.rec.next('welcome');
    assert.deepEqual(await ackOf(s, 'join', ['r3']), [true]);
    const id = s.id;
    const oldSid = s.io.engine.id;
    assert.deepEqual(await ackOf(s, 'later', [{ delay: 100, to: 'room:r3', event: 'gone', n: 2 }]), [true]);
    // its held poll is cut (as by a proxy or a recycled httpd child) and
    // the client gives its transport up without a word to the server:
    // siod would notice only at the ping timeout (4 s here)
    const back = cycle(s, 'client');
    const t = s.io.engine.transport;
    t.doClose = () => {};
    t.pollXhr.abort();
    await sleep(100);
    t.onError('poll cut', new Error('cut in the test'));
    await back;
    assert.notEqual(s.io.engine.id, oldSid, 'a new Engine.IO session');
    assert.equal(s.recovered, true, `recovered on the new session\n${inst.logs(10)}`);
    assert.equal(s.id, id, 'the same id');
    const [who] = await ackOf(s, 'whoami');
    assert.deepEqual(who.rooms.sort(), [id, 'r3'].sort(), 'the same rooms');
    await s.rec.count('gone', 2, 5000);
    assert.deepEqual(firsts(s, 'gone'), [0, 1], 'missed events once each');
    // one socket in the room: the old one left, not kept to its ping timeout
    const res = await request('POST', inst.url('/emit'), {
      body: JSON.stringify({ op: 'fetchSockets', rooms: ['r3'] }), headers: { 'Content-Type': 'application/json' },
    });
    assert.deepEqual(JSON.parse(res.body).sockets.map((x) => x.id), [id]);
    // and the socket goes on receiving its room's events
    assert.deepEqual(await ackOf(s, 'later', [{ delay: 0, to: 'room:r3', event: 'after', n: 1 }]), [true]);
    assert.deepEqual((await s.rec.next('after'))[0], 0);
  } finally {
    closeAll(s);
  }
});

test('away longer than the window: not recovered, a new id and no old rooms or data', { timeout: 30000 }, async () => {
  const s = await sioConnect(inst, '/', {
    reconnection: true, reconnectionDelay: WINDOW + 1500, reconnectionDelayMax: WINDOW + 1500, randomizationFactor: 0,
    transports: ['websocket'],
  });
  try {
    await s.rec.next('welcome');
    assert.deepEqual(await ackOf(s, 'join', ['r2']), [true]);
    assert.deepEqual(await ackOf(s, 'set-data', [{ x: 1 }]), [true]);
    assert.deepEqual(await ackOf(s, 'later', [{ delay: 300, to: 'room:r2', event: 'missed', n: 1 }]), [true]);
    const id = s.id;
    const stats = async () => JSON.parse((await request('POST', inst.url('/emit'), {
      body: '{"op":"stats"}', headers: { 'Content-Type': 'application/json' },
    })).body);
    const back = cycle(s, 'client');
    cut(s);
    // kept while away (siod's figures count it), forgotten past the window
    await waitFor(async () => (await stats()).recoveryKeptSockets >= 1, 2000, 'the socket kept');
    assert.ok((await stats()).recoveryBytes > 0);
    await back;
    assert.equal(s.recovered, false);
    assert.notEqual(s.id, id);
    const [who] = await ackOf(s, 'whoami');
    assert.equal(who.recovered, false);
    assert.deepEqual(who.rooms, [s.id]);
    assert.equal(who.data, null);
    assert.equal(who.mw, true, 'connect middleware ran');
    assert.equal(s.rec.all('missed').length, 0);
  } finally {
    closeAll(s);
  }
});

test('the packet log over its byte limit drops the offset of a client away: not recovered, siod fine', { timeout: 30000 }, async () => {
  const s = await sioConnect(inst, '/', { ...RECONNECT, transports: ['websocket'] });
  const flooder = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    await s.rec.next('welcome');
    const id = s.id;
    const back = cycle(s, 'client');
    cut(s);
    await sleep(100);
    // more than LOG_BYTES logged while s is away
    assert.deepEqual(await ackOf(flooder, 'flood', [{ n: 10, size: LOG_BYTES / 5 }]), [true]);
    await flooder.rec.count('flood', 10);
    await back;
    assert.equal(s.recovered, false);
    assert.notEqual(s.id, id);
    assert.equal(s.rec.all('flood').length, 0);
    assert.equal((await ackOf(s, 'whoami'))[0].recovered, false);
    assert.ok(inst.siodPid, 'siod runs');
  } finally {
    closeAll(s, flooder);
  }
});

test('a refused or unknown pid, or a pid of another namespace: a fresh session', { timeout: 20000 }, async () => {
  const a = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    const [w] = await a.rec.next('welcome');
    const offset = a.rec.all('welcome')[0].at(-1);
    const pid = a._pid;
    assert.equal(typeof pid, 'string');
    assert.equal(pid.length, 20);
    a.io.engine.close();
    await sleep(300);
    // the pid of "/" kept, offered to "/other"
    const b = await sioConnect(inst, '/other', { transports: ['websocket'], auth: { pid, offset } });
    assert.equal((await ackOf(b, 'whoami'))[0].recovered, false);
    assert.notEqual(b.id, w.id);
    // a made-up pid
    const c = await sioConnect(inst, '/', { transports: ['websocket'], auth: { pid: 'x'.repeat(20), offset } });
    assert.equal((await ackOf(c, 'whoami'))[0].recovered, false);
    // the right pid, but a bad offset
    const d = await sioConnect(inst, '/', { transports: ['websocket'], auth: { pid, offset: '1-0' } });
    assert.equal((await ackOf(d, 'whoami'))[0].recovered, false);
    // and at last the right pair
    const e = await sioConnect(inst, '/', { transports: ['websocket'], auth: { pid, offset } });
    const [who] = await ackOf(e, 'whoami');
    assert.equal(who.recovered, true);
    assert.equal(e.id, w.id);
    // taken once: a second client offering it gets a fresh session
    const f = await sioConnect(inst, '/', { transports: ['websocket'], auth: { pid, offset } });
    assert.equal((await ackOf(f, 'whoami'))[0].recovered, false);
    closeAll(b, c, d, e, f);
  } finally {
    closeAll(a);
  }
});

for (const [transports, how] of [[['websocket'], 'graceful'], [undefined, 'graceful'], [['polling'], 'graceful'],
  [['websocket'], 'restart']]) {
  const kind = transports ? transports[0] : 'upgraded';
  test(`${kind}: httpd restarted ${how === 'graceful' ? 'gracefully' : '(-k restart: children stopped at once)'} ` +
    'mid-stream: the client is back recovered with every event, in order',
    { timeout: 40000 }, async () => {
      const s = sioSocket(inst, '/', {
        reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300, randomizationFactor: 0, transports,
      });
      try {
        await sioConnected(inst, s);
        await s.rec.next('welcome');
        if (!transports) await waitFor(() => s.io.engine.transport.name === 'websocket', 10000, 'upgrade');
        assert.deepEqual(await ackOf(s, 'join', ['g']), [true]);
        assert.deepEqual(await ackOf(s, 'set-data', [{ y: 2 }]), [true]);
        const id = s.id;
        let disconnects = 0;
        s.on('disconnect', () => { disconnects++; });
        const N = 60;
        assert.deepEqual(await ackOf(s, 'stream', [{ every: 50, n: N, to: 'room:g' }]), [true]);
        await s.rec.count('tick', 10, 5000);
        const old = inst.httpdChildren();
        if (how === 'graceful') graceful(inst);
        else restart(inst);
        await s.rec.next('tick-end', 20000);
        const ticks = firsts(s, 'tick');
        assert.deepEqual(ticks, Array.from({ length: N }, (_, i) => i), `every tick once, in order\n${inst.logs(10)}`);
        assert.equal(s.id, id, 'the same id');
        if (transports?.[0] === 'polling' && how === 'graceful') {
          // siod keeps the Engine.IO session: a poll simply goes to a new child
          assert.equal(disconnects, 0, 'a polling client does not even notice');
        } else {
          assert.ok(disconnects >= 1, 'the WebSocket was closed by the stopping child');
          assert.equal(s.recovered, true, `recovered\n${inst.logs(10)}`);
        }
        const [who] = await ackOf(s, 'whoami');
        assert.deepEqual(who.rooms.sort(), [id, 'g'].sort());
        assert.deepEqual(who.data, { y: 2 });
        await waitFor(() => inst.httpdChildren().every((p) => !old.includes(p)), 15000, 'old children gone');
      } finally {
        closeAll(s);
      }
    });
}

test('--recovery-middlewares: connect middleware runs for a recovered socket too', { timeout: 30000 }, async () => {
  await inst.restartSiod({ opts: { siodExtraArgs: [`--recovery=${WINDOW}`, '--recovery-middlewares'] } });
  const s = await sioConnect(inst, '/', { ...RECONNECT, transports: ['websocket'] });
  try {
    await s.rec.next('welcome');
    const id = s.id;
    const back = cycle(s, 'client');
    cut(s);
    await back;
    assert.equal(s.recovered, true);
    assert.equal(s.id, id);
    const [who] = await ackOf(s, 'whoami');
    assert.equal(who.recovered, true, 'the middleware saw it recovered');
    assert.equal(who.mw, true, 'the middleware ran');
  } finally {
    closeAll(s);
  }
});

test('without --recovery: no pid in the CONNECT answer, no offset on events, never recovered', { timeout: 30000 }, async () => {
  await inst.restartSiod({ opts: { siodExtraArgs: [] } });
  const s = await sioConnect(inst, '/', { ...RECONNECT, transports: ['websocket'] });
  try {
    const welcome = await s.rec.next('welcome');
    assert.equal(welcome.length, 1, 'no offset argument');
    assert.equal(s._pid, undefined);
    const id = s.id;
    const back = cycle(s, 'client');
    cut(s);
    await back;
    assert.ok(!s.recovered, 'not recovered (the client says undefined without a pid)');
    assert.notEqual(s.id, id);
  } finally {
    closeAll(s);
  }
});

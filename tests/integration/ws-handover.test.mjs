// WebSockets handed over across a clean restart of siod (--recovery with a
// state file; recoverykit app; docs/relay-protocol.md, "Handing WebSockets
// over across a restart of siod"): the stopping siod tells the module to
// hold each WebSocket (WS_CLOSE with SIO_RF_KEEP), the module keeps the
// client's connection open without reading it, reconnects by itself and
// hands it to the next siod (WS_RESUME). The official socket.io-client
// (WebSocket only) sees no disconnect: the same socket, id, Engine.IO
// session and rooms; what is emitted to it after the restart reaches it
// once, what it sent while siod was away is answered. A WebSocket no siod
// takes back within SocketIOHandoverTimeout is closed with 1012 (logged
// once with a count) and comes back recovered, as it does at once with
// SocketIOHandoverTimeout 0; a child that stops while holding one closes
// it with 1012 too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startInstance, sioConnect, closeAll, ackOf, withTimeout, waitFor, sleep, request,
} from './harness.mjs';

const WINDOW = 20000;
const RECONNECT = { reconnection: true, reconnectionDelay: 500, reconnectionDelayMax: 500, randomizationFactor: 0 };
const HELD_CLOSED = /WebSocket\(s\) held across a restart of siod closed: no siod took them back/;

/** A managed siod (httpd starts it again after a SIGTERM), hand-over at its default (10 s). */
let managed;
before(async () => {
  managed = await startInstance('ws-handover', {
    managed: true, app: 'recoverykit', pingInterval: 5000, pingTimeout: 5000,
    siodExtraArgs: [`--recovery=${WINDOW}`],
  });
});
after(async () => { await sleep(200); await managed?.stop(); });

/** An instance whose siod the test stops and starts (recovery with a state file), with extra httpd.conf text. */
async function external(name, extraConf = '') {
  const inst = await startInstance(name, {
    app: 'recoverykit', pingInterval: 5000, pingTimeout: 5000, status: true, extraConf,
    logLevel: 'warn socketio:debug',
  });
  await inst.restartSiod({
    opts: { siodExtraArgs: [`--recovery=${WINDOW}`, `--state-file=${path.join(inst.rundir, 'run', 'siod.state')}`] },
  });
  return inst;
}

/** Emits through the API once siod answers (503, nothing emitted, while it or a child's link to it is away). */
async function emitWhenUp(inst, body) {
  let last;
  await waitFor(async () => (last = await request('POST', inst.url('/emit'), {
    body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' },
  })).status !== 503, 15000, () => `siod back\n${inst.logs(10)}`);
  assert.equal(last.status, 200, last.body);
}

/**
 * A WebSocket client in room r1 with data, that has had its welcome; its
 * disconnects are recorded in s.disconnects, its Engine.IO session and
 * WebSocket object kept to compare.
 */
async function client(inst) {
  const s = await sioConnect(inst, '/', { ...RECONNECT, transports: ['websocket'] });
  await s.rec.next('welcome');
  assert.deepEqual(await ackOf(s, 'join', ['r1']), [true]);
  assert.deepEqual(await ackOf(s, 'set-data', [{ user: 'cy' }]), [true]);
  s.disconnects = [];
  s.on('disconnect', (...a) => s.disconnects.push(a));
  s.first = { id: s.id, engine: s.io.engine.id, ws: s.io.engine.transport.ws };
  return s;
}

/** s went through the restart untouched: no disconnect, the same socket and WebSocket, its rooms and data. */
async function checkKept(inst, s, rooms = ['r1']) {
  assert.deepEqual(s.disconnects, [], `no disconnect\n${inst.logs(10)}`);
  assert.equal(s.connected, true);
  assert.equal(s.id, s.first.id, 'the same socket id');
  assert.equal(s.io.engine.id, s.first.engine, 'the same Engine.IO session');
  assert.equal(s.io.engine.transport.ws, s.first.ws, 'the same WebSocket');
  // no new connection: the client is not told it recovered (it never
  // left); the next siod's application hears of the socket as of a
  // recovered one (its connection handler runs again, recovered true)
  assert.equal(s.recovered, false, 'not a recovery: the client never left');
  const welcomes = s.rec.all('welcome');
  assert.ok(welcomes[0][0].recovered === false &&
    welcomes.slice(1).every((w) => w[0].id === s.first.id && w[0].recovered === true), JSON.stringify(welcomes));
  // an event with an ack, sent after the restart, is answered by the new siod
  const [who] = await ackOf(s, 'whoami', [], 10000);
  assert.deepEqual(who.rooms.sort(), [s.first.id, ...rooms].sort(), 'the same rooms');
  assert.deepEqual(who.data, { user: 'cy' }, 'the same data');
}

/** p, whose rejection is reported where it is awaited (none if a test failed before). */
const later = (p) => { p.catch(() => {}); return p; };
/** Resolves with [reason, details] of s's next disconnect. */
const disconnected = (inst, s, ms = 10000) => later(withTimeout(
  new Promise((resolve) => s.once('disconnect', (...a) => resolve(a))), ms, `disconnect\n${inst.logs(10)}`));
const reconnected = (inst, s) => later(withTimeout(new Promise((resolve) => s.once('connect', resolve)),
  20000, `reconnect\n${inst.logs(10)}`));

/** s came back as a new connection, recovered: the same id, rooms and data. */
async function checkRecovered(inst, s, rooms = ['r1']) {
  await sleep(300);
  assert.equal(s.recovered, true, `recovered\n${inst.logs(10)}`);
  assert.equal(s.id, s.first.id, 'the same id');
  const [who] = await ackOf(s, 'whoami');
  assert.deepEqual(who.rooms.sort(), [s.first.id, ...rooms].sort());
  assert.deepEqual(who.data, { user: 'cy' });
}

for (const signal of ['SIGTERM', 'SIGUSR2']) {
  test(`managed siod, ${signal}: the WebSocket stays open, the same socket; events emitted before and after reach ` +
    'it once each, in order; its acks are answered', { timeout: 60000 }, async () => {
    let pid;
    await waitFor(() => (pid = managed.siodPid), 5000, 'siod under httpd');
    const s = await client(managed);
    try {
      const restored = () => (managed.siodLog().match(/kept sockets and \d+ logged packets restored/g) || []).length;
      const restoredBefore = restored();
      await emitWhenUp(managed, { event: 'news', args: [0], rooms: 'r1' });
      await s.rec.next('news');
      process.kill(pid, signal);
      if (signal === 'SIGTERM') {
        await waitFor(() => managed.siodPid && managed.siodPid !== pid, 15000, 'a new siod');
      } else {
        await waitFor(() => restored() > restoredBefore, 10000, 'the next image to read the state file');
        assert.equal(managed.siodPid, pid, 'restarted in place');
      }
      // right after the new siod answers: to the room, and to the socket itself
      await emitWhenUp(managed, { event: 'news', args: [1], rooms: 'r1' });
      await emitWhenUp(managed, { event: 'news', args: [2], rooms: s.first.id });
      await s.rec.count('news', 3, 10000);
      await checkKept(managed, s);
      await sleep(500);
      assert.deepEqual(s.rec.all('news').map((a) => a[0]), [0, 1, 2], 'each event once, in order');
      assert.ok(!managed.errorLogLines().some((l) => HELD_CLOSED.test(l)), managed.logs(10));
    } finally {
      closeAll(s);
    }
  });
}

test('siod away for a while: what the client sent meanwhile is answered by the next siod; a client that leaves ' +
  'while held is forgotten; a child that stops while holding one closes it with 1012',
{ timeout: 90000 }, async () => {
  const inst = await external('ws-handover-ext');
  const s = await client(inst);
  let gone = null;
  try {
    assert.equal(await inst.stopSiod(), 0, 'siod exits 0');
    await sleep(300);
    // the module holds the WebSocket: the client's event waits, unread, for the next siod
    const joined = later(ackOf(s, 'join', ['r2'], 15000));
    await sleep(1000);
    await inst.startSiod();
    assert.deepEqual(await joined, [true], 'answered by the next siod');
    await emitWhenUp(inst, { event: 'news', args: ['r2'], rooms: 'r2' });
    assert.equal((await s.rec.next('news', 10000))[0], 'r2');
    await checkKept(inst, s, ['r1', 'r2']);
    // the new siod counts the session it took back
    const st = await request('GET', inst.url('/server-status?auto'));
    assert.match(st.body, /^SocketIOHandoversResumed: 1$/m, st.body);
    assert.match(st.body, /^SocketIOHandoversRefused: 0$/m);

    // a second client's connection drops while held: freed at once, nothing sent for it
    gone = await client(inst);
    assert.equal(await inst.stopSiod(), 0);
    await sleep(300);
    gone.io.reconnection(false);
    gone.io.engine.transport.ws.terminate();
    await waitFor(() => inst.errorLogLines().some((l) => /WebSocket closed by the client while held/.test(l)),
      5000, `freed while held\n${inst.logs(10)}`);
    await inst.startSiod();
    await emitWhenUp(inst, { event: 'news', args: ['again'], rooms: 'r1' });
    assert.equal((await s.rec.next('news', 10000))[0], 'again');
    await checkKept(inst, s, ['r1', 'r2']);
    await waitFor(async () => {
      const res = await request('GET', inst.url('/server-status?auto'));
      return /^SocketIOWebSocketsHeld: 0$/m.test(res.body);
    }, 5000, 'no WebSocket held any more');

    // a graceful restart of httpd while siod is away: the child closes it with the held status
    assert.equal(await inst.stopSiod(), 0);
    await sleep(300);
    const cut = disconnected(inst, s, 15000);
    const back = reconnected(inst, s);
    const lines = inst.errorLogLines().length;
    process.kill(inst.httpdPid, 'SIGUSR1');
    const [reason, details] = await cut;
    assert.equal(reason, 'transport close');
    assert.equal(details?.context?.code, 1012, 'closed with 1012 (service restart)');
    await waitFor(() => inst.errorLogLines().slice(lines).some((l) => /resuming normal operations/.test(l)),
      15000, 'graceful restart');
    await inst.startSiod();
    await back;
    await checkRecovered(inst, s, ['r1', 'r2']);
  } finally {
    closeAll(s, gone);
    await inst.stop();
  }
});

test('SocketIOHandoverTimeout 1 and siod away for longer: closed with 1012 (logged once with a count), the client ' +
  'back recovered', { timeout: 60000 }, async () => {
  const inst = await external('ws-handover-timeout', 'SocketIOHandoverTimeout 1');
  const a = await client(inst);
  const b = await client(inst);
  try {
    const cutA = disconnected(inst, a);
    const cutB = disconnected(inst, b);
    const backA = reconnected(inst, a);
    const backB = reconnected(inst, b);
    const stopped = Date.now();
    assert.equal(await inst.stopSiod(), 0);
    for (const cut of [cutA, cutB]) {
      const [reason, details] = await cut;
      assert.equal(reason, 'transport close');
      assert.equal(details?.context?.code, 1012, 'closed with 1012 (service restart)');
    }
    assert.ok(Date.now() - stopped >= 900, `held for SocketIOHandoverTimeout first (${Date.now() - stopped} ms)`);
    await waitFor(() => inst.errorLogLines().some((l) => HELD_CLOSED.test(l)), 5000, `the line\n${inst.logs(10)}`);
    const counted = inst.errorLogLines().filter((l) => HELD_CLOSED.test(l))
      .map((l) => Number(/(\d+) WebSocket\(s\) held/.exec(l)[1]));
    assert.equal(counted.reduce((x, y) => x + y, 0), 2, `both counted, one line per child\n${counted}`);
    await inst.startSiod();
    await Promise.all([backA, backB]);
    await checkRecovered(inst, a);
    await checkRecovered(inst, b);
  } finally {
    closeAll(a, b);
    await inst.stop();
  }
});

test('SocketIOHandoverTimeout 0: nothing is held, the client is closed at once (1012) and comes back recovered',
  { timeout: 60000 }, async () => {
    const inst = await external('ws-handover-off', 'SocketIOHandoverTimeout 0');
    const s = await client(inst);
    try {
      const cut = disconnected(inst, s, 5000);
      const back = reconnected(inst, s);
      assert.equal(await inst.stopSiod(), 0);
      const [reason, details] = await cut;
      assert.equal(reason, 'transport close');
      assert.equal(details?.context?.code, 1012, 'closed with 1012 (service restart)');
      await inst.startSiod();
      await emitWhenUp(inst, { event: 'news', args: [7], rooms: 'r1' });
      await back;
      await checkRecovered(inst, s);
      await s.rec.next('news', 10000);
      assert.deepEqual(s.rec.all('news').map((x) => x[0]), [7], 'the event emitted while it was away, once');
      assert.ok(!inst.errorLogLines().some((l) => HELD_CLOSED.test(l)));
    } finally {
      closeAll(s);
      await inst.stop();
    }
  });

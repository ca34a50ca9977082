// SocketIOWebSocketThreads 3 (bench app). Under prefork and worker, where
// each WebSocket holds a worker thread (a prefork child): 3 WebSockets are
// accepted, the 4th upgrade is refused with 503 and logged, an official
// socket.io-client with default transports over the cap keeps working on
// long-polling (ack, broadcast), and a closed WebSocket gives its slot back.
// Under mpm_event the reactor holds WebSockets without threads, so the same
// directive must not limit them: 20 are accepted and the client upgrades.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  MPM, startInstance, sioSocket, sioConnected, ackOf, closeAll, withTimeout, waitFor, sleep, RawWs,
} from './harness.mjs';
import { SioWs, sioWsUrl, connectMany, logLines } from './scale-lib.mjs';

const EVENT = MPM === 'event';
const CAP = 3;
const ONLY_THREADED = EVENT ? 'mpm_event holds WebSockets in its reactor; the cap does not apply (see the event test below)' : false;
const ONLY_EVENT = EVENT ? false : `MPM ${MPM} holds a thread per WebSocket; the cap applies (tests above)`;

let inst;
const open = [];
before(async () => {
  inst = await startInstance('scale-cap', {
    app: 'bench', pingInterval: 2000, pingTimeout: 3000, extraConf: `SocketIOWebSocketThreads ${CAP}`,
  });
});
after(async () => {
  for (const c of open) c.terminate();
  await sleep(200);
  await inst?.stop();
});

/** Resolves the upgrade outcome of socket.io-client socket s: 'upgrade' or 'upgradeError'. */
function upgradeOutcome(s) {
  return withTimeout(new Promise((resolve) => {
    s.io.on('open', () => {
      s.io.engine.once('upgrade', () => resolve('upgrade'));
      s.io.engine.once('upgradeError', (e) => resolve(`upgradeError: ${e?.message ?? e}`));
    });
  }), 10000, 'an upgrade attempt');
}

test(`prefork/worker: ${CAP} WebSockets accepted, the ${CAP + 1}th upgrade refused with 503 and logged`,
  { timeout: 30000, skip: ONLY_THREADED }, async () => {
    open.push(...await connectMany(sioWsUrl(inst), CAP, { concurrency: 1 }));
    for (const [i, c] of open.entries()) assert.deepEqual(await c.ack('echo', [i]), [i], `WebSocket ${i} works`);
    const err = await RawWs.connect(inst).then((ws) => { ws.destroy(); return null; }, (e) => e);
    assert.ok(err, `WebSocket ${CAP + 1} must be refused\n${inst.logs()}`);
    assert.equal(err.status, 503, `refused with 503: ${err.message}`);
    // the raw Socket.IO client sees the same
    await assert.rejects(SioWs.connect(sioWsUrl(inst)), (e) => e.status === 503);
    await waitFor(() => logLines(inst, /socketio:warn.*WebSocket refused \(503\)/).length > 0, 3000, 'the refusal logged at warn');
    // the held ones are untouched by the refusals
    for (const [i, c] of open.entries()) assert.deepEqual(await c.ack('echo', [`again ${i}`]), [`again ${i}`]);
  });

test(`prefork/worker: an official client over the cap stays on long-polling and keeps working (ack, broadcast)`,
  { timeout: 30000, skip: ONLY_THREADED }, async () => {
    assert.equal(open.length, CAP, 'the cap is full (previous test)');
    const s = sioSocket(inst, '/', {});
    const outcome = upgradeOutcome(s);
    try {
      await sioConnected(inst, s);
      assert.match(await outcome, /^upgradeError/, 'the upgrade probe was refused');
      assert.equal(s.io.engine.transport.name, 'polling');
      assert.deepEqual(await ackOf(s, 'echo', ['over the cap', { n: 1 }]), ['over the cap', { n: 1 }]);
      // a broadcast reaches the polling client and every held WebSocket
      s.emit('bcast', 4242);
      assert.deepEqual(await s.rec.next('tick'), [4242]);
      for (const c of open) await c.until(() => c.all('tick').some((e) => e.args[0] === 4242), 5000, 'tick on a WebSocket');
      // several ping intervals later: still connected, still polling
      await sleep(4500);
      assert.equal(s.connected, true);
      assert.equal(s.io.engine.transport.name, 'polling');
      assert.deepEqual(await ackOf(s, 'echo', ['later']), ['later']);
    } finally {
      closeAll(s);
    }
  });

test(`prefork/worker: a closed WebSocket gives its slot back`, { timeout: 30000, skip: ONLY_THREADED }, async () => {
  assert.equal(open.length, CAP);
  const gone = open.shift();
  gone.close();
  await gone.closedP;
  const again = await waitFor(() => SioWs.connect(sioWsUrl(inst)).catch(() => null), 5000, 'a WebSocket after one closed');
  open.push(again);
  assert.deepEqual(await again.ack('echo', ['slot reused']), ['slot reused']);
  await assert.rejects(SioWs.connect(sioWsUrl(inst)), (e) => e.status === 503, 'and the cap holds again');
});

test(`event: SocketIOWebSocketThreads ${CAP} does not limit the reactor: 20 WebSockets and an upgrade accepted`,
  { timeout: 30000, skip: ONLY_EVENT }, async () => {
    open.push(...await connectMany(sioWsUrl(inst), 20, { concurrency: 5 }));
    for (const [i, c] of open.entries()) assert.deepEqual(await c.ack('echo', [i]), [i]);
    const s = sioSocket(inst, '/', {});
    const outcome = upgradeOutcome(s);
    try {
      await sioConnected(inst, s);
      assert.equal(await outcome, 'upgrade');
      assert.equal(s.io.engine.transport.name, 'websocket');
      assert.deepEqual(await ackOf(s, 'echo', ['upgraded']), ['upgraded']);
      assert.equal(logLines(inst, /WebSocket refused/).length, 0, 'no refusal logged');
    } finally {
      closeAll(s);
    }
  });

// `apache2 -k graceful` with WebSocket clients held (bench app): every old
// child exits within a bound, raw clients get a clean close (1001), official
// socket.io-clients reconnect by themselves and emit again, the new
// generation accepts WebSockets, and no page or handshake polled across the
// restart fails or answers 5xx. Under mpm_event 500 clients (reactor);
// under prefork and worker fewer, within SocketIOWebSocketThreads (each
// holds a thread, or a prefork child).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, sioConnect, ackOf, closeAll, withTimeout, waitFor, sleep } from './harness.mjs';
import { sioWsUrl, connectMany, pageLoop, graceful, pidAlive, logLines } from './scale-lib.mjs';

const EVENT = MPM === 'event';
// raw clients + official clients; prefork needs a child for each
const RAW = { event: 500, worker: 40, prefork: 16 }[MPM];
const SIO = 4;
// WebSockets opened on the new generation (prefork forks a child for each)
const FRESH = MPM === 'prefork' ? 3 : 10;
const CAP = RAW + 2 * SIO + 10;
// old children must be gone this soon after the signal
const EXIT_BOUND_MS = 10000;

let inst;
before(async () => {
  inst = await startInstance('scale-graceful', {
    app: 'bench', pingInterval: 2000, pingTimeout: 3000,
    // prefork/worker: room for both generations' WebSockets during the switch
    extraConf: EVENT ? '' : `SocketIOWebSocketThreads ${CAP}`,
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

const RECONNECT = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500, randomizationFactor: 0 };

test(`${MPM}: graceful restart with ${RAW} raw + ${SIO} official WebSocket clients: old children exit, 1001 closes, ` +
  'reconnects, no 5xx', { timeout: 55000 }, async () => {
  const tStart = Date.now();
  const phase = (what) => console.log(`${MPM}: ${what} at +${Date.now() - tStart} ms`);
  const raws = await connectMany(sioWsUrl(inst), RAW, { concurrency: EVENT ? 50 : 8 });
  phase(`${RAW} raw clients connected`);
  const sios = [];
  const loop = pageLoop([inst.url('/index.html'), inst.eioUrl({ EIO: '4', transport: 'polling' }), inst.url('/health.txt')],
    { gapMs: 5 });
  try {
    for (let i = 0; i < SIO; i++) {
      // half upgrade from polling, half WebSocket only
      sios.push(await sioConnect(inst, '/', { ...RECONNECT, transports: i % 2 ? ['websocket'] : undefined }));
    }
    await waitFor(() => sios.every((s) => s.io.engine.transport.name === 'websocket'), 10000, 'upgrades');
    for (const c of raws.slice(0, 20)) assert.deepEqual(await c.ack('echo', ['before']), ['before']);
    const ids = sios.map((s) => s.id);
    phase(`${SIO} official clients connected and upgraded`);
    const parent = inst.httpdPid;
    const old = inst.httpdChildren();
    const reconnected = sios.map((s, i) => withTimeout(new Promise((resolve) => {
      s.once('disconnect', (reason) => s.once('connect', () => resolve(reason)));
    }), 20000, `official client ${i}: disconnect and reconnect\n${inst.logs()}`));
    for (const p of reconnected) p.catch(() => {});

    await sleep(500); // pages polled before the signal too
    const t0 = Date.now();
    graceful(inst);
    await waitFor(() => old.every((p) => !pidAlive(p)), EXIT_BOUND_MS,
      `old children ${old.filter(pidAlive)} of ${old} to exit\n${inst.logs()}`);
    const exitMs = Date.now() - t0;
    assert.equal(inst.httpdPid, parent, 'the parent survives a graceful restart');
    await waitFor(() => inst.httpdChildren().length > 0, 5000, 'a new generation of children');

    await waitFor(() => raws.every((c) => c.closed), 10000,
      `every raw client closed (${raws.filter((c) => !c.closed).length} still open)`);
    const codes = {};
    for (const c of raws) codes[c.closed.code] = (codes[c.closed.code] || 0) + 1;
    console.log(`${MPM}: ${old.length} old children gone ${exitMs} ms after the signal; raw close codes ${JSON.stringify(codes)}`);
    assert.deepEqual(codes, { 1001: RAW }, `every raw client got close 1001 (going away)\n${inst.logs()}`);

    const reasons = await Promise.all(reconnected);
    phase('official clients reconnected');
    for (const [i, s] of sios.entries()) {
      assert.ok(['transport close', 'transport error'].includes(reasons[i]), `client ${i}: disconnect reason ${reasons[i]}`);
      assert.equal(s.connected, true);
      assert.notEqual(s.id, ids[i], 'a new session');
      assert.deepEqual(await ackOf(s, 'echo', [`after ${i}`]), [`after ${i}`]);
    }
    // the new generation holds WebSockets
    const fresh = await connectMany(sioWsUrl(inst), FRESH, { concurrency: 5 });
    for (const c of fresh) assert.deepEqual(await c.ack('echo', ['new generation']), ['new generation']);
    phase(`${FRESH} WebSockets opened on the new generation`);
    for (const c of fresh) c.close();
    await sleep(1000);
    const res = await loop.stop();
    const nBefore = res.times.filter((t) => t < t0).length;
    const nDuring = res.times.filter((t) => t >= t0 && t <= t0 + exitMs).length;
    const nAfter = res.times.filter((t) => t > t0 + exitMs).length;
    console.log(`${MPM}: ${res.count} requests polled across the restart (${nBefore} before the signal, ${nDuring} until ` +
      `the old children were gone, ${nAfter} after): ${JSON.stringify(res.statuses)}, bad ${res.bad.length}`);
    assert.ok(nBefore > 0 && nAfter > 0, 'the page loop ran before and after the restart');
    assert.deepEqual(res.bad, [], `no request failed or answered 5xx across the restart\n${inst.logs()}`);
    assert.deepEqual(logLines(inst, /\[socketio:(error|crit|alert|emerg)\]|segfault|exit signal/), [],
      'no error from mod_socketio, no crashed child');
  } finally {
    await loop.stop();
    closeAll(sios);
    for (const c of raws) c.terminate();
  }
});

// `apache2 -k graceful` with long-polling clients whose GETs are held in the
// old children: each child ends its held polls at once (siod answers them
// with a noop and keeps the session), so the old children exit within a
// second or two instead of the ~pingInterval the polls would otherwise be
// held; the official clients (polling only) keep their sessions (no
// 'disconnect', same ids), poll again through the new generation, and a
// broadcast right after the restart reaches each of them exactly once.
// And when siod does not answer the release (stopped), each held GET still
// ends after SocketIOPollReleaseTimeout with a noop the module writes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  MPM, startInstance, sioConnect, ackOf, closeAll, withTimeout, waitFor, sleep, pollHandshake, pollGet,
} from './harness.mjs';
import { graceful, pidAlive, logLines } from './scale-lib.mjs';

// a prefork child per held GET, and one for each POST
const CLIENTS = MPM === 'prefork' ? 4 : 6;
const PING_INTERVAL = 20000;
// well under pingInterval: without the release the old children wait ~20 s
const EXIT_BOUND_MS = 3000;

let inst;
before(async () => {
  inst = await startInstance('graceful-polls', {
    app: 'bench', pingInterval: PING_INTERVAL, pingTimeout: 20000,
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

test(`${MPM}: graceful restart with ${CLIENTS} held long-polls: old children exit promptly, sessions survive, ` +
  'a broadcast after it arrives once per client', { timeout: 60000 }, async () => {
  const socks = [];
  try {
    for (let i = 0; i < CLIENTS; i++) {
      socks.push(await sioConnect(inst, '/', { transports: ['polling'], reconnection: false }));
    }
    const ids = socks.map((s) => s.id);
    const sids = socks.map((s) => s.io.engine.id);
    const disconnects = socks.map(() => []);
    socks.forEach((s, i) => s.on('disconnect', (reason) => disconnects[i].push(reason)));

    // one broadcast before: every client is in the namespace and polling
    assert.deepEqual(await ackOf(socks[0], 'echo', ['before']), ['before']);
    socks[0].emit('bcast', 1);
    await Promise.all(socks.map((s, i) => withTimeout(s.rec.count('tick', 1, 10000), 11000, `client ${i}: tick 1`)));
    await sleep(500); // every client's next GET is held again

    const parent = inst.httpdPid;
    const old = inst.httpdChildren();
    const t0 = Date.now();
    graceful(inst);
    await waitFor(() => old.every((p) => !pidAlive(p)), EXIT_BOUND_MS,
      `old children ${old.filter(pidAlive)} of ${old} to exit within ${EXIT_BOUND_MS} ms of the signal ` +
      `(pingInterval ${PING_INTERVAL} ms)\n${inst.logs()}`, 20);
    const exitMs = Date.now() - t0;
    console.log(`${MPM}: ${old.length} old children gone ${exitMs} ms after the signal`);
    assert.equal(inst.httpdPid, parent, 'the parent survives a graceful restart');
    await waitFor(() => inst.httpdChildren().length > 0, 5000, 'a new generation of children');

    // right after the restart: one broadcast, each client gets it once
    socks[1].emit('bcast', 2);
    await Promise.all(socks.map((s, i) => withTimeout(s.rec.count('tick', 2, 10000), 11000,
      `client ${i}: tick 2 after the restart\n${inst.logs()}`)));
    assert.deepEqual(await ackOf(socks[2], 'echo', ['after']), ['after']);
    await sleep(1000); // a duplicate would have arrived by now
    for (const [i, s] of socks.entries()) {
      assert.deepEqual(s.rec.all('tick'), [[1], [2]], `client ${i}: each tick exactly once`);
      assert.deepEqual(disconnects[i], [], `client ${i}: no disconnect`);
      assert.equal(s.connected, true, `client ${i}: still connected`);
      assert.equal(s.id, ids[i], `client ${i}: the same Socket.IO id`);
      assert.equal(s.io.engine.id, sids[i], `client ${i}: the same Engine.IO session`);
      assert.equal(s.io.engine.transport.name, 'polling');
    }
    assert.deepEqual(inst.siodLog().split('\n').filter((l) => /session \S+ closed|overlap/.test(l)), [],
      'siod closed no session');
    assert.deepEqual(logLines(inst, /\[socketio:(error|crit|alert|emerg)\]|segfault|exit signal/), [],
      'no error from mod_socketio, no crashed child');
  } finally {
    closeAll(socks);
  }
});

test(`${MPM}: graceful restart while siod is stopped: held GETs end with a noop after SocketIOPollReleaseTimeout, ` +
  'old children exit promptly', { timeout: 30000 }, async () => {
  const n = MPM === 'prefork' ? 3 : 4;
  const sids = [];
  for (let i = 0; i < n; i++) sids.push((await pollHandshake(inst)).sid);
  const gets = sids.map((sid) => {
    const t = { at: 0 };
    t.p = pollGet(inst, sid, { timeout: 15000 }).then((res) => { t.at = Date.now(); return res; });
    return t;
  });
  await sleep(500); // every GET held in a child
  const old = inst.httpdChildren();
  const siod = inst.siodPid;
  process.kill(siod, 'SIGSTOP');
  try {
    const t0 = Date.now();
    graceful(inst);
    const answers = await Promise.all(gets.map((g) => g.p));
    for (const [i, res] of answers.entries()) {
      assert.equal(res.status, 200, `GET ${i}: ${res.status} ${res.body}`);
      assert.equal(res.body, '6', `GET ${i}: a noop`);
      assert.equal(res.headers.connection, 'close', `GET ${i}: Connection: close`);
      const ms = gets[i].at - t0;
      // SocketIOPollReleaseTimeout (1 s) after the signal, not before
      assert.ok(ms >= 900 && ms < 2500, `GET ${i} answered ${ms} ms after the signal`);
    }
    await waitFor(() => old.every((p) => !pidAlive(p)), EXIT_BOUND_MS,
      `old children ${old.filter(pidAlive)} of ${old} to exit while siod is stopped\n${inst.logs()}`, 20);
    console.log(`${MPM}: siod stopped: ${old.length} old children gone ${Date.now() - t0} ms after the signal`);
  } finally {
    process.kill(siod, 'SIGCONT');
  }
  const warned = logLines(inst, /did not answer the release of a held poll/).length;
  assert.ok(warned >= 1 && warned <= old.length, `one warning per old child at most, got ${warned}`);
});

// A child near its descriptor limit stops taking on WebSockets instead of
// failing (the module's descriptor guard, docs/scaling.md "Descriptors").
// httpd runs with a small `ulimit -n` (opts.nofile), StartServers 2 and
// ServerLimit 8, and many more WebSocket clients come, in batches, than two
// children can hold. A full child answers a WebSocket upgrade with 503 (the
// client tries again) and keeps the refusing worker busy a while, so the
// MPM gives newcomers to its other children and starts new ones. Asserted:
// no child exits (the first ones are still there; no AH02179, no exit
// signal, no "Too many open files" in the error log), every client gets
// connected (refusals are counted and printed), every connected client
// stays connected and answers pings for 10 s, official long-polling clients
// opened before the crowd still work after it (their requests in a full
// child are answered, not parked), and the module's "descriptors are nearly
// all in use" warning is logged.
// mpm_event: 400 descriptors (automatic reserve 128: about 250 WebSockets
// fit in a child), 1,500 clients; before the guard a child's accept failed
// with EMFILE within seconds, the MPM stopped it and its clients got 1001.
// mpm_worker, where a WebSocket holds a thread and two descriptors: 60
// descriptors, reserve 30 (about 8 fit in a child), 50 clients; before the
// guard the two children took 48 and answered the others 503 "Socket.IO
// daemon unavailable" (EMFILE on the wake-up eventfd, not logged) until the
// deadline, and no child was started. prefork (a process per connection,
// nothing to guard): a few WebSockets and polls under 64 descriptors, and
// no warning.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, sioConnect, ackOf, closeAll, sleep } from './harness.mjs';
import { SioWs, sioWsUrl, logLines, pidAlive } from './scale-lib.mjs';

const PLAN = {
  event: { nofile: 400, clients: 1500, batch: 200, concurrency: 100, conf: '' },
  // every WebSocket holds a thread: all of them may
  // MinSpareThreads as mpm_worker's default: the MPM starts a child when
  // the others' idle threads run low; with the suite's 1, full children
  // with idle threads left refuse a lone last client until the deadline
  // (docs/scaling.md)
  worker: { nofile: 60, clients: 50, batch: 50, concurrency: 50,
    conf: 'SocketIOWebSocketThreads 200\nSocketIODescriptorReserve 30\nMinSpareThreads 75' },
  prefork: { nofile: 64, clients: 6, batch: 6, concurrency: 2, conf: '' },
}[MPM];
const PREFORK = MPM === 'prefork';
// official long-polling clients opened before the crowd (under mpm_worker
// they would only take more of the few descriptors over the line)
const POLLERS = { event: 6, worker: 0, prefork: 2 }[MPM];
const HOLD_MS = 10000;
// a client refused by a full child tries again until then
const CONNECT_DEADLINE_MS = 75000;

let inst;
before(async () => {
  inst = await startInstance('fd-guard', {
    app: 'bench', pingInterval: 1000, pingTimeout: 3000, nofile: PLAN.nofile, extraConf: PLAN.conf,
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

/**
 * Opens n clients, `concurrency` handshakes at a time; a failed attempt
 * (a full child answers 503) is retried after a short pause until the
 * deadline. Resolves {clients, refusals}.
 */
async function connectRetrying(n, concurrency, deadline) {
  const clients = [];
  const refusals = {};
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      for (;;) {
        try {
          clients.push(await SioWs.connect(sioWsUrl(inst), { timeout: 15000 }));
          break;
        } catch (e) {
          const why = e.status ? `HTTP ${e.status}` : (e.code || e.message.slice(0, 40));
          refusals[why] = (refusals[why] || 0) + 1;
          if (Date.now() > deadline) throw new Error(`${clients.length} of ${n} connected by the deadline; last: ${e.message}`);
          await sleep(100 + Math.floor(Math.random() * 200));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { clients, refusals };
}

test(`${MPM}: ${PLAN.clients} WebSockets under ulimit -n ${PLAN.nofile}: full children stop taking connections, ` +
  'none exits, every client connects and stays', { timeout: 150000 }, async () => {
  const t0 = Date.now();
  const phase = (what) => console.log(`${MPM}: ${what} at +${Date.now() - t0} ms`);
  const first = inst.httpdChildren();
  assert.ok(first.length >= 1, 'children running');
  const pollers = [];
  const clients = [];
  const refusals = {};
  try {
    for (let i = 0; i < POLLERS; i++) {
      pollers.push(await sioConnect(inst, '/', {
        transports: ['polling'], reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000,
      }));
    }
    const deadline = Date.now() + CONNECT_DEADLINE_MS;
    // the most descriptors any child had open while the clients came
    let most = 0;
    const sampler = setInterval(() => {
      for (const n of Object.values(inst.httpdFds())) most = Math.max(most, n);
    }, 20);
    try {
      for (let done = 0; done < PLAN.clients; done += PLAN.batch) {
        const n = Math.min(PLAN.batch, PLAN.clients - done);
        const got = await connectRetrying(n, PLAN.concurrency, deadline);
        clients.push(...got.clients);
        for (const [k, v] of Object.entries(got.refusals)) refusals[k] = (refusals[k] || 0) + v;
      }
    } finally {
      clearInterval(sampler);
    }
    const fds = inst.httpdFds();
    phase(`${clients.length} clients connected; attempts refused: ${JSON.stringify(refusals)}; ` +
      `children ${first.length} -> ${Object.keys(fds).length}, descriptors ${JSON.stringify(fds)}, ` +
      `at most ${most} in a child (limit ${PLAN.nofile})`);
    assert.equal(clients.length, PLAN.clients, 'every client connected');
    assert.equal(clients.filter((c) => c.closed).length, 0,
      `no client was closed while the others came (close codes ${JSON.stringify(clients.filter((c) => c.closed).map((c) => c.closed.code).slice(0, 10))})\n${inst.logs()}`);

    // held: every client answers pings, none is closed
    const pings = clients.map((c) => c.pings);
    await sleep(HOLD_MS);
    const closed = clients.filter((c) => c.closed);
    assert.deepEqual(closed.map((c) => c.closed.code), [], `no client closed during the hold\n${inst.logs()}`);
    const silent = clients.filter((c, i) => c.pings - pings[i] < 3).length;
    assert.equal(silent, 0, `every client got pings during the ${HOLD_MS} ms hold`);
    for (const c of [clients[0], clients[Math.floor(clients.length / 2)], clients[clients.length - 1]]) {
      assert.deepEqual(await c.ack('echo', ['held']), ['held']);
    }
    for (const [i, s] of pollers.entries()) {
      assert.deepEqual(await ackOf(s, 'echo', [`poller ${i}`], 10000), [`poller ${i}`], `long-polling client ${i} works`);
    }
    phase('held');

    // no child exited: the first ones are alive, nothing in the error log
    // says a child failed
    assert.deepEqual(first.filter((p) => !pidAlive(p)), [], `the first children are still there\n${inst.logs()}`);
    assert.deepEqual(logLines(inst, /AH02179|AH00050|exit signal|Too many open files|resource shortage/i), [],
      'no accept failed for want of descriptors, no child failed');
    const full = logLines(inst, /socketio:warn.*descriptors are nearly all in use/);
    if (PREFORK) {
      assert.deepEqual(full, [], 'prefork: nothing to guard');
    } else {
      assert.ok(full.length > 0, `the module says a child is full\n${inst.logs()}`);
      console.log(`${MPM}: ${full[0]}`);
      assert.ok(inst.httpdChildren().length > first.length, 'the MPM started more children');
    }
  } finally {
    closeAll(pollers);
    for (const c of clients) c.terminate();
  }
});

// mpm_event: 2,000 WebSocket Socket.IO clients (siobench, bench app) held
// by the per-child reactor on the thread settings of scripts/httpd-conf.sh
// (Apache's ThreadsPerChild 25, AsyncRequestWorkerFactor raised as
// docs/scaling.md says): every client held and answering 2 s pings, httpd's
// thread count at its idle level, acks for a sample of official clients,
// pages fast during the hold, then a broadcast to all 2,000.
// Under prefork and worker every WebSocket holds a thread, so this crowd
// does not apply; scale-cap.test.mjs tests their cap instead.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, sioConnect, ackOf, closeAll, sleep } from './harness.mjs';
import { httpdThreads, settledThreads, siobench, timedGets, summary } from './scale-lib.mjs';

const EVENT = MPM === 'event';
const NOT_EVENT = EVENT ? false
  : `MPM ${MPM} holds a thread per WebSocket (no reactor); scale-cap.test.mjs tests its SocketIOWebSocketThreads cap instead`;
const CLIENTS = 2000;

let inst;
let idle;
before(async () => {
  if (!EVENT) return;
  inst = await startInstance('scale-reactor', { app: 'bench', pingInterval: 2000, pingTimeout: 3000 });
  idle = await settledThreads(inst);
  console.log(`idle httpd: ${idle.children} children, ${idle.total} threads ${JSON.stringify(idle.perChild)}`);
});
after(async () => { await inst?.stop(); });

/**
 * The thread bound while clients are held: the idle count, plus at most one
 * more child's threads. A handshake burst can keep every worker busy for a
 * moment; then mpm_event starts a child (MinSpareThreads), and with
 * MaxSpareThreads 200 keeps it. That is the MPM's spare-thread logic, not a
 * thread per WebSocket (2,000 clients would need 2,000 threads).
 */
function threadBound() {
  const perChild = Math.max(...Object.values(idle.perChild));
  return idle.total + perChild;
}

test(`event: ${CLIENTS} WebSockets held by the reactor on default threads; pings answered, thread count at idle, acks, pages fast`,
  { timeout: 50000, skip: NOT_EVENT }, async () => {
    const run = siobench(inst, 'hold', ['-n', String(CLIENTS), '--procs', '2', '--rate', '1000', '--duration', '9']);
    const samples = [];
    const sioClients = [];
    try {
      await run.waitLine(/all clients resolved/, 20000);
      samples.push(httpdThreads(inst));
      // a sample of official clients (WebSocket) beside the crowd: acks
      for (let i = 0; i < 10; i++) sioClients.push(await sioConnect(inst, '/', { transports: ['websocket'] }));
      for (const [i, s] of sioClients.entries()) {
        assert.deepEqual(await ackOf(s, 'echo', [i, `sample ${i}`, { i }]), [i, `sample ${i}`, { i }]);
      }
      samples.push(httpdThreads(inst));
      const gets = await timedGets(inst.url('/index.html'), 100);
      samples.push(httpdThreads(inst));
      const sum = summary(gets.ms);
      console.log(`GET /index.html during the hold: ${JSON.stringify(gets.statuses)}, errors ${gets.errors.length}, ms ${JSON.stringify(sum)}`);
      assert.deepEqual(gets.statuses, { 200: 100 }, `every page answered 200 (errors: ${gets.errors.slice(0, 3)})`);
      assert.ok(sum.p99 < 200, `GET p99 ${sum.p99} ms < 200 ms during the hold`);
      await sleep(1000);
      samples.push(httpdThreads(inst));
      const rep = await run.done;
      console.log(`siobench hold: connected ${rep.connected} held ${rep.held} alive ${rep.alive} pings ${rep.pings} ` +
        `connect p99 ${rep.connect_p99_ms} ms errors ${JSON.stringify(rep.errors)}`);
      console.log(`httpd threads during the hold: ${samples.map((s) => `${s.total}/${s.children} children`).join(', ')}`);
      assert.equal(rep.connected, CLIENTS, `every client connected\n${inst.logs()}`);
      assert.equal(rep.failed, 0);
      assert.equal(rep.dropped, 0, `no client dropped: ${JSON.stringify(rep.errors)}\n${inst.logs()}`);
      assert.equal(rep.held, CLIENTS, 'every client held to the end');
      assert.equal(rep.alive, CLIENTS, 'every client answered a ping within pingInterval + pingTimeout');
      // 9 s at a 2 s interval: about 4 pings each; 3 leaves room for scheduling
      assert.ok(rep.pings >= CLIENTS * 3, `pings answered ${rep.pings} >= ${CLIENTS * 3}`);
      for (const s of samples) {
        assert.ok(s.total <= threadBound(),
          `httpd threads ${s.total} (${s.children} children) stay within idle ${idle.total} + one child (${threadBound()})`);
      }
      // once the crowd is in, holding it costs no thread at all
      const held = samples.map((s) => s.total);
      assert.ok(held.every((t) => t === held[0]), `thread count steady while holding: ${held}`);
      if (samples[0].children === idle.children) {
        assert.equal(samples[0].total, idle.total, 'no child started: exactly the idle thread count');
      }
    } finally {
      closeAll(sioClients);
      run.kill();
    }
  });

test(`event: a broadcast reaches every one of ${CLIENTS} clients (siobench bcast)`,
  { timeout: 40000, skip: NOT_EVENT }, async () => {
    const rep = await siobench(inst, 'bcast', ['-n', String(CLIENTS), '--procs', '2', '--connect-rate', '1000',
      '--rate', '4', '--window', '1', '--duration', '3', '--drain', '2', '-q']).done;
    const t = await settledThreads(inst);
    console.log(`siobench bcast: connected ${rep.connected} bcasts ${rep.bcasts} expected ${rep.expected} ` +
      `deliveries ${rep.deliveries} lost ${rep.lost} late ${rep.late} latency p50 ${rep.p50_ms} p99 ${rep.p99_ms} ` +
      `max ${rep.max_ms} ms; httpd threads ${t.total}`);
    assert.equal(rep.connected, CLIENTS, `every client connected\n${inst.logs()}`);
    assert.equal(rep.dropped, 0, `no client dropped: ${JSON.stringify(rep.errors)}`);
    assert.ok(rep.bcasts >= 5, `broadcasts sent: ${rep.bcasts}`);
    assert.equal(rep.expected, rep.bcasts * CLIENTS, 'each broadcast was due to every client');
    assert.equal(rep.lost, 0, 'no tick lost');
    assert.equal(rep.bcast_timeouts, 0, 'every broadcast reached every client within 5 s');
    assert.ok(t.total <= threadBound(), `httpd threads ${t.total} within ${threadBound()}`);
  });

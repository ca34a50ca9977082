// A WebSocket client that stops reading (bench app, small
// SocketIOWebSocketQueue): while a sender broadcasts 50 KB ticks, the other
// clients of the same child keep getting every tick with bounded latency,
// and the stalled client is dropped once its queue bound is passed, with
// the reason logged at warn. Under mpm_event and worker one child serves
// everyone (ServerLimit 1), so "the same child" is the reactor (event) or
// its sibling threads (worker); prefork has one WebSocket per child, so
// there the test checks that the others are not slowed at all and the drop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, waitFor, sleep } from './harness.mjs';
import { sioWsUrl, connectMany, SioWs, logLines, summary, quantile } from './scale-lib.mjs';

// small beside the stalled client's kernel buffers (up to ~4 MB here), yet
// ten 50 KB ticks of slack for an active client on a busy CI machine
const QUEUE = 500000;
const PAD = 50 * 1024;
const TICKS = 180;        // 9 MB for every client: far past the stalled one's kernel buffers + QUEUE
const GAP_MS = 25;
const FAST = 8;

const oneChild = MPM === 'prefork' ? ''
  : 'StartServers 1\nServerLimit 1\nMaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 50';
let inst;
before(async () => {
  inst = await startInstance('scale-slow', {
    app: 'bench',
    // heartbeats slower than the test, so only the queue bound can drop the stalled client
    pingInterval: 25000, pingTimeout: 20000, maxPayload: 100000,
    // drops after the first within 10 s are logged at debug only: keep them for diagnosis
    logLevel: 'warn socketio:debug',
    extraConf: [
      `SocketIOWebSocketQueue ${QUEUE}`,
      // the thread-per-WebSocket fallback also drops a writer blocked this long
      'Timeout 20',
      MPM === 'event' ? '' : 'SocketIOWebSocketThreads 20',
      oneChild,
    ].join('\n'),
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

test(`${MPM}: a client that stops reading is dropped at SocketIOWebSocketQueue (logged); the others keep every broadcast`,
  { timeout: 55000 }, async () => {
    const url = sioWsUrl(inst);
    const fast = await connectMany(url, FAST, { concurrency: 4 });
    const sender = await SioWs.connect(url);
    const slow = await SioWs.connect(url);
    try {
      if (oneChild) assert.equal(inst.httpdChildren().length, 1, 'every client on the one child');
      slow.pause();
      const pad = 'x'.repeat(PAD);
      const t0 = Date.now();
      for (let seq = 0; seq < TICKS; seq++) {
        sender.emit('bcast', { seq, t: Date.now(), pad });
        await sleep(GAP_MS);
      }
      const everyone = [...fast, sender];
      await waitFor(() => everyone.every((c) => c.all('tick').length >= TICKS || c.closed), 15000, 'the ticks')
        .catch(() => {});
      const state = everyone.map((c) => `port ${c.port}: ${c.all('tick').length}` +
        `${c.closed ? ` (closed ${c.closed.code} ${c.closed.reason})` : ''}`);
      assert.ok(everyone.every((c) => c.all('tick').length >= TICKS),
        `every active client receives all ${TICKS} ticks; got: ${state.join(', ')}; stalled client port ${slow.port}\n${logLines(inst, /socketio:(warn|debug).*(reading|closed|overflow|failed)/).slice(-30).join('\n')}`);
      const lat = [];
      for (const c of everyone) {
        const seqs = c.all('tick').map((e) => e.args[0].seq);
        assert.deepEqual(seqs, [...Array(TICKS).keys()], 'every tick, in order');
        for (const e of c.all('tick')) lat.push(e.at - e.args[0].t);
      }
      const sum = summary(lat);
      console.log(`${MPM}: ticks of ${PAD} B to ${everyone.length} active clients beside the stalled one: ` +
        `latency ms ${JSON.stringify(sum)}; storm ${Date.now() - t0} ms`);
      assert.ok(quantile(lat, 0.99) < 1000, `tick latency p99 ${sum.p99} ms < 1000 ms`);

      // the stalled client: dropped with its reason logged (warn) within the bound
      const reason = /\[socketio:warn\].*(SocketIOWebSocketQueue|queue overflow|too slow)/i;
      const logged = await waitFor(() => logLines(inst, reason).length > 0, 15000, 'the drop').then(() => true, () => false);
      if (!logged) {
        slow.resume();
        await sleep(2000);
        assert.fail(`no warn line saying the stalled client was dropped for its queue within 15 s of the storm's end; ` +
          `the stalled client (port ${slow.port}) is ${slow.closed ? `closed (${slow.closed.code})` : 'still open'} ` +
          `after reading ${slow.all('tick').length} of ${TICKS} ticks once resumed\n${inst.logs()}`);
      }
      const line = logLines(inst, reason)[0];
      console.log(`${MPM}: ${line}`);
      assert.ok(line.includes(`127.0.0.1:${slow.port}]`), `the line names the stalled client (port ${slow.port})`);
      slow.resume();
      const closed = await waitFor(() => slow.closed, 10000, 'the stalled client to be disconnected');
      const got = slow.all('tick').length;
      console.log(`${MPM}: stalled client closed with ${closed.code} after ${got} ticks`);
      assert.ok(got < TICKS, `the stalled client lost ticks (${got} of ${TICKS})`);
      assert.ok([1008, 1006].includes(closed.code), `close 1008 (policy) or dropped (1006): got ${closed.code}`);

      // and the others are still served
      sender.emit('bcast', { seq: 'after', t: Date.now(), pad: '' });
      for (const c of everyone) await c.until(() => c.all('tick').some((e) => e.args[0].seq === 'after'), 5000, 'tick after the drop');
    } finally {
      for (const c of [...fast, sender, slow]) c.terminate();
    }
  });

// The reactor never waits for siod (mpm_event, one child): siod is stopped
// (SIGSTOP) while one WebSocket client floods messages. The reactor queues
// what siod does not take up to SocketIORelayQueue and then stops reading
// the flooder (back-pressure, logged); meanwhile another client of the same
// child gets its WebSocket pings answered and a third its close handshake,
// each within a second, and the child's memory stays within the bound.
// Once siod runs again every flooded message arrives, in order, and the
// others' traffic flows. (The reactor used to write to siod under the
// link's lock and wait up to 10 s, stalling every client of the child, then
// drop the link.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  MPM, startInstance, sioConnect, RawWs, closeAll, ackOf, waitFor, sleep,
} from './harness.mjs';
import { logLines } from './scale-lib.mjs';
import { httpdMem, memGrowth } from './mem-lib.mjs';

process.env.MALLOC_ARENA_MAX = '1';

const NOT_EVENT = MPM !== 'event';
const QUEUE = 1024 * 1024;       // SocketIORelayQueue (its default, said explicitly)
const PAD = 8 * 1024;
const FLOOD = 800;               // 6.5 MB: far past the link's socket buffers and QUEUE
const STOPPED_MS = 11000;        // past the 10 s the reactor used to wait before dropping the link

let inst;
before(async () => {
  if (NOT_EVENT) return;
  inst = await startInstance('relay-queue', {
    app: 'testkit',
    // no heartbeat may end a session while siod is stopped
    pingInterval: 60000, pingTimeout: 60000,
    // the flood must reach siod whole: no event rate limit
    siodExtraArgs: ['--event-rate=0'],
    logLevel: 'warn socketio:debug',
    extraConf: [
      `SocketIORelayQueue ${QUEUE}`,
      'StartServers 1\nServerLimit 1\nMaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 50',
    ].join('\n'),
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

/** A raw WebSocket past the Engine.IO open packet (ws.sid: its session). */
async function rawClient() {
  const ws = await RawWs.connect(inst);
  const open = await ws.nextText();
  assert.match(open, /^0\{/);
  ws.sid = JSON.parse(open.slice(1)).sid;
  return ws;
}

/**
 * Emits n messages of pad bytes each without waiting (to an empty room: siod
 * acknowledges each, the client is sent nothing else); returns the list the
 * acknowledged indexes are pushed to, in the order siod handled them.
 */
function flood(socket, n, pad) {
  const acked = [];
  for (let i = 0; i < n; i++) {
    socket.emit('to', { rooms: ['nobody'], event: 'x', args: [i, pad] }, (ok) => {
      assert.equal(ok, true);
      acked.push(i);
    });
  }
  return acked;
}

/** Sends a WebSocket ping; resolves with the ms until its pong. */
async function pingRtt(ws, tag) {
  const t0 = Date.now();
  ws.send(9, Buffer.from(tag));
  const f = await ws.next(5000);
  assert.ok(f, `connection open for ping ${tag}`);
  assert.equal(f.opcode, 10, `pong for ${tag}`);
  assert.equal(f.payload.toString(), tag);
  return Date.now() - t0;
}

test(`${MPM}: with siod stopped, a flood from one client is back-pressured at SocketIORelayQueue; the reactor keeps answering the others; nothing is lost`,
  { timeout: 90000, skip: NOT_EVENT }, async () => {
    const flooder = await sioConnect(inst, '/', { transports: ['websocket'] });
    const pinger = await rawClient();
    const closer = await rawClient();
    pinger.sendText('40');
    assert.match(await pinger.nextText(), /^40\{/);
    assert.match(await pinger.nextText(), /^42\["welcome"/);
    assert.deepEqual(await ackOf(flooder, 'echo', ['before']), ['before']);
    assert.equal(inst.httpdChildren().length, 1, 'every client on the one child');
    await sleep(300);
    const base = httpdMem(inst);
    let peak = 0;
    const sample = setInterval(() => { peak = Math.max(peak, memGrowth(inst, base).rss); }, 50);
    const pad = 'f'.repeat(PAD);
    const siod = inst.siodPid;
    const stoppedAt = Date.now();
    process.kill(siod, 'SIGSTOP');
    let stopped = true;
    try {
      const acked = flood(flooder, FLOOD, pad);
      // the flood reaches the child and fills what siod does not take
      await sleep(1500);

      // the reactor answers at once, however long siod stays stopped
      const rtts = [];
      for (let i = 0; i < 3; i++) {
        rtts.push(await pingRtt(pinger, `p${i}`));
        await sleep(200);
      }
      console.log(`${MPM}: ping round trips with siod stopped: ${rtts.join(', ')} ms`);
      for (const ms of rtts) assert.ok(ms < 1000, `pong within 1 s (took ${ms} ms)`);
      const t0 = Date.now();
      closer.send(8, Buffer.from([0x03, 0xe8]));
      const { code } = await closer.closeCode(5000);
      const closeMs = Date.now() - t0;
      assert.equal(code, 1000, 'the close is echoed');
      assert.ok(closeMs < 1000, `close answered within 1 s (took ${closeMs} ms)`);

      // the flooder was held back at the bound, and that was said once
      const held = await waitFor(() => logLines(inst, /\[socketio:warn\].*SocketIORelayQueue/).length > 0, 5000,
        'the back-pressure line').then(() => true, () => false);
      assert.ok(held, `back-pressure logged at warn\n${inst.logs()}`);
      await sleep(500);
      clearInterval(sample);
      peak = Math.max(peak, memGrowth(inst, base).rss);
      console.log(`${MPM}: child grew by at most ${peak} KiB while ${FLOOD * PAD / 1024} KiB were flooded; ` +
        `SocketIORelayQueue ${QUEUE / 1024} KiB`);
      // the queue, the flooder's last read (64 KB) and what serving touches
      assert.ok(peak < QUEUE / 1024 + 3 * 1024, `child growth ${peak} KiB stays within the bound + 3 MiB`);
      // however long siod stays stopped
      await sleep(Math.max(0, STOPPED_MS - (Date.now() - stoppedAt)));
      assert.ok((await pingRtt(pinger, 'late')) < 1000, 'pong within 1 s after a long stop');
      assert.ok(flooder.connected, 'the flooder is held back, not dropped');

      process.kill(siod, 'SIGCONT');
      stopped = false;
      // every flooded message reaches siod, in order, none dropped
      await waitFor(() => acked.length === FLOOD, 30000, `${FLOOD} acks (got ${acked.length})`);
      assert.deepEqual(acked, Array.from({ length: FLOOD }, (_, i) => i));
      assert.deepEqual(await ackOf(flooder, 'echo', ['after'], 10000), ['after']);
      assert.ok(flooder.connected, 'the flooder stayed connected');
      // the pinger's traffic flows through siod too
      pinger.sendText('42["echo","after"]');
      assert.equal(await pinger.nextText(10000), '42["echo","after"]');
      assert.ok((await pingRtt(pinger, 'last')) < 1000);
      // and siod heard of the close that came in while it was stopped
      await waitFor(() => inst.siodLog().includes(`session ${closer.sid} closed`), 5000, 'the closed session in siod');
      assert.doesNotMatch(inst.errorLog(), /dropping the relay link|Socket\.IO daemon unavailable/,
        'the relay link was never dropped');
    } finally {
      clearInterval(sample);
      if (stopped) process.kill(siod, 'SIGCONT');
      closeAll(flooder);
      pinger.destroy();
      closer.destroy();
    }
  });

test(`${MPM}: frames the reactor queues and frames request threads write never interleave on the relay link`,
  { timeout: 60000, skip: NOT_EVENT }, async () => {
    const flooders = await Promise.all([0, 1].map(() => sioConnect(inst, '/', { transports: ['websocket'] })));
    const pollers = await Promise.all([0, 1, 2].map(() => sioConnect(inst, '/', { transports: ['polling'] })));
    try {
      const big = 'b'.repeat(64 * 1024);
      const N = 150;                 // 2 x 9.6 MB through the reactor's queue
      const acked = flooders.map((f) => flood(f, N, big));
      // meanwhile request threads write their own frames (polling POSTs)
      const polled = await Promise.all(pollers.map(async (p, k) => {
        const got = [];
        for (let i = 0; i < 40; i++) got.push((await ackOf(p, 'echo', [k, i, 'x'.repeat(3000)], 20000))[1]);
        return got;
      }));
      for (const got of polled) assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i));
      for (const a of acked) {
        await waitFor(() => a.length === N, 40000, `${N} acks (got ${a.length})`);
        assert.deepEqual(a, Array.from({ length: N }, (_, i) => i));
      }
      assert.ok(flooders.every((f) => f.connected), 'the flooders stayed connected');
      assert.doesNotMatch(inst.siodLog(), /malformed|protocol error|link \d+\(pid \d+\) closed/, 'the link stayed sound');
    } finally {
      closeAll(flooders, pollers);
    }
  });

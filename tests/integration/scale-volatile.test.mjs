// A WebSocket client that stops reading while the server sends it only
// volatile messages (testkit "to" with volatile): the reactor drops those
// messages at SocketIOWebSocketQueue instead of the client, which stays
// connected and gets a normal emit once it reads again. The same storm
// without volatile drops the client (1008, logged at warn), as in
// scale-slow. mpm_event only: the bound on queued bytes is the reactor's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, waitFor, sleep } from './harness.mjs';
import { sioWsUrl, SioWs, logLines } from './scale-lib.mjs';

const EVENT = MPM === 'event';
const ONLY_EVENT = EVENT ? false
  : `MPM ${MPM} serves a WebSocket with a thread; the queue bound tested here is the mpm_event reactor's`;
const QUEUE = 500000;
const PAD = 50 * 1024;
const TICKS = 180;        // 9 MB: far past the stalled client's kernel buffers + QUEUE
const GAP_MS = 25;
const DROP = /\[socketio:warn\].*(SocketIOWebSocketQueue|queue overflow|too slow)/i;

let inst;
before(async () => {
  if (!EVENT) return;
  inst = await startInstance('scale-volatile', {
    app: 'testkit',
    // heartbeats slower than the test, so only the queue bound can drop a client
    pingInterval: 25000, pingTimeout: 20000, maxPayload: 100000,
    logLevel: 'warn socketio:debug',
    extraConf: [
      `SocketIOWebSocketQueue ${QUEUE}`,
      'StartServers 1\nServerLimit 1\nMaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 50',
    ].join('\n'),
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

// Pauses slow, has sender broadcast TICKS padded "v" events to everyone
// but itself (volatile or not), then resumes slow.
async function storm(sender, slow, volatile) {
  slow.pause();
  const pad = 'x'.repeat(PAD);
  for (let seq = 0; seq < TICKS; seq++) {
    sender.emit('to', { event: 'v', args: [{ seq, pad }], exceptMe: true, volatile });
    await sleep(GAP_MS);
  }
  // what siod sent has reached the module
  await sender.ack('rooms', [], 10000);
  await sleep(500);
}

test(`${MPM}: a stalled client sent only volatile messages is not dropped at SocketIOWebSocketQueue`,
  { timeout: 40000, skip: ONLY_EVENT }, async () => {
    const url = sioWsUrl(inst);
    const sender = await SioWs.connect(url);
    const slow = await SioWs.connect(url);
    try {
      await storm(sender, slow, true);
      slow.resume();
      await sleep(1000);
      const drops = logLines(inst, DROP).filter((l) => l.includes(`127.0.0.1:${slow.port}]`));
      assert.equal(drops.length, 0, `no drop logged for the stalled client:\n${drops.join('\n')}`);
      assert.equal(slow.closed, null, `the stalled client stays connected (${JSON.stringify(slow.closed)})`);
      const got = slow.all('v').length;
      console.log(`${MPM}: stalled client read ${got} of ${TICKS} volatile messages`);
      assert.ok(got < TICKS, `volatile messages were dropped (${got} of ${TICKS})`);
      sender.emit('to', { event: 'after', args: [1], exceptMe: true });
      await slow.until(() => slow.all('after').length > 0, 5000, 'a normal emit after resuming');
      const vdebug = logLines(inst, /socketio:debug.*volatile message\(s\) dropped so far/);
      assert.ok(vdebug.length > 0 && vdebug.length < 20, `the drops are counted at debug (${vdebug.length} lines)`);
    } finally {
      for (const c of [sender, slow]) c.terminate();
    }
  });

test(`${MPM}: the same storm without volatile drops the stalled client (1008, logged)`,
  { timeout: 40000, skip: ONLY_EVENT }, async () => {
    const url = sioWsUrl(inst);
    const sender = await SioWs.connect(url);
    const slow = await SioWs.connect(url);
    try {
      await storm(sender, slow, false);
      await waitFor(() => logLines(inst, DROP).some((l) => l.includes(`127.0.0.1:${slow.port}]`)),
        15000, 'the drop logged at warn');
      slow.resume();
      const closed = await waitFor(() => slow.closed, 10000, 'the stalled client to be disconnected');
      assert.ok([1008, 1006].includes(closed.code), `close 1008 (policy) or dropped (1006): got ${closed.code}`);
    } finally {
      for (const c of [sender, slow]) c.terminate();
    }
  });

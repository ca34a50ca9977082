// A WebSocket client that reads just enough to keep its TCP window from
// staying shut (a trickle) must not hold the server's resources forever.
// With prefork and worker its thread is bounded by
// SocketIOWebSocketWriteTimeout, a deadline on the whole write of each
// batch (not a timeout per progress, which a trickle never trips); under
// mpm_event the reactor never blocks on it and its queue bound
// (SocketIOWebSocketQueue) drops it. Either way: dropped within a few
// seconds, with the reason logged at warn.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, RawWs, waitFor, sleep } from './harness.mjs';
import { logLines } from './scale-lib.mjs';

const WRITE_TIMEOUT = 2;
// ten echoes of 900 KB: past what the kernel buffers for a client that
// does not read (up to ~4 MB here), yet within the thread's frame queue
// (SocketIOWebSocketQueue + 1 MB), so only the write itself can end the
// wait; under mpm_event the queue bound is what applies, so it is small
const MSG = 900000;
const COUNT = 10;
const QUEUE = MPM === 'event' ? 1000000 : 9000000;

let inst;
before(async () => {
  inst = await startInstance('ws-trickle', {
    maxPayload: 1000000,
    logLevel: 'warn socketio:debug',
    extraConf: [
      `SocketIOWebSocketWriteTimeout ${WRITE_TIMEOUT}`,
      `SocketIOWebSocketQueue ${QUEUE}`,
      MPM === 'event' ? '' : 'SocketIOWebSocketThreads 10',
    ].join('\n'),
  });
});
after(async () => { await inst?.stop(); });

test(`${MPM}: a client that reads a trickle is dropped within seconds and logged`,
  { timeout: 60000 }, async () => {
    const ws = await RawWs.connect(inst);
    assert.match(await ws.nextText(), /^0\{/);
    const port = ws.sock.localPort;
    // read one chunk every 2 s from now on
    ws.sock.pause();
    const trickle = setInterval(() => {
      ws.sock.resume();
      ws.sock.once('data', () => ws.sock.pause());
    }, 2000);
    const t0 = Date.now();
    try {
      const payload = '4' + 'x'.repeat(MSG - 1);
      for (let i = 0; i < COUNT && !ws.ended; i++) {
        ws.sendText(payload);
      }
      // a paused client sees the server's FIN only after the data before it:
      // the drop shows in error_log (and in siod, which is told at once)
      const reason = MPM === 'event' ? /\[socketio:warn\].*SocketIOWebSocketQueue/
        : /\[socketio:warn\].*SocketIOWebSocketWriteTimeout/;
      const mine = () => logLines(inst, reason).filter((l) => l.includes(`127.0.0.1:${port}]`));
      await waitFor(() => mine().length > 0, 20000, 'the drop of the trickling client').catch(() => {});
      const took = Date.now() - t0;
      console.log(`${MPM}: trickling client ${mine().length ? `dropped after ${took} ms: ${mine()[0]}` : 'not dropped'}`);
      assert.ok(mine().length > 0, `the trickling client (port ${port}) is dropped and logged at warn (${reason}) within 20 s\n${inst.logs()}`);
      assert.ok(took < (WRITE_TIMEOUT + 8) * 1000, `dropped within ${WRITE_TIMEOUT + 8} s (took ${took} ms)`);
      // and the connection is gone: the rest of what is buffered ends in a FIN or a reset
      ws.sock.resume();
      await waitFor(() => ws.ended, 20000, 'the end of the connection');
    } finally {
      clearInterval(trickle);
      ws.destroy();
    }
  });

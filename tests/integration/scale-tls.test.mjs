// WebSockets through mod_ssl (self-signed certificate from
// scripts/httpd-conf.sh, bench app): the official socket.io-client over
// wss — upgraded from HTTPS long-polling, and WebSocket only — connects,
// gets acks and a broadcast. Under mpm_event 200 TLS WebSockets are held by
// the reactor with httpd's thread count unchanged and all get a broadcast;
// under prefork and worker a smaller TLS crowd, within the default
// SocketIOWebSocketThreads, each on its own thread, gets the broadcast.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, sioSocket, sioConnected, ackOf, closeAll, withTimeout, sleep } from './harness.mjs';
import { httpdThreads, settledThreads, connectMany, sioWsUrl, summary } from './scale-lib.mjs';

const EVENT = MPM === 'event';
// the default cap is MaxRequestWorkers / 4: 50 (worker), 37 (prefork)
const CROWD = { event: 200, worker: 30, prefork: 20 }[MPM];
const TLS = { tls: true, rejectUnauthorized: false };

let inst;
let idle;
before(async () => {
  inst = await startInstance('scale-tls', { tls: true, app: 'bench', pingInterval: 2000, pingTimeout: 3000 });
  idle = await settledThreads(inst);
});
after(async () => { await sleep(200); await inst?.stop(); });

test(`${MPM}: official socket.io-client over wss (upgraded, and WebSocket only): connect, acks, broadcast`,
  { timeout: 30000 }, async () => {
    const up = sioSocket(inst, '/', { ...TLS });
    const upgraded = withTimeout(new Promise((r) => up.io.on('open', () => up.io.engine.once('upgrade', r))),
      10000, 'upgrade to wss');
    const only = sioSocket(inst, '/', { ...TLS, transports: ['websocket'] });
    try {
      await Promise.all([sioConnected(inst, up), sioConnected(inst, only)]);
      await upgraded;
      for (const s of [up, only]) {
        assert.equal(s.io.engine.transport.name, 'websocket');
        assert.match(String(s.io.engine.transport.ws?.url), /^wss:\/\//, 'over wss');
        assert.deepEqual(await ackOf(s, 'echo', ['é€😀', { n: [1, 2] }]), ['é€😀', { n: [1, 2] }]);
        const big = 'y'.repeat(64 * 1024);
        assert.deepEqual(await ackOf(s, 'echo', [big]), [big], '64 KB through TLS records');
      }
      only.emit('bcast', 77);
      assert.deepEqual(await up.rec.next('tick'), [77]);
      assert.deepEqual(await only.rec.next('tick'), [77]);
    } finally {
      closeAll(up, only);
    }
  });

test(`${MPM}: ${CROWD} TLS WebSockets all receive a broadcast` +
  (EVENT ? '; held by the reactor, httpd thread count unchanged' : ', each held by its own worker thread (prefork: child)'),
{ timeout: 45000 }, async () => {
  const t0 = Date.now();
  const crowd = await connectMany(sioWsUrl(inst, { tls: true }), CROWD, { concurrency: EVENT ? 10 : 5 });
  try {
    const connectMs = Date.now() - t0;
    await sleep(2500); // past a ping interval: the crowd answers pings over TLS
    const held = await settledThreads(inst);
    console.log(`${MPM}: ${CROWD} TLS WebSockets in ${connectMs} ms; httpd threads idle ${idle.total} ` +
      `(${idle.children} children), holding ${held.total} (${held.children} children)`);
    assert.ok(crowd.every((c) => !c.closed), 'every TLS client still open');
    assert.ok(crowd.every((c) => c.pings >= 1), `every TLS client pinged (min ${Math.min(...crowd.map((c) => c.pings))})`);
    if (EVENT) {
      // handshakes ran at most 10 at a time on 50 workers: no reason for
      // the MPM to start a child, and holding costs no thread
      assert.equal(held.total, idle.total, `httpd threads unchanged by ${CROWD} TLS WebSockets: ${JSON.stringify(held.perChild)}`);
    }
    const sender = crowd[0];
    const sent = Date.now();
    sender.emit('bcast', { n: 5150, t: sent });
    await Promise.all(crowd.map((c) => c.until(() => c.all('tick').some((e) => e.args[0].n === 5150), 10000, 'broadcast over TLS')));
    const lat = crowd.map((c) => c.all('tick').find((e) => e.args[0].n === 5150).at - sent);
    console.log(`${MPM}: broadcast over TLS to ${CROWD}: latency ms ${JSON.stringify(summary(lat))}`);
    for (const [i, c] of crowd.slice(0, 5).entries()) assert.deepEqual(await c.ack('echo', [i]), [i]);
    if (EVENT) assert.equal(httpdThreads(inst).total, idle.total, 'still no extra thread');
  } finally {
    for (const c of crowd) c.terminate();
  }
});

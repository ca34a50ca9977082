// siod restarts under connected socket.io-client clients (testkit app):
// after a clean stop (SIGTERM) and after a crash (SIGKILL), clients on every
// transport — and a Manager multiplexing two namespaces — notice, reconnect
// by themselves once siod is back (httpd untouched), get new ids, keep
// their auth, and can emit again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Manager } from 'socket.io-client';
import {
  startInstance, sioConnect, sioConnected, Recorder, nspUrl, closeAll, ackOf, withTimeout, sleep,
} from './harness.mjs';

let inst;
before(async () => {
  inst = await startInstance('sio-reconnect', { app: 'testkit', pingInterval: 2000, pingTimeout: 2000 });
});
after(async () => { await sleep(200); await inst?.stop(); });

const RECONNECT = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500, randomizationFactor: 0 };

/** Resolves with the disconnect reason once s has disconnected and connected again. */
function cycle(s, what) {
  return withTimeout(new Promise((resolve) => {
    s.once('disconnect', (reason) => s.once('connect', () => resolve(reason)));
  }), 20000, `${what}: disconnect and reconnect\n${inst.logs(10)}`);
}

for (const signal of ['SIGTERM', 'SIGKILL']) {
  test(`siod ${signal === 'SIGTERM' ? 'stopped' : 'crashed'} (${signal}) and restarted: clients reconnect by themselves and emit again`, { timeout: 60000 }, async () => {
    const kinds = { polling: ['polling'], websocket: ['websocket'], upgrade: undefined };
    const socks = {};
    for (const [k, transports] of Object.entries(kinds)) {
      socks[k] = await sioConnect(inst, '/', { ...RECONNECT, transports, auth: { who: k } });
    }
    try {
      if (socks.upgrade.io.engine.transport.name !== 'websocket') {
        await withTimeout(new Promise((r) => socks.upgrade.io.engine.once('upgrade', r)), 10000, 'upgrade');
      }
      const before1 = Object.fromEntries(Object.entries(socks).map(([k, s]) => [k, s.id]));
      const cycles = Object.entries(socks).map(([k, s]) => cycle(s, k));
      const gen = inst.siodGeneration;
      await inst.restartSiod({ signal, downMs: 300 });
      assert.equal(inst.siodGeneration, gen + 1);
      const reasons = await Promise.all(cycles);
      for (const [i, [k, s]] of Object.entries(socks).entries()) {
        assert.ok(['transport close', 'transport error', 'ping timeout'].includes(reasons[i]),
          `${k}: disconnect reason ${reasons[i]}`);
        assert.equal(s.connected, true);
        assert.notEqual(s.id, before1[k], `${k}: a new session after the restart`);
        assert.equal(await withTimeout(s.emitWithAck('echo', `${k} again`), 5000, `${k}: echo after reconnecting`),
          `${k} again`);
        const [w] = await ackOf(s, 'whoami');
        assert.equal(w.id, s.id);
        assert.deepEqual(w.auth, { who: k }, `${k}: auth sent again on reconnection`);
      }
    } finally {
      closeAll(Object.values(socks));
    }
  });
}

test('a Manager multiplexing /a and /b over polling reconnects both after a crash', { timeout: 60000 }, async () => {
  const mgr = new Manager(nspUrl(inst, ''), { path: '/socket.io/', transports: ['polling'], ...RECONNECT });
  const a = mgr.socket('/a');
  const b = mgr.socket('/b');
  a.rec = new Recorder(a);
  b.rec = new Recorder(b);
  try {
    await Promise.all([sioConnected(inst, a), sioConnected(inst, b)]);
    const engine1 = mgr.engine.id;
    const cycles = [cycle(a, '/a'), cycle(b, '/b')];
    await inst.restartSiod({ signal: 'SIGKILL', downMs: 300 });
    await Promise.all(cycles);
    assert.notEqual(mgr.engine.id, engine1);
    assert.equal(a.io, b.io, 'still one Manager');
    assert.equal((await ackOf(a, 'whoami'))[0].nsp, '/a');
    assert.equal((await ackOf(b, 'whoami'))[0].nsp, '/b');
    assert.equal((await ackOf(a, 'whoami'))[0].url, (await ackOf(b, 'whoami'))[0].url, 'both on the new connection');
  } finally {
    closeAll(a, b);
  }
});

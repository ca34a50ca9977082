// Engine.IO through mod_ssl: the official engine.io-client over HTTPS
// long-polling and over WSS (upgraded and WebSocket-only), with the echo
// app; small frames must leave at once despite mod_ssl's write coalescing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'engine.io-client';
import { startInstance, withTimeout } from './harness.mjs';

let inst;
before(async () => { inst = await startInstance('tls', { tls: true, pingInterval: 2000, pingTimeout: 2000 }); });
after(async () => { await inst?.stop(); });

async function roundTrip(opts, wantTransport) {
  const sock = new Socket(inst.tlsUrl(), { path: '/socket.io/', rejectUnauthorized: false, ...opts });
  const queue = [];
  let wake = null;
  sock.on('message', (m) => { queue.push(m); wake?.(); });
  const next = () => withTimeout((async () => {
    while (!queue.length) await new Promise((r) => { wake = r; });
    return queue.shift();
  })(), 5000, 'echo over TLS');
  await withTimeout(new Promise((resolve, reject) => {
    sock.once('open', resolve);
    sock.once('error', (e) => reject(new Error(`TLS client error: ${e?.message || e}\n${inst.logs()}`)));
  }), 10000, 'open over TLS');
  if (wantTransport === 'websocket' && sock.transport.name !== 'websocket') {
    await withTimeout(new Promise((r) => sock.once('upgrade', r)), 10000, 'upgrade over TLS');
  }
  assert.equal(sock.transport.name, wantTransport);
  for (const m of ['a', 'small frames', 'é€😀'.repeat(100)]) {
    sock.send(m);
    assert.equal(await next(), m);
  }
  sock.send(new Uint8Array([9, 8, 7]));
  assert.deepEqual([...new Uint8Array(await next())], [9, 8, 7]);
  sock.close();
}

test('HTTPS long-polling: open and echo', { timeout: 30000 }, async () => {
  await roundTrip({ transports: ['polling'] }, 'polling');
});

test('WSS after upgrade from HTTPS polling: echo', { timeout: 30000 }, async () => {
  await roundTrip({}, 'websocket');
});

test('WSS only: echo', { timeout: 30000 }, async () => {
  await roundTrip({ transports: ['websocket'] }, 'websocket');
});

test('plain HTTP keeps working beside TLS', { timeout: 30000 }, async () => {
  const sock = new Socket(inst.url(), { path: '/socket.io/', transports: ['websocket'] });
  await withTimeout(new Promise((r) => sock.once('open', r)), 10000, 'open over HTTP');
  const got = withTimeout(new Promise((r) => sock.once('message', r)), 5000, 'echo');
  sock.send('plain');
  assert.equal(await got, 'plain');
  sock.close();
});

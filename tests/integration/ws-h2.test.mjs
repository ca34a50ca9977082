// WebSockets over HTTP/2 (RFC 8441) through mod_ssl + mod_http2 with
// H2WebSockets On: node:http2 clients send the extended CONNECT and speak
// RFC 6455 frames on the stream (h2-lib.mjs). WebSocket-only and upgraded
// from long-polling on the same HTTP/2 connection, seen by the server as
// HTTP/2 (its access log); SocketIOWebSocketThreads counts them; a stream
// the client resets ends its WebSocket and gives the thread back; without
// H2WebSockets no WebSocket is served over HTTP/2. Under prefork
// mod_http2 stays inactive: TLS clients get HTTP/1.1 there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import tls from 'node:tls';
import zlib from 'node:zlib';
import {
  startInstance, parseOpen, waitFor, withTimeout, childPids, MPM,
} from './harness.mjs';
import { h2Session, h2Request, h2WebSocket } from './h2-lib.mjs';
import { graceful } from './scale-lib.mjs';

const PREFORK = MPM === 'prefork';
let inst;   // HTTP/2 with H2WebSockets On
let capped; // the same with SocketIOWebSocketThreads 1
let nows;   // HTTP/2 with H2WebSockets Off
let few;    // H2MaxWorkers 4: three for WebSockets, one for the rest
before(async () => {
  inst = await startInstance('ws-h2', { tls: true, h2: true, pingInterval: 1000, pingTimeout: 3000, wsDeflate: true });
  capped = await startInstance('ws-h2-cap', { tls: true, h2: true, extraConf: 'SocketIOWebSocketThreads 1' });
  nows = await startInstance('ws-h2-nows', { tls: true, h2: 'nows' });
  few = await startInstance('ws-h2-few', {
    tls: true, h2: true, extraConf: 'H2MinWorkers 1\nH2MaxWorkers 4\nSocketIOWebSocketThreads 100',
  });
});
after(async () => { await Promise.all([inst?.stop(), capped?.stop(), nows?.stop(), few?.stop()]); });

const skip = PREFORK ? 'mod_http2 does not run under prefork' : false;

const accessLog = (i) => fs.readFileSync(i.paths.ACCESS_LOG, 'utf8');

/** Reads messages, answering the server's pings, until one is not a ping. */
async function nextMessage(ws, timeout = 5000) {
  for (;;) {
    const f = await ws.next(timeout);
    assert.ok(f, 'stream ended');
    if (f.opcode === 1 && f.payload.toString() === '2') { ws.sendText('3'); continue; }
    return f;
  }
}

test('prefork: mod_http2 inactive, a TLS client gets HTTP/1.1', { skip: !PREFORK }, async () => {
  const alpn = await withTimeout(new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port: inst.tlsPort, ALPNProtocols: ['h2', 'http/1.1'],
      rejectUnauthorized: false }, () => { resolve(sock.alpnProtocol); sock.destroy(); });
    sock.once('error', reject);
  }), 5000, 'TLS handshake');
  assert.equal(alpn, 'http/1.1', 'no HTTP/2 under prefork');
  const log = fs.readFileSync(inst.paths.ERROR_LOG, 'utf8');
  assert.match(log, /AH10034/, 'mod_http2 says prefork is not supported');
});

test('WebSocket-only over HTTP/2: echo, large messages both ways, pings; logged as HTTP/2.0',
  { skip, timeout: 30000 }, async () => {
    const session = await h2Session(inst);
    assert.equal(session.connectProtocol, true, 'SETTINGS_ENABLE_CONNECT_PROTOCOL');
    const ws = await h2WebSocket(session);
    const open = parseOpen((await ws.next()).payload.toString());
    ws.sendText('4hello');
    assert.equal((await nextMessage(ws)).payload.toString(), '4hello');
    ws.send(2, Buffer.from([4, 1, 2, 3]));
    const bin = await nextMessage(ws);
    assert.equal(bin.opcode, 2);
    assert.deepEqual([...bin.payload], [4, 1, 2, 3]);
    // beyond the stream's flow-control window and mod_http2's buffers
    const big = '4' + 'é'.repeat(150000);
    ws.sendText(big);
    assert.equal((await nextMessage(ws, 10000)).payload.toString(), big);
    // alive across pings (pingInterval 1 s): each answered on the stream
    let pings = 0;
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      const f = await ws.next(3000);
      assert.ok(f, 'stream ended');
      assert.equal(f.payload.toString(), '2');
      pings++;
      ws.sendText('3');
    }
    assert.ok(pings >= 2, `pings seen: ${pings}`);
    ws.sendText('4still');
    assert.equal((await nextMessage(ws)).payload.toString(), '4still');
    ws.send(8, Buffer.from([0x03, 0xe8]));
    assert.equal((await ws.closeCode()).code, 1000);
    await withTimeout(new Promise((r) => (ws.stream.closed ? r() : ws.stream.once('close', r))), 5000,
      'the stream ends with the WebSocket');
    session.close();
    await waitFor(() => /"GET \/socket\.io\/\?EIO=4&transport=websocket HTTP\/2\.0" 101 /.test(accessLog(inst)),
      5000, 'the WebSocket in the access log as HTTP/2.0');
    assert.ok(open.sid);
  });

test('permessage-deflate over HTTP/2: agreed in the 200, messages compressed both ways', { skip, timeout: 30000 }, async () => {
  const TAIL = Buffer.from([0, 0, 0xff, 0xff]);
  const session = await h2Session(inst);
  const ws = await h2WebSocket(session, {}, { extensions: 'permessage-deflate; client_max_window_bits' });
  assert.match(String(ws.headers['sec-websocket-extensions']), /^permessage-deflate/);
  await ws.next();
  const text = '4' + 'compressible '.repeat(2000);
  const z = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  ws.send(1, z.subarray(0, -4), { rsv: 4 });
  const f = await nextMessage(ws);
  assert.equal(f.rsv, 4, 'the echo comes compressed');
  assert.equal(zlib.inflateRawSync(Buffer.concat([f.payload, TAIL]),
    { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString('utf8'), text);
  ws.send(8, Buffer.from([0x03, 0xe8]));
  assert.equal((await ws.closeCode()).code, 1000);
  session.close();
});

test('upgrade from long-polling to a WebSocket, both over one HTTP/2 connection', { skip, timeout: 30000 }, async () => {
  const session = await h2Session(inst);
  const res = await h2Request(session, 'GET', '/socket.io/?EIO=4&transport=polling');
  assert.equal(res.status, 200);
  const open = parseOpen(res.body);
  assert.deepEqual(open.upgrades, ['websocket']);
  const ws = await h2WebSocket(session, { sid: open.sid });
  ws.sendText('2probe');
  assert.equal((await nextMessage(ws)).payload.toString(), '3probe');
  ws.sendText('5');
  ws.sendText('4upgraded');
  assert.equal((await nextMessage(ws)).payload.toString(), '4upgraded');
  ws.send(8, Buffer.from([0x03, 0xe8]));
  assert.equal((await ws.closeCode()).code, 1000);
  session.close();
  await waitFor(() => accessLog(inst).split('\n').some((l) =>
    l.includes(`transport=websocket&sid=${open.sid} HTTP/2.0" 101 `)), 5000, 'the upgrade logged as HTTP/2.0');
});

test('SocketIOWebSocketThreads 1: a second WebSocket over HTTP/2 is refused 503, polling still served',
  { skip, timeout: 30000 }, async () => {
    const session = await h2Session(capped);
    const first = await h2WebSocket(session);
    await first.next();
    const err = await h2WebSocket(session).catch((e) => e);
    assert.equal(err.status, 503, `second WebSocket: ${err.message}`);
    const res = await h2Request(session, 'GET', '/socket.io/?EIO=4&transport=polling');
    assert.equal(res.status, 200, 'long-polling beside it');
    // the first still works
    first.sendText('4one');
    assert.equal((await nextMessage(first)).payload.toString(), '4one');
    first.send(8, Buffer.from([0x03, 0xe8]));
    assert.equal((await first.closeCode()).code, 1000);
    session.close();
  });

test('H2MaxWorkers 4: WebSockets over HTTP/2 take three of them, the fourth stays for other streams',
  { skip, timeout: 30000 }, async () => {
    const session = await h2Session(few);
    const held = [];
    for (let i = 0; i < 3; i++) {
      held.push(await h2WebSocket(session));
      await held[i].next();
    }
    const err = await h2WebSocket(session).catch((e) => e);
    assert.equal(err.status, 503, `fourth WebSocket: ${err.message}`);
    const res = await h2Request(session, 'GET', '/socket.io/?EIO=4&transport=polling');
    assert.equal(res.status, 200, 'a request beside them is served');
    for (const ws of held) {
      ws.sendText('4x');
      assert.equal((await nextMessage(ws)).payload.toString(), '4x');
      ws.send(8, Buffer.from([0x03, 0xe8]));
      assert.equal((await ws.closeCode()).code, 1000);
    }
    session.close();
    assert.match(fs.readFileSync(few.paths.ERROR_LOG, 'utf8'), /WebSocket over HTTP\/2 refused \(503\)/);
  });

test('a stream reset by the client ends its WebSocket: session gone, thread given back, child alive',
  { skip, timeout: 30000 }, async () => {
    const children = childPids(capped.httpd.pid);
    const session = await h2Session(capped);
    // the slot of the previous test's WebSocket may take a moment to go
    let ws = null;
    await waitFor(async () => { ws = await h2WebSocket(session).catch(() => null); return ws; },
      5000, 'a WebSocket slot');
    const { sid } = parseOpen((await ws.next()).payload.toString());
    ws.stream.close(http2.constants.NGHTTP2_CANCEL);
    // siod forgets the session (the module told it WS_CLOSED) ...
    await waitFor(async () => {
      const r = await h2Request(session, 'GET', `/socket.io/?EIO=4&transport=polling&sid=${sid}`);
      return r.status === 400;
    }, 5000, 'the reset WebSocket\'s session gone');
    // ... and the one thread slot is free again
    let again = null;
    await waitFor(async () => { again = await h2WebSocket(session).catch(() => null); return again; },
      5000, 'a WebSocket after the reset');
    await again.next();
    again.sendText('4after reset');
    assert.equal((await nextMessage(again)).payload.toString(), '4after reset');
    // a reset while the server writes: a stream of messages under way
    again.sendText('4' + 'x'.repeat(500000));
    again.stream.close(http2.constants.NGHTTP2_CANCEL);
    let third = null;
    await waitFor(async () => { third = await h2WebSocket(session).catch(() => null); return third; },
      5000, 'a WebSocket after a reset during a write');
    await third.next();
    // the whole connection dropped (no GOAWAY, no RST_STREAM)
    session.tlsSocket.destroy();
    const later = await h2Session(capped);
    let fourth = null;
    await waitFor(async () => { fourth = await h2WebSocket(later).catch(() => null); return fourth; },
      5000, 'a WebSocket after the connection dropped');
    fourth.send(8, Buffer.from([0x03, 0xe8]));
    assert.equal((await fourth.closeCode()).code, 1000);
    later.close();
    assert.deepEqual(childPids(capped.httpd.pid), children, 'no child died');
  });

test('graceful restart: a WebSocket over HTTP/2 is closed with 1001, the new children serve new ones',
  { skip, timeout: 30000 }, async () => {
    const session = await h2Session(inst);
    const ws = await h2WebSocket(session);
    await ws.next();
    graceful(inst);
    const { code } = await ws.closeCode(10000);
    assert.equal(code, 1001, `close code ${code}\n${inst.logs()}`);
    session.close();
    let again = null;
    await waitFor(async () => {
      const s2 = await h2Session(inst).catch(() => null);
      again = s2 && await h2WebSocket(s2).catch(() => { s2.close(); return null; });
      if (again) again.session = s2;
      return again;
    }, 10000, 'a WebSocket over HTTP/2 after the restart');
    await again.next();
    again.send(8, Buffer.from([0x03, 0xe8]));
    assert.equal((await again.closeCode()).code, 1000);
    again.session.close();
  });

test('HTTP/2 without H2WebSockets: no extended CONNECT offered, a WebSocket request is answered 400',
  { skip, timeout: 30000 }, async () => {
    const session = await h2Session(nows);
    assert.equal(session.connectProtocol, false);
    const res = await h2Request(session, 'GET', '/socket.io/?EIO=4&transport=websocket');
    assert.equal(res.status, 400);
    const poll = await h2Request(session, 'GET', '/socket.io/?EIO=4&transport=polling');
    assert.equal(poll.status, 200, 'long-polling over HTTP/2');
    session.close();
  });

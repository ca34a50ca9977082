// permessage-deflate (RFC 7692, SocketIOWebSocketCompression): agreed only
// when on and offered in a form the server takes; the server's messages
// at the threshold or over go compressed (RSV1) and smaller ones plain;
// the client's compressed messages are inflated, held to the maximum
// payload once inflated (1009), bad deflate data or bad UTF-8 closes with
// 1007; broadcasts reach compressing and plain clients alike; the
// official client (which offers permessage-deflate) works unchanged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import {
  startInstance, sioConnect, closeAll, ackOf, sleep, RawWs, parseOpen,
} from './harness.mjs';

const TAIL = Buffer.from([0, 0, 0xff, 0xff]);
const deflate = (s) => {
  const z = zlib.deflateRawSync(Buffer.from(s), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual(z.subarray(-4), TAIL);
  return z.subarray(0, -4);
};
const inflate = (b) => zlib.inflateRawSync(Buffer.concat([b, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString('utf8');
const OFFER = 'permessage-deflate; client_max_window_bits';

let on, off;
before(async () => {
  [on, off] = await Promise.all([
    startInstance('ws-deflate', { app: 'testkit', wsDeflate: true, maxPayload: 200000 }),
    startInstance('ws-deflate-off', { app: 'testkit' }),
  ]);
});
after(async () => { await sleep(200); await Promise.all([on?.stop(), off?.stop()]); });

/** A raw Socket.IO client on "/" over a WebSocket offering `extensions`. */
async function rawClient(inst, extensions) {
  const ws = await RawWs.connect(inst, {}, { extensions });
  const open = await ws.next();
  assert.equal(open.rsv, 0, 'a small message goes plain');
  assert.ok(parseOpen(open.payload.toString()).sid);
  ws.sendText('40');
  const conn = await ws.next();
  assert.match(conn.payload.toString(), /^40\{"sid"/);
  // the testkit application greets every socket
  assert.match(textOf(await ws.next()), /^42\["welcome"/);
  return ws;
}

/** The text of a server message, inflated when it came with RSV1. */
const textOf = (f) => (f.rsv & 4 ? inflate(f.payload) : f.payload.toString('utf8'));

test('agreed only when on and offered; big messages compressed both ways', { timeout: 30000 }, async () => {
  // off: no extension in the 101
  let ws = await RawWs.connect(off, {}, { extensions: OFFER });
  assert.doesNotMatch(ws.headers, /Sec-WebSocket-Extensions/i);
  ws.destroy();
  // on, but an offer the server does not take
  ws = await RawWs.connect(on, {}, { extensions: 'permessage-deflate; server_max_window_bits=10' });
  assert.doesNotMatch(ws.headers, /Sec-WebSocket-Extensions/i);
  ws.destroy();

  ws = await rawClient(on, OFFER);
  assert.match(ws.headers, /Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover/i);
  try {
    // the client sends compressed; the server answers a big message compressed
    const big = 'abc'.repeat(20000);
    ws.send(1, deflate(`42["emit-back",{"event":"big","args":["${big}"]}]`), { rsv: 4 });
    const f = await ws.next();
    assert.equal(f.rsv, 4, 'RSV1 on the big message');
    assert.ok(f.payload.length < 2000, `compressed to ${f.payload.length} bytes`);
    assert.equal(textOf(f), `42["big","${big}"]`);
    // a small one: plain, in both directions
    ws.sendText('42["emit-back",{"event":"small","args":["x"]}]');
    const g = await ws.next();
    assert.equal(g.rsv, 0);
    assert.equal(g.payload.toString(), '42["small","x"]');
    // fragments: RSV1 on the first only
    const z = deflate('42["emit-back",{"event":"frag","args":["yy"]}]');
    ws.send(1, z.subarray(0, 5), { rsv: 4, fin: false });
    ws.send(0, z.subarray(5));
    assert.equal(textOf(await ws.next()), '42["frag","yy"]');
    // messages stay independent (no context taken over)
    for (let i = 0; i < 3; i++) {
      ws.send(1, deflate(`42["emit-back",{"event":"n","args":[${i},"${'q'.repeat(3000)}"]}]`), { rsv: 4 });
      assert.equal(textOf(await ws.next()), `42["n",${i},"${'q'.repeat(3000)}"]`);
    }
  } finally {
    ws.destroy();
  }
});

test('bad compressed input: over the maximum once inflated 1009, bad data 1007, bad UTF-8 1007', { timeout: 30000 }, async () => {
  // a bomb: 300 KB of zeros inflates past SocketIOMaxPayload (200,000)
  let ws = await rawClient(on, OFFER);
  ws.send(1, deflate(`42["${'0'.repeat(300000)}"]`), { rsv: 4 });
  assert.equal((await ws.closeCode()).code, 1009);
  ws.destroy();

  ws = await rawClient(on, OFFER);
  ws.send(1, Buffer.from([0xff, 0xfe, 0xfd, 0x01, 0x02]), { rsv: 4 });
  assert.equal((await ws.closeCode()).code, 1007);
  ws.destroy();

  ws = await rawClient(on, OFFER);
  ws.send(1, deflate(Buffer.from([0x34, 0x32, 0xc3, 0x28])), { rsv: 4 });
  assert.equal((await ws.closeCode()).code, 1007);
  ws.destroy();

  // RSV1 without the extension agreed: a protocol error (1002)
  ws = await rawClient(on, undefined);
  ws.send(1, deflate('42["x"]'), { rsv: 4 });
  assert.equal((await ws.closeCode()).code, 1002);
  ws.destroy();

  // the server is fine
  const s = await sioConnect(on, '/');
  assert.deepEqual(await ackOf(s, 'echo', [1]), [1]);
  closeAll(s);
});

test('a broadcast: compressed once for clients that agreed, plain for the others', { timeout: 30000 }, async () => {
  const zipped = await Promise.all([rawClient(on, OFFER), rawClient(on, OFFER)]);
  const plain = await rawClient(on, undefined);
  const sender = await sioConnect(on, '/');
  try {
    const text = 'broadcast '.repeat(500);
    assert.deepEqual(await ackOf(sender, 'to', [{ event: 'b', args: [text] }]), [true]);
    for (const ws of zipped) {
      const f = await ws.next();
      assert.equal(f.rsv, 4);
      assert.equal(textOf(f), `42["b","${text}"]`);
    }
    const p = await plain.next();
    assert.equal(p.rsv, 0);
    assert.equal(p.payload.toString(), `42["b","${text}"]`);
  } finally {
    for (const ws of [...zipped, plain]) ws.destroy();
    closeAll(sender);
  }
});

test('the official client offers permessage-deflate and works compressed', { timeout: 30000 }, async () => {
  const s = await sioConnect(on, '/', { transports: ['websocket'] });
  try {
    const ext = s.io.engine.transport.ws.extensions;
    assert.match(String(ext), /permessage-deflate/);
    const big = 'z'.repeat(50000);
    const sock = s.io.engine.transport.ws._socket;
    const before = sock.bytesRead;
    assert.deepEqual(await ackOf(s, 'echo', [big, { k: 'é' }]), [big, { k: 'é' }]);
    assert.ok(sock.bytesRead - before < 5000, `read ${sock.bytesRead - before} bytes for 50 KB`);
  } finally {
    closeAll(s);
  }
});

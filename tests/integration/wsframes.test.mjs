// RFC 6455 framing rules enforced by mod_socketio, checked with hand-built
// frames on a raw TCP socket (node:net): each broken frame must be answered
// with a close frame carrying the right code (1002 protocol error, 1007
// invalid UTF-8), read from the wire.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, RawWs, parseOpen, wsFrame } from './harness.mjs';

let inst;
before(async () => { inst = await startInstance('wsframes', { pingInterval: 10000, pingTimeout: 5000 }); });
after(async () => { await inst?.stop(); });

/** Opens a raw WebSocket-only session and consumes the open packet. */
async function session() {
  const ws = await RawWs.connect(inst);
  const f = await ws.next();
  assert.ok(f, 'open packet frame');
  assert.equal(f.opcode, 1, 'open packet is a text frame');
  assert.equal(f.masked, false, 'server frames are not masked');
  parseOpen(f.payload.toString('utf8'));
  return ws;
}

async function expectClose(ws, code, what) {
  const r = await ws.closeCode(5000);
  assert.equal(r.code, code, `${what}: expected close ${code}, got ${r.code === null ? 'no close frame' : r.code}` +
    (r.frames.length ? ` after ${r.frames.length} other frame(s)` : '') + `\n${inst.logs(8)}`);
  ws.destroy();
}

test('raw client sanity: masked text frame echoed, fragmented text reassembled, ping answered with pong', async () => {
  const ws = await session();
  ws.sendText('4hi');
  let f = await ws.next();
  assert.equal(f.opcode, 1);
  assert.equal(f.payload.toString(), '4hi');
  ws.send(1, Buffer.from('4fra'), { fin: false });
  ws.send(0, Buffer.from('gmen'), { fin: false });
  ws.send(0, Buffer.from('ted'), { fin: true });
  f = await ws.next();
  assert.equal(f.payload.toString(), '4fragmented');
  ws.send(9, Buffer.from('ping-data'));
  f = await ws.next();
  assert.equal(f.opcode, 10, 'pong');
  assert.equal(f.payload.toString(), 'ping-data');
  ws.send(8, Buffer.from([0x03, 0xe8]));
  const r = await ws.closeCode();
  assert.equal(r.code, 1000, 'close echoed with 1000');
  ws.destroy();
});

test('unmasked client frame → close 1002', async () => {
  const ws = await session();
  ws.write(wsFrame(1, Buffer.from('4hello'), { mask: false }));
  await expectClose(ws, 1002, 'unmasked frame');
});

test('RSV1 bit set without an extension → close 1002', async () => {
  const ws = await session();
  ws.send(1, Buffer.from('4hello'), { rsv: 4 });
  await expectClose(ws, 1002, 'RSV1');
});

test('RSV2/RSV3 bits set → close 1002', async () => {
  const ws = await session();
  ws.send(1, Buffer.from('4hello'), { rsv: 3 });
  await expectClose(ws, 1002, 'RSV2+RSV3');
});

test('fragmented control frame (ping with FIN=0) → close 1002', async () => {
  const ws = await session();
  ws.send(9, Buffer.from('x'), { fin: false });
  await expectClose(ws, 1002, 'fragmented ping');
});

test('control frame over 125 bytes → close 1002', async () => {
  const ws = await session();
  ws.send(9, Buffer.alloc(126, 0x61));
  await expectClose(ws, 1002, '126-byte ping');
});

test('reserved opcode 3 → close 1002', async () => {
  const ws = await session();
  ws.send(3, Buffer.from('x'));
  await expectClose(ws, 1002, 'opcode 3');
});

test('continuation frame with nothing to continue → close 1002', async () => {
  const ws = await session();
  ws.send(0, Buffer.from('x'));
  await expectClose(ws, 1002, 'stray continuation');
});

test('invalid UTF-8 in a text frame → close 1007', async () => {
  const ws = await session();
  ws.send(1, Buffer.from([0x34, 0xc3, 0x28]));
  await expectClose(ws, 1007, 'invalid UTF-8');
});

test('invalid UTF-8 split across fragments → close 1007', async () => {
  const ws = await session();
  ws.send(1, Buffer.from([0x34, 0xe2, 0x82]), { fin: false });
  ws.send(0, Buffer.from([0x41]), { fin: true });
  await expectClose(ws, 1007, 'invalid UTF-8 across fragments');
});

// Bad input over HTTP and the `ws` package, each with its exact answer:
// protocol version, transport, handshake method, unknown sid, CORS preflight,
// payload limits (413 / close 1009) and malformed payloads, which close only
// the offending session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  startInstance, request, pollHandshake, pollGet, pollPost, decodePayload, parseOpen,
  waitSessionGone, errorBody, withTimeout,
} from './harness.mjs';

const MAX_PAYLOAD = 10000;

let inst;
before(async () => {
  inst = await startInstance('badinput', {
    pingInterval: 5000, pingTimeout: 5000, maxPayload: MAX_PAYLOAD, cors: '*',
  });
});
after(async () => { await inst?.stop(); });

async function expectError(method, query, status, body, opts = {}) {
  const r = await request(method, inst.eioUrl(query), opts);
  assert.equal(r.status, status, `${method} ?${new URLSearchParams(query)} → ${r.status} ${r.body}`);
  assert.match(r.headers['content-type'] || '', /^application\/json/);
  assert.deepEqual(errorBody(r), body);
  return r;
}

const UNSUPPORTED = { code: 5, message: 'Unsupported protocol version' };

test('missing EIO → 400 code 5', async () => {
  await expectError('GET', { transport: 'polling' }, 400, UNSUPPORTED);
});

test('EIO=3 and EIO=abc → 400 code 5', async () => {
  await expectError('GET', { EIO: '3', transport: 'polling' }, 400, UNSUPPORTED);
  await expectError('GET', { EIO: 'abc', transport: 'polling' }, 400, UNSUPPORTED);
});

test('unknown transport → 400 code 0 "Transport unknown"', async () => {
  await expectError('GET', { EIO: '4', transport: 'flash' }, 400, { code: 0, message: 'Transport unknown' });
  await expectError('GET', { EIO: '4' }, 400, { code: 0, message: 'Transport unknown' });
});

test('POST or PUT handshake → 400 code 2 "Bad handshake method"', async () => {
  const bad = { code: 2, message: 'Bad handshake method' };
  await expectError('POST', { EIO: '4', transport: 'polling' }, 400, bad, { body: '4x' });
  await expectError('PUT', { EIO: '4', transport: 'polling' }, 400, bad, { body: '4x' });
});

test('unknown sid → 400 code 1 "Session ID unknown" (GET and POST)', async () => {
  const unknown = { code: 1, message: 'Session ID unknown' };
  await expectError('GET', { EIO: '4', transport: 'polling', sid: 'AAAAAAAAAAAAAAAAAAAA' }, 400, unknown);
  await expectError('POST', { EIO: '4', transport: 'polling', sid: 'AAAAAAAAAAAAAAAAAAAA' }, 400, unknown, { body: '4x' });
  await expectError('GET', { EIO: '4', transport: 'polling', sid: 'short' }, 400, unknown);
});

test('CORS preflight OPTIONS is answered with the allowed origin and methods', async () => {
  const r = await request('OPTIONS', inst.eioUrl({ EIO: '4', transport: 'polling' }), {
    headers: {
      Origin: 'http://example.com',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type',
    },
  });
  assert.ok([200, 204].includes(r.status), `OPTIONS → ${r.status} ${r.body}`);
  assert.ok(['*', 'http://example.com'].includes(r.headers['access-control-allow-origin']),
    `Access-Control-Allow-Origin: ${r.headers['access-control-allow-origin']}`);
  assert.match(r.headers['access-control-allow-methods'] || '', /POST/);
});

test('POST body over maxPayload → 413 and that session is closed', { timeout: 15000 }, async () => {
  const { sid, open } = await pollHandshake(inst);
  assert.equal(open.maxPayload, MAX_PAYLOAD);
  const r = await pollPost(inst, sid, '4' + 'x'.repeat(MAX_PAYLOAD + 10));
  assert.equal(r.status, 413, `${r.status} ${r.body}`);
  const { res } = await waitSessionGone(inst, sid, 5000);
  assert.equal(res.status, 400);
  assert.equal(errorBody(res).code, 1);
});

test('POST body of exactly maxPayload bytes is accepted', { timeout: 15000 }, async () => {
  const { sid } = await pollHandshake(inst);
  const msg = '4' + 'y'.repeat(MAX_PAYLOAD - 1);
  const r = await pollPost(inst, sid, msg);
  assert.equal(r.status, 200, `${r.status} ${r.body}`);
  const g = await pollGet(inst, sid, { timeout: 3000 });
  assert.equal(g.status, 200);
  assert.deepEqual(decodePayload(g.body), [msg]);
});

test('WebSocket message over maxPayload → close 1009', { timeout: 15000 }, async () => {
  const ws = new WebSocket(inst.wsUrl());
  ws.on('error', () => {});
  const closed = new Promise((r) => ws.on('close', (code) => r(code)));
  const first = new Promise((r) => ws.once('message', (d) => r(String(d))));
  await withTimeout(new Promise((r, j) => { ws.once('open', r); ws.once('error', j); }), 5000, 'ws open');
  parseOpen(await withTimeout(first, 3000, 'open packet'));
  ws.send('4' + 'z'.repeat(MAX_PAYLOAD + 10));
  assert.equal(await withTimeout(closed, 5000, 'close'), 1009);
});

for (const [what, payload] of [['unknown packet type "9"', '9'], ['bad base64 "b!!!"', 'b!!!']]) {
  test(`malformed payload (${what}) closes that session; another session keeps working`, { timeout: 15000 }, async () => {
    const victim = await pollHandshake(inst);
    const other = await pollHandshake(inst);
    const pending = pollGet(inst, other.sid, { timeout: 8000 });
    await pollPost(inst, victim.sid, payload).catch(() => null);
    const { res } = await waitSessionGone(inst, victim.sid, 5000);
    assert.equal(res.status, 400);
    // the other session is untouched
    const p = await pollPost(inst, other.sid, ['4still alive']);
    assert.equal(p.status, 200);
    const g = await pending;
    assert.equal(g.status, 200);
    assert.deepEqual(decodePayload(g.body), ['4still alive']);
  });
}

// Long-polling answers compressed by Apache's own mod_deflate, configured
// as docs/directives.md shows ("Compressing long-polling answers"): a
// client that sends Accept-Encoding: gzip gets gzip bodies (handshake,
// an answer held then released by an event, a large one), a client that
// does not gets them plain, and the official client works under it over
// polling and WebSocket alike.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import {
  startInstance, sioConnect, closeAll, ackOf, sleep, request, decodePayload, parseOpen,
  pollUrl, pollPost,
} from './harness.mjs';

const MODS = '/usr/lib/apache2/modules';
let inst;
before(async () => {
  inst = await startInstance('polling-deflate', {
    app: 'testkit', pingInterval: 10000,
    extraConf: [
      `LoadModule filter_module ${MODS}/mod_filter.so`,
      `LoadModule deflate_module ${MODS}/mod_deflate.so`,
      '<Location /socket.io/>',
      '    AddOutputFilterByType DEFLATE text/plain application/json',
      '</Location>',
    ].join('\n'),
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

const gz = { 'Accept-Encoding': 'gzip' };
const body = (res) => (res.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(res.raw) : res.raw).toString('utf8');

test('gzip for clients that ask, plain for the others', { timeout: 30000 }, async () => {
  let res = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }), { headers: gz });
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-encoding'], 'gzip');
  const { sid } = parseOpen(decodePayload(body(res))[0]);
  assert.equal(sid.length, 20);

  res = await pollPost(inst, sid, ['40']);
  assert.equal(res.status, 200);
  res = await request('GET', pollUrl(inst, sid), { headers: gz });
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.match(decodePayload(body(res))[0], /^40\{"sid":/);

  // a held GET, answered when the server emits: compressed too
  const held = request('GET', pollUrl(inst, sid), { headers: gz, timeout: 15000 });
  await sleep(300);
  const big = 'x'.repeat(20000);
  res = await pollPost(inst, sid, [`421["emit-back",{"event":"big","args":["${big}"]}]`]);
  assert.equal(res.status, 200);
  res = await held;
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.ok(res.raw.length < 2000, `compressed: ${res.raw.length} bytes`);
  const packets = decodePayload(body(res));
  assert.ok(packets.some((p) => p === `42["big","${big}"]`), packets.map((p) => p.slice(0, 40)).join(' | '));

  // no Accept-Encoding: plain
  res = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }));
  assert.equal(res.headers['content-encoding'], undefined);
  assert.match(res.body, /^0\{"sid":/);
});

test('the official client over polling and WebSocket under mod_deflate', { timeout: 30000 }, async () => {
  const [P, W] = await Promise.all([
    sioConnect(inst, '/', { transports: ['polling'] }),
    sioConnect(inst, '/'),
  ]);
  try {
    for (const s of [P, W]) {
      assert.deepEqual(await ackOf(s, 'echo', ['hé', { n: 1 }]), ['hé', { n: 1 }]);
    }
    await W.rec.until(() => W.io.engine.transport.name === 'websocket', 5000, 'upgrade');
    assert.deepEqual(await ackOf(W, 'echo', ['y'.repeat(5000)]), ['y'.repeat(5000)]);
  } finally {
    closeAll(P, W);
  }
});

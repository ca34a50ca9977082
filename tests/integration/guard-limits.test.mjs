// siod's rate limits, configured small, with the official socket.io-client
// against real httpd + siod: a socket over --event-rate has its events
// dropped (an ack answered with an error object, an event without one not
// delivered) and, after --event-flood-drops drops, is disconnected; a
// client address over --handshake-rate gets 429 (polling and WebSocket
// alike), other addresses and loopback are served. Addresses come from
// X-Forwarded-For through mod_remoteip, as behind a proxy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  startInstance, request, pollPost, decodePayload, parseOpen, errorBody, withTimeout,
  sioConnect, once, closeAll, ackOf, sleep,
} from './harness.mjs';

const RATE = 5;
const BURST = 5;
const FLOOD = 10;
const HS_RATE = 1;
const HS_BURST = 3;

let inst;
before(async () => {
  inst = await startInstance('guard-limits', {
    app: 'testkit', pingInterval: 10000, pingTimeout: 10000,
    extraConf: [
      'LoadModule remoteip_module /usr/lib/apache2/modules/mod_remoteip.so',
      'RemoteIPHeader X-Forwarded-For',
      'RemoteIPInternalProxy 127.0.0.1',
    ].join('\n'),
    siodExtraArgs: [`--event-rate=${RATE}`, `--event-burst=${BURST}`,
      `--event-flood-drops=${FLOOD}`, '--event-flood-window=10000',
      `--handshake-rate=${HS_RATE}`, `--handshake-burst=${HS_BURST}`],
  });
});
after(async () => {
  await sleep(200);
  await inst?.stop();
});

const RATE_ERROR = { error: 'rate limit', message: `too many events: at most ${RATE} a second` };

/** Emits n acked "echo" events at once; resolves every ack's arguments. */
function echoes(socket, n) {
  return Promise.all(Array.from({ length: n }, (_, i) => ackOf(socket, 'echo', [i], 5000)));
}

test(`--event-rate ${RATE} (burst ${BURST}): events over it are dropped, their acks answered with an error object`,
  { timeout: 20000 }, async () => {
    const s = await sioConnect(inst, '/', { transports: ['websocket'] });
    try {
      const acks = await echoes(s, BURST + 4);
      // the burst passes (a token may come back meanwhile), the rest does not
      const ok = acks.filter((a) => typeof a[0] === 'number');
      const refused = acks.filter((a) => typeof a[0] !== 'number');
      assert.ok(ok.length >= BURST && ok.length <= BURST + 1, JSON.stringify(acks));
      assert.deepEqual(ok.map((a) => a[0]), [...ok.keys()]);
      assert.ok(refused.length >= 3);
      for (const a of refused) assert.deepEqual(a, [RATE_ERROR]);
      // the socket stays: after a pause the bucket refills
      await sleep(1000);
      assert.deepEqual(await ackOf(s, 'echo', ['again']), ['again']);
      assert.ok(s.connected);
      assert.match(inst.siodLog(), /event "echo" dropped: over --event-rate 5 a second \(burst 5\)/);
    } finally {
      closeAll(s);
    }
  });

test('an event over the rate without an ack is not delivered to the application', { timeout: 20000 }, async () => {
  const s = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    // "echo" without an ack emits "echo" back: only the burst's come back
    for (let i = 0; i < BURST + 5; i++) s.emit('echo', i);
    await sleep(1500);
    const back = s.rec.all('echo').map((a) => a[0]);
    assert.ok(back.length >= BURST && back.length <= BURST + 1, JSON.stringify(back));
    assert.deepEqual(back, [...back.keys()]);
    assert.ok(s.connected);
  } finally {
    closeAll(s);
  }
});

test(`--event-flood-drops ${FLOOD}: a socket that keeps flooding is disconnected after error acks`,
  { timeout: 20000 }, async () => {
    const s = await sioConnect(inst, '/', { transports: ['websocket'] });
    const other = await sioConnect(inst, '/', { transports: ['websocket'] });
    try {
      const gone = once(s, 'disconnect', 10000);
      const acks = [];
      // the burst, then FLOOD drops: the last one disconnects
      for (let i = 0; i < BURST + FLOOD; i++) {
        acks.push(new Promise((resolve) => s.timeout(5000).emit('echo', i, (err, ...res) => resolve(err ? 'none' : res))));
      }
      const [reason] = await gone;
      assert.equal(reason, 'io server disconnect');
      const answers = await Promise.all(acks);
      const refused = answers.filter((a) => a !== 'none' && typeof a[0] !== 'number');
      assert.ok(refused.length >= FLOOD - 1, JSON.stringify(answers));
      for (const a of refused) assert.deepEqual(a, [RATE_ERROR]);
      assert.match(inst.siodLog(), new RegExp(`on /: ${FLOOD} events dropped within 10000 ms \\(--event-flood-drops\\): disconnected`));
      // another socket of the server is not touched
      assert.deepEqual(await ackOf(other, 'echo', ['fine']), ['fine']);
    } finally {
      closeAll(s, other);
    }
  });

/* ---- handshakes per address ------------------------------------------------- */

function handshake(addr) {
  return request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }),
    { headers: addr ? { 'X-Forwarded-For': addr } : {} });
}

function wsHandshakeStatus(addr) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(inst.wsUrl(), { headers: { 'X-Forwarded-For': addr } });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => { resolve({ status: res.statusCode, body }); ws.terminate(); });
    });
    ws.on('open', () => { resolve({ status: 101 }); ws.close(); });
    ws.on('error', reject);
  }), 5000, 'WebSocket handshake');
}

async function closeSessions(sids) {
  for (const sid of sids) assert.equal((await pollPost(inst, sid, ['1'])).status, 200);
}

const HS_REFUSED = { code: 4, message: 'Too many handshakes from this address' };

test(`--handshake-rate ${HS_RATE} (burst ${HS_BURST}): the next handshake from that address gets 429 with a reason`,
  { timeout: 20000 }, async () => {
    const sids = [];
    try {
      for (let i = 0; i < HS_BURST; i++) {
        const r = await handshake('198.51.100.41');
        assert.equal(r.status, 200, `handshake ${i + 1}: ${r.status} ${r.body}`);
        sids.push(parseOpen(decodePayload(r.body)[0]).sid);
      }
      const r = await handshake('198.51.100.41');
      assert.equal(r.status, 429, r.body);
      assert.match(r.headers['content-type'] || '', /^application\/json/);
      assert.deepEqual(errorBody(r), HS_REFUSED);
      const ws = await wsHandshakeStatus('198.51.100.41');
      assert.equal(ws.status, 429);
      assert.deepEqual(JSON.parse(ws.body), HS_REFUSED);
      // another address has its own budget
      const o = await handshake('198.51.100.42');
      assert.equal(o.status, 200, o.body);
      sids.push(parseOpen(decodePayload(o.body)[0]).sid);
      // a token comes back after 1 / rate seconds
      await sleep(1100 / HS_RATE);
      const again = await handshake('198.51.100.41');
      assert.equal(again.status, 200, again.body);
      sids.push(parseOpen(decodePayload(again.body)[0]).sid);
      assert.match(inst.siodLog(), /handshake from 198\.51\.100\.41 refused: over --handshake-rate 1 a second \(burst 3\)/);
    } finally {
      await closeSessions(sids);
    }
  });

test('--handshake-rate does not count loopback clients', { timeout: 20000 }, async () => {
  const sids = [];
  try {
    for (let i = 0; i < HS_BURST + 3; i++) {
      const r = await handshake(null);
      assert.equal(r.status, 200, `loopback handshake ${i + 1}: ${r.status} ${r.body}`);
      sids.push(parseOpen(decodePayload(r.body)[0]).sid);
    }
  } finally {
    await closeSessions(sids);
  }
});

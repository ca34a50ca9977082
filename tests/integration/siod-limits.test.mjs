// siod's limits, each configured small, with the exact answer a client gets
// over it and proof that the same request under it is served: sessions in
// all (503) and per client address (429, loopback not counted; addresses
// come from X-Forwarded-For through mod_remoteip, as behind a proxy),
// handshake bytes (431), rooms per socket (the app's join fails with
// SIOD_ELIMIT, the client stays), dynamic namespaces and namespaces per
// session (CONNECT_ERROR), attachments and binary bytes per packet (the
// session closes, the cause is logged).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Manager } from 'socket.io-client';
import {
  startInstance, request, pollPost, decodePayload, parseOpen, errorBody, withTimeout,
  sioSocket, sioConnect, sioConnected, Recorder, nspUrl, once, closeAll, ackOf, waitFor, sleep,
} from './harness.mjs';

const MAX_SESSIONS = 6;
const PER_ADDR = 3;
const HS_BYTES = 4096;
const ROOMS = 3;
const DYN = 2;
const NSPS = 2;
const ATTACHMENTS = 3;
const BIN_BYTES = 100000;
const SIOD_ELIMIT = -6;

let hs;   // echo-engine: session and handshake limits
let sio;  // testkit: Socket.IO limits
before(async () => {
  hs = await startInstance('siod-limits-hs', {
    pingInterval: 10000, pingTimeout: 10000,
    extraConf: [
      'LoadModule remoteip_module /usr/lib/apache2/modules/mod_remoteip.so',
      'RemoteIPHeader X-Forwarded-For',
      'RemoteIPInternalProxy 127.0.0.1',
    ].join('\n'),
    siodExtraArgs: [`--max-sessions=${MAX_SESSIONS}`, `--max-sessions-per-address=${PER_ADDR}`,
      `--max-handshake-bytes=${HS_BYTES}`],
  });
  sio = await startInstance('siod-limits-sio', {
    app: 'testkit', pingInterval: 5000, pingTimeout: 5000,
    siodExtraArgs: [`--max-rooms-per-socket=${ROOMS}`, `--max-dynamic-namespaces=${DYN}`,
      `--max-namespaces-per-session=${NSPS}`, `--max-attachments=${ATTACHMENTS}`,
      `--max-binary-bytes=${BIN_BYTES}`],
  });
});
after(async () => {
  await sleep(200);
  await hs?.stop();
  await sio?.stop();
});

/* ---- sessions and handshakes (echo-engine) -------------------------------- */

/** A polling handshake from client address addr (X-Forwarded-For). */
function handshake(addr, headers = {}) {
  return request('GET', hs.eioUrl({ EIO: '4', transport: 'polling' }),
    { headers: { 'X-Forwarded-For': addr, ...headers } });
}

/** Handshakes that must succeed; resolves their sids. */
async function open(addr, n) {
  const sids = [];
  for (let i = 0; i < n; i++) {
    const r = await handshake(addr);
    assert.equal(r.status, 200, `handshake ${i + 1} from ${addr}: ${r.status} ${r.body}\n${hs.logs()}`);
    sids.push(parseOpen(decodePayload(r.body)[0]).sid);
  }
  return sids;
}

/** Closes polling sessions with a close packet (gone at once in siod). */
async function closeSessions(sids) {
  for (const sid of sids) assert.equal((await pollPost(hs, sid, ['1'])).status, 200);
}

/** A WebSocket-only handshake; resolves the HTTP status it was refused with (101: accepted). */
function wsHandshakeStatus(addr, headers = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(hs.wsUrl(), { headers: { 'X-Forwarded-For': addr, ...headers } });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => { resolve({ status: res.statusCode, body }); ws.terminate(); });
    });
    ws.on('open', () => { resolve({ status: 101 }); ws.close(); });
    ws.on('error', reject);
  }), 5000, 'WebSocket handshake');
}

function assertRefused(r, status, body) {
  assert.equal(r.status, status, `${r.status} ${r.body}`);
  assert.match(r.headers['content-type'] || '', /^application\/json/);
  assert.deepEqual(errorBody(r), body);
}

const TOO_MANY_ADDR = { code: 4, message: 'Too many sessions from this address' };
const TOO_MANY = { code: 4, message: 'Too many sessions' };
const TOO_LARGE = { code: 3, message: 'Handshake headers too large' };

test(`--max-sessions-per-address ${PER_ADDR}: the next handshake from that address gets 429, other addresses are served`,
  { timeout: 20000 }, async () => {
    const a = await open('198.51.100.1', PER_ADDR);
    let b = [];
    try {
      assertRefused(await handshake('198.51.100.1'), 429, TOO_MANY_ADDR);
      const ws = await wsHandshakeStatus('198.51.100.1');
      assert.equal(ws.status, 429);
      assert.deepEqual(JSON.parse(ws.body), TOO_MANY_ADDR);
      // another address is not refused
      b = await open('198.51.100.2', 1);
      // a session that closes gives its address's place back
      await closeSessions([a.pop()]);
      a.push(...await open('198.51.100.1', 1));
      assert.match(hs.siodLog(), /handshake from 198\.51\.100\.1 refused: 3 sessions open from that address \(--max-sessions-per-address\)/);
    } finally {
      await closeSessions([...a, ...b]);
    }
  });

test(`--max-sessions-per-address ${PER_ADDR} does not count loopback clients (this host, a proxy on it)`,
  { timeout: 20000 }, async () => {
    const sids = [];
    try {
      for (const addr of ['127.0.0.1', '::1']) {
        for (let i = 0; i <= PER_ADDR; i++) {
          const r = await request('GET', hs.eioUrl({ EIO: '4', transport: 'polling' }),
            addr === '127.0.0.1' ? {} : { headers: { 'X-Forwarded-For': addr } });
          assert.equal(r.status, 200, `${addr} #${i + 1}: ${r.status} ${r.body}`);
          sids.push(parseOpen(decodePayload(r.body)[0]).sid);
        }
        await closeSessions(sids.splice(0));
      }
    } finally {
      await closeSessions(sids);
    }
  });

test(`--max-sessions ${MAX_SESSIONS}: the next handshake from any address gets 503`, { timeout: 20000 }, async () => {
  const sids = [];
  try {
    sids.push(...await open('198.51.100.11', PER_ADDR));
    sids.push(...await open('198.51.100.12', MAX_SESSIONS - PER_ADDR));
    assertRefused(await handshake('198.51.100.13'), 503, TOO_MANY);
    assert.equal((await wsHandshakeStatus('198.51.100.13')).status, 503);
    await closeSessions([sids.pop()]);
    sids.push(...await open('198.51.100.13', 1));
    assert.match(hs.siodLog(), /handshake from 198\.51\.100\.13 refused: 6 sessions open \(--max-sessions\)/);
  } finally {
    await closeSessions(sids);
  }
});

test(`--max-handshake-bytes ${HS_BYTES}: a larger handshake gets 431 (polling and WebSocket), a smaller one is served`,
  { timeout: 20000 }, async () => {
    const big = { 'X-Big': 'b'.repeat(HS_BYTES) };
    assertRefused(await handshake('198.51.100.21', big), 431, TOO_LARGE);
    const ws = await wsHandshakeStatus('198.51.100.21', big);
    assert.equal(ws.status, 431);
    assert.deepEqual(JSON.parse(ws.body), TOO_LARGE);
    const r = await handshake('198.51.100.21', { 'X-Big': 'b'.repeat(HS_BYTES / 2) });
    assert.equal(r.status, 200, r.body);
    await closeSessions([parseOpen(decodePayload(r.body)[0]).sid]);
    assert.equal((await wsHandshakeStatus('198.51.100.21', { 'X-Big': 'b'.repeat(HS_BYTES / 2) })).status, 101);
    assert.match(hs.siodLog(), /handshake from 198\.51\.100\.21 refused: \d+ bytes of headers and query over --max-handshake-bytes 4096/);
  });

/* ---- the Socket.IO layer (testkit) ------------------------------------------ */

test(`--max-rooms-per-socket ${ROOMS}: a join past it fails with SIOD_ELIMIT; the client stays connected`,
  { timeout: 20000 }, async () => {
    const s = await sioConnect(sio, '/', { transports: ['websocket'] });
    try {
      for (const r of ['r1', 'r2', 'r3']) assert.deepEqual(await ackOf(s, 'join-rc', [r]), [0]);
      assert.deepEqual(await ackOf(s, 'join-rc', ['r4']), [SIOD_ELIMIT]);
      // a room it is in already is no new room
      assert.deepEqual(await ackOf(s, 'join-rc', ['r2']), [0]);
      assert.deepEqual((await ackOf(s, 'rooms'))[0].sort(), [s.id, 'r1', 'r2', 'r3'].sort());
      assert.ok(s.connected);
      // leaving one makes room for another
      assert.deepEqual(await ackOf(s, 'leave', ['r1']), [true]);
      assert.deepEqual(await ackOf(s, 'join-rc', ['r4']), [0]);
      assert.deepEqual(await ackOf(s, 'echo', ['still here']), ['still here']);
      assert.match(sio.siodLog(), /join refused: in 3 rooms on \/ \(--max-rooms-per-socket\)/);
    } finally {
      closeAll(s);
    }
  });

test(`--max-dynamic-namespaces ${DYN}: a CONNECT to a new dynamic namespace past it gets CONNECT_ERROR`,
  { timeout: 30000 }, async () => {
    const d1 = await sioConnect(sio, '/dyn-1');
    const d2 = await sioConnect(sio, '/dyn-2');
    const more = [];
    try {
      const d3 = sioSocket(sio, '/dyn-3');
      more.push(d3);
      const [err] = await once(d3, 'connect_error', 10000);
      assert.equal(err.message, 'Too many dynamic namespaces');
      // a live one still takes newcomers
      more.push(await sioConnect(sio, '/dyn-1'));
      assert.match(sio.siodLog(), /namespace \/dyn-3 \(pattern ~\^\/dyn-\[0-9\]\+\$\) not created: 2 dynamic namespaces live \(--max-dynamic-namespaces\)/);
      // once /dyn-2 is empty and gone, /dyn-3 can be made
      closeAll(d2);
      const root = await sioConnect(sio, '/');
      more.push(root);
      await waitFor(async () => (await ackOf(root, 'nsp-count', ['/dyn-2']))[0] === null, 5000, '/dyn-2 to go');
      more.push(await sioConnect(sio, '/dyn-3'));
    } finally {
      closeAll(d1, d2, more);
    }
  });

test(`--max-namespaces-per-session ${NSPS}: a third namespace on one connection gets CONNECT_ERROR; the others keep working`,
  { timeout: 20000 }, async () => {
    const mgr = new Manager(nspUrl(sio, ''), { path: '/socket.io/', reconnection: false, transports: ['websocket'] });
    const socks = ['/', '/a', '/b'].map((n) => { const s = mgr.socket(n); s.rec = new Recorder(s); return s; });
    const [root, a, b] = socks;
    const refused = once(b, 'connect_error', 10000);
    try {
      await sioConnected(sio, root);
      await sioConnected(sio, a);
      const [err] = await refused;
      assert.equal(err.message, 'Too many namespaces on this connection');
      assert.deepEqual(await ackOf(root, 'echo', [1]), [1]);
      assert.deepEqual(await ackOf(a, 'echo', [2]), [2]);
      assert.match(sio.siodLog(), /CONNECT to \/b refused: 2 namespaces joined \(--max-namespaces-per-session\)/);
      // leaving one frees a place on the same connection
      a.disconnect();
      b.connect();
      await sioConnected(sio, b);
      assert.deepEqual(await ackOf(b, 'echo', [3]), [3]);
    } finally {
      closeAll(socks);
    }
  });

/** Emits echo with bufs; resolves 'ack' or the disconnect reason. */
async function echoOrDisconnect(s, bufs) {
  const gone = once(s, 'disconnect', 10000).then(([reason]) => reason);
  // a disconnect fails the ack first: the reason is the answer then
  return ackOf(s, 'echo', bufs, 10000).then((args) => {
    assert.deepEqual(args, bufs);
    return 'ack';
  }, () => gone);
}

for (const transports of [['websocket'], ['polling']]) {
  test(`--max-attachments ${ATTACHMENTS} (${transports}): ${ATTACHMENTS} are echoed, ${ATTACHMENTS + 1} close the session, logged`,
    { timeout: 20000 }, async () => {
      const s = await sioConnect(sio, '/', { transports });
      try {
        const bufs = (n) => Array.from({ length: n }, (_, i) => Buffer.from([i, 1, 2]));
        assert.equal(await echoOrDisconnect(s, bufs(ATTACHMENTS)), 'ack');
        const reason = await echoOrDisconnect(s, bufs(ATTACHMENTS + 1));
        if (transports[0] === 'websocket') {
          assert.equal(reason, 'transport close');
        } else {
          // Over polling the client sends the packet's header in one POST and
          // its attachments in the next; the header closes the session, so
          // the close packet on the held GET and the 400 that answers the
          // second POST race (as with the reference server): either way the
          // session is gone, which is what is asserted.
          assert.ok(['transport close', 'transport error'].includes(reason), reason);
        }
        await waitFor(() => /invalid Socket\.IO packet \(more than 3 attachments \(--max-attachments\)\), closing/.test(sio.siodLog()),
          5000, 'the logged cause');
      } finally {
        closeAll(s);
      }
    });
}

test(`--max-binary-bytes ${BIN_BYTES}: 60 KB of attachments are echoed, 120 KB close the session, logged`,
  { timeout: 20000 }, async () => {
    const s = await sioConnect(sio, '/', { transports: ['websocket'] });
    try {
      const kb60 = () => Buffer.alloc(60000, 7);
      assert.equal(await echoOrDisconnect(s, [kb60()]), 'ack');
      assert.equal(await echoOrDisconnect(s, [kb60(), kb60()]), 'transport close');
      await waitFor(() => /invalid Socket\.IO packet \(a binary packet of more than 100000 bytes \(--max-binary-bytes\)\), closing/
        .test(sio.siodLog()), 5000, 'the logged cause');
      // another client is untouched
      const t = await sioConnect(sio, '/', { transports: ['websocket'] });
      assert.equal(await echoOrDisconnect(t, [kb60()]), 'ack');
      closeAll(t);
    } finally {
      closeAll(s);
    }
  });

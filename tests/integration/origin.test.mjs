// Origin policy: with no SocketIOCorsOrigin only the server's own origin and
// Origin-less requests may use the Engine.IO endpoint — polling GET, POST,
// OPTIONS and WebSocket upgrades alike (cross-site WebSocket hijacking);
// a configured list applies to WebSocket upgrades too; '*' sends no
// credentials unless SocketIOCorsCredentials On; a flood of refusals
// writes one warning per child and counts the rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startInstance, request, pollHandshake, pollUrl, errorBody, encodePayload, sleep,
} from './harness.mjs';

const FOREIGN = 'http://evil.example';
const LISTED = 'https://app.example.com';
let inst;
let own;
let floodAt = 0;

before(async () => {
  inst = await startInstance('origin', {
    // Three more Engine.IO endpoints beside the default /socket.io/ (no
    // SocketIOCorsOrigin): an explicit list, '*', '*' with credentials.
    extraConf: [
      '<Location /list/>', '    SocketIO On', `    SocketIOCorsOrigin ${LISTED}`, '</Location>',
      '<Location /any/>', '    SocketIO On', '    SocketIOCorsOrigin *', '</Location>',
      '<Location /anycred/>', '    SocketIO On', '    SocketIOCorsOrigin *',
      '    SocketIOCorsCredentials On', '</Location>',
    ].join('\n'),
  });
  own = `http://127.0.0.1:${inst.port}`;
});

after(async () => {
  if (inst) await inst.stop();
});

function url(base, query) {
  return inst.url(`${base}?${new URLSearchParams(query)}`);
}

const HANDSHAKE = { EIO: '4', transport: 'polling' };

function get(base, origin, query = HANDSHAKE) {
  return request('GET', url(base, query), { headers: origin ? { Origin: origin } : {} });
}

function assertForbidden(r, what) {
  assert.equal(r.status, 403, `${what}: ${r.status} ${r.body}\n${inst.logs()}`);
  assert.match(r.headers['content-type'] || '', /application\/json/, what);
  assert.deepEqual(errorBody(r), { code: 4, message: 'Forbidden' }, what);
  assert.equal(r.headers['access-control-allow-origin'], undefined, what);
  assert.equal(r.headers['access-control-allow-credentials'], undefined, what);
}

/**
 * A WebSocket handshake on a raw socket with the given Origin (none if
 * null). Resolves {status, headers, closed}: closed tells whether the
 * server closed the connection after a refusal.
 */
function wsHandshake(base, origin, query = {}) {
  const q = new URLSearchParams({ EIO: '4', transport: 'websocket', ...query });
  return new Promise((resolve, reject) => {
    const sock = net.connect(inst.port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let head = null;
    const t = setTimeout(() => { sock.destroy(); reject(new Error('WebSocket handshake: no answer')); }, 5000);
    const finish = (closed) => {
      clearTimeout(t);
      sock.destroy();
      resolve({ ...head, closed });
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (head) return;
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const lines = buf.subarray(0, i).toString('latin1').split('\r\n');
      const headers = {};
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      head = { status: Number(lines[0].split(' ')[1]), headers, body: () => buf.subarray(i + 4).toString('utf8') };
      if (head.status === 101) finish(false);
    });
    sock.on('end', () => (head ? finish(true) : reject(new Error('closed without an answer'))));
    sock.on('error', (e) => (head ? finish(true) : reject(e)));
    sock.on('connect', () => {
      sock.write(`GET ${base}?${q} HTTP/1.1\r\nHost: 127.0.0.1:${inst.port}\r\n` +
        (origin ? `Origin: ${origin}\r\n` : '') +
        'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    });
  });
}

function refusalLines() {
  return inst.errorLogLines().filter((l) => l.includes('refused a request from Origin'));
}

function pidOf(line) {
  const m = /\[pid (\d+)/.exec(line);
  return m ? m[1] : '?';
}

// First in the file: no refusal has been logged before it.
test('a flood of foreign Origins logs one warning per child', async () => {
  floodAt = Date.now();
  const rs = await Promise.all(Array.from({ length: 40 }, () => get('/socket.io/', FOREIGN)));
  for (const r of rs) assert.equal(r.status, 403);
  const lines = refusalLines();
  assert.ok(lines.length >= 1, `no refusal logged\n${inst.logs()}`);
  const perPid = {};
  for (const l of lines) perPid[pidOf(l)] = (perPid[pidOf(l)] || 0) + 1;
  for (const [pid, n] of Object.entries(perPid)) {
    assert.equal(n, 1, `child ${pid} logged ${n} refusal lines:\n${lines.join('\n')}`);
  }
  assert.ok(lines.length <= inst.httpdChildren().length, lines.join('\n'));
  assert.match(lines[0], /Origin 'http:\/\/evil\.example'/);
  assert.match(lines[0], /SocketIOCorsOrigin is not set/);
  assert.match(lines[0], new RegExp(`\\(http://127\\.0\\.0\\.1:${inst.port}\\)`));
});

test('no SocketIOCorsOrigin: a foreign Origin is refused on the polling handshake, GET, POST and OPTIONS', async () => {
  assertForbidden(await get('/socket.io/', FOREIGN), 'handshake');
  // Not the same origin: another host name, port or scheme.
  assertForbidden(await get('/socket.io/', `http://localhost:${inst.port}`), 'other host');
  assertForbidden(await get('/socket.io/', `http://127.0.0.1:${inst.port + 1}`), 'other port');
  assertForbidden(await get('/socket.io/', `https://127.0.0.1:${inst.port}`), 'other scheme');
  assertForbidden(await get('/socket.io/', 'null'), 'opaque origin');
  assertForbidden(await get('/socket.io/', `${own}/path`), 'not an origin');

  const { sid } = await pollHandshake(inst);
  assertForbidden(await request('GET', pollUrl(inst, sid), { headers: { Origin: FOREIGN } }), 'poll GET');
  assertForbidden(await request('POST', pollUrl(inst, sid), {
    headers: { Origin: FOREIGN, 'Content-Type': 'text/plain;charset=UTF-8' },
    body: encodePayload(['4hijack']),
  }), 'POST');
  assertForbidden(await request('OPTIONS', url('/socket.io/', HANDSHAKE), {
    headers: { Origin: FOREIGN, 'Access-Control-Request-Method': 'POST' },
  }), 'preflight');

  // The session itself is untouched: its own page may go on using it.
  const post = await request('POST', pollUrl(inst, sid), {
    headers: { Origin: own, 'Content-Type': 'text/plain;charset=UTF-8' },
    body: encodePayload(['4same']),
  });
  assert.equal(post.status, 200, `same-origin POST: ${post.status} ${post.body}`);
  assert.equal(post.body, 'ok');
});

test('no SocketIOCorsOrigin: same-origin and Origin-less requests are served, without CORS headers', async () => {
  for (const origin of [own, own.replace('http:', 'HTTP:'), null]) {
    const r = await get('/socket.io/', origin);
    assert.equal(r.status, 200, `Origin ${origin}: ${r.status} ${r.body}`);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
  }
});

test('no SocketIOCorsOrigin: a WebSocket upgrade from a foreign Origin is refused, same-origin is accepted', async () => {
  const bad = await wsHandshake('/socket.io/', FOREIGN);
  assert.equal(bad.status, 403, JSON.stringify(bad.headers));
  assert.deepEqual(JSON.parse(bad.body()), { code: 4, message: 'Forbidden' });
  assert.ok(bad.closed, 'the refused upgrade connection is closed');

  // An upgrade of an existing polling session, too.
  const { sid } = await pollHandshake(inst);
  const badUp = await wsHandshake('/socket.io/', FOREIGN, { sid });
  assert.equal(badUp.status, 403);

  const good = await wsHandshake('/socket.io/', own);
  assert.equal(good.status, 101, `same-origin upgrade: ${good.status}\n${inst.logs()}`);
  const none = await wsHandshake('/socket.io/', null);
  assert.equal(none.status, 101);
});

test('a SocketIOCorsOrigin list applies to polling and WebSocket upgrades; listed origins get credentials', async () => {
  const ok = await get('/list/', LISTED);
  assert.equal(ok.status, 200, `${ok.status} ${ok.body}`);
  assert.equal(ok.headers['access-control-allow-origin'], LISTED);
  assert.equal(ok.headers['access-control-allow-credentials'], 'true');
  assert.match(ok.headers.vary || '', /Origin/);

  assertForbidden(await get('/list/', FOREIGN), 'unlisted');
  assertForbidden(await request('OPTIONS', url('/list/', HANDSHAKE), {
    headers: { Origin: FOREIGN, 'Access-Control-Request-Method': 'POST' },
  }), 'unlisted preflight');

  const bad = await wsHandshake('/list/', FOREIGN);
  assert.equal(bad.status, 403);
  const good = await wsHandshake('/list/', LISTED);
  assert.equal(good.status, 101);
  assert.equal(good.headers['access-control-allow-origin'], LISTED);

  // The site's own pages stay allowed beside the list, with no CORS headers.
  const same = await get('/list/', own);
  assert.equal(same.status, 200);
  assert.equal(same.headers['access-control-allow-origin'], undefined);
});

test("'*' answers Access-Control-Allow-Origin: * without credentials", async () => {
  const r = await get('/any/', FOREIGN);
  assert.equal(r.status, 200, `${r.status} ${r.body}`);
  assert.equal(r.headers['access-control-allow-origin'], '*');
  assert.equal(r.headers['access-control-allow-credentials'], undefined);
  const pre = await request('OPTIONS', url('/any/', HANDSHAKE), {
    headers: { Origin: FOREIGN, 'Access-Control-Request-Method': 'POST' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], '*');
  assert.equal(pre.headers['access-control-allow-credentials'], undefined);
  const ws = await wsHandshake('/any/', FOREIGN);
  assert.equal(ws.status, 101);
  assert.equal(ws.headers['access-control-allow-origin'], '*');
  assert.equal(ws.headers['access-control-allow-credentials'], undefined);
});

test("'*' with SocketIOCorsCredentials On reflects the Origin with credentials", async () => {
  const r = await get('/anycred/', FOREIGN);
  assert.equal(r.status, 200, `${r.status} ${r.body}`);
  assert.equal(r.headers['access-control-allow-origin'], FOREIGN);
  assert.equal(r.headers['access-control-allow-credentials'], 'true');
  const none = await get('/anycred/', null);
  assert.equal(none.headers['access-control-allow-origin'], '*');
  assert.equal(none.headers['access-control-allow-credentials'], undefined);
});

// Last: long enough after the flood for the next warning of each child.
test('the next warning counts the refusals it did not log', { timeout: 30000 }, async () => {
  const before = refusalLines().length;
  const wait = floodAt + (10 + 1) * 1000 - Date.now();
  if (wait > 0) await sleep(wait);
  const rs = await Promise.all(Array.from({ length: 20 }, () => get('/socket.io/', FOREIGN)));
  for (const r of rs) assert.equal(r.status, 403);
  const fresh = refusalLines().slice(before);
  assert.ok(fresh.length >= 1, `no new warning\n${inst.logs()}`);
  const counted = fresh.map((l) => Number(/; (\d+) more refused/.exec(l)?.[1] ?? NaN));
  assert.ok(counted.every((n) => Number.isInteger(n)), fresh.join('\n'));
  assert.ok(counted.reduce((a, b) => a + b, 0) > 0, `no suppressed refusal counted:\n${fresh.join('\n')}`);
});

// Socket.IO 2 clients (Engine.IO 3) behind SocketIOAllowEIO3 On, with the
// official socket.io-client 2.x (the "socket.io-client-v2" alias) and the
// testkit app: long-polling (in Node.js that client has no XHR2 and asks
// for base64, b64=1; the XHR2 binary form is checked on the raw wire),
// WebSocket only and the upgrade; events with acks, binary both ways, a second namespace with
// a query, a connection the middleware refuses, client-driven heartbeats;
// v2 and v4 clients in one room getting each other's broadcasts; the raw
// v3 wire (payload lengths, JSONP refused); and, on an instance without
// the directive, a v2 client refused 400 with the reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ioV2 from 'socket.io-client-v2';
import {
  startInstance, sioConnect, closeAll, ackOf, sleep, request, waitFor,
  withTimeout, nspUrl, Recorder,
} from './harness.mjs';

let inst, off;
before(async () => {
  [inst, off] = await Promise.all([
    startInstance('sio-v2', {
      app: 'testkit', allowEio3: true, pingInterval: 600, pingTimeout: 600,
      logLevel: 'warn socketio:info',
    }),
    startInstance('sio-v2-off', { app: 'testkit' }),
  ]);
});
after(async () => { await sleep(200); await Promise.all([inst?.stop(), off?.stop()]); });

/** A v2 client socket (not awaited); rec records its events. */
function v2Socket(i, nsp = '/', opts = {}) {
  const s = ioV2(nspUrl(i, nsp), {
    path: '/socket.io/', forceNew: true, reconnection: false, timeout: 10000, ...opts,
  });
  // socket.io-client 2 has no onAny: its onevent sees every event
  s.rec = new Recorder({
    onAny(fn) {
      const orig = s.onevent;
      s.onevent = function onevent(packet) {
        const [event, ...args] = packet.data || [];
        if (packet.id == null) fn(event, ...args);
        return orig.call(this, packet);
      };
    },
  });
  return s;
}

/** Resolves once the v2 socket is connected; rejects on error. */
function v2Connected(i, s, ms = 10000) {
  if (s.connected) return Promise.resolve(s);
  return withTimeout(new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', (e) => reject(new Error(`connect_error: ${e.message}\n${i.logs()}`)));
    s.once('error', (e) => reject(new Error(`error: ${JSON.stringify(e)}\n${i.logs()}`)));
  }), ms, `v2 connect to ${s.nsp}\n${i.logs()}`);
}

const v2Connect = (i, nsp, opts) => v2Connected(i, v2Socket(i, nsp, opts));

/** A v2 emit with an acknowledgement: resolves with the answer's arguments. */
function v2Ack(s, event, args = [], ms = 5000) {
  return withTimeout(new Promise((resolve) => s.emit(event, ...args, (...res) => resolve(res))),
    ms, `v2 ack for "${event}"`);
}

function closeV2(...socks) {
  for (const s of socks.flat()) {
    if (!s) continue;
    s.close();
    s.io?.engine?.close();
  }
}

const modes = {
  polling: { transports: ['polling'] },
  websocket: { transports: ['websocket'] },
  upgrade: {},
};

for (const [name, opts] of Object.entries(modes)) {
  test(`v2 client, ${name}: events, acks, binary, heartbeats`, { timeout: 30000 }, async () => {
    const s = await v2Connect(inst, '/', opts);
    try {
      assert.equal(typeof s.id, 'string');
      assert.deepEqual(await v2Ack(s, 'echo', ['hé 😀', { n: 1 }]), ['hé 😀', { n: 1 }]);
      // binary both ways, nested
      const bin = Buffer.from([0, 1, 2, 250, 255]);
      const back = await v2Ack(s, 'echo', [bin, { inner: Buffer.from('x') }]);
      assert.ok(Buffer.isBuffer(back[0]), 'a binary argument comes back binary');
      assert.deepEqual([...back[0]], [...bin]);
      assert.deepEqual([...back[1].inner], [...Buffer.from('x')]);
      // an event without ack, and one the server emits with binary
      s.emit('emit-back', { event: 'back', args: ['b', Buffer.from([9, 8])] });
      const got = await s.rec.next('back');
      assert.equal(got[0], 'b');
      assert.deepEqual([...got[1]], [9, 8]);
      if (name === 'upgrade') {
        await waitFor(() => s.io.engine.transport.name === 'websocket', 5000, 'the upgrade');
        assert.deepEqual(await v2Ack(s, 'echo', [bin]), [bin]);
      }
      // the client pings (pingInterval 600 ms): still connected after
      // several times pingInterval + pingTimeout
      await sleep(2600);
      assert.ok(s.connected, 'the heartbeat keeps the session');
      assert.deepEqual(await v2Ack(s, 'echo', ['still']), ['still']);
    } finally {
      closeV2(s);
    }
  });
}

test('v2 client: a second namespace with a query as its auth; refused by middleware', { timeout: 20000 }, async () => {
  const a = await v2Connect(inst, '/a', { transports: ['websocket'], query: { mark: 'q1' } });
  const refused = v2Socket(inst, '/a', { transports: ['polling'], query: { token: 'bad' } });
  try {
    // the handshake's query holds the URL's parameters; auth, the
    // namespace's query (the v2 client sends both)
    const who = (await v2Ack(a, 'whoami', [{}]))[0];
    assert.equal(who.handshake.query.mark, 'q1');
    assert.deepEqual(who.auth, { mark: 'q1' });
    assert.equal(a.nsp, '/a');
    // the middleware reads auth: a v2 client's namespace query
    const err = await withTimeout(new Promise((resolve) => refused.once('error', resolve)), 10000,
      'the refusal as an "error" event');
    assert.deepEqual(err, { code: 42 }, 'the error data the middleware gave');
    assert.equal(refused.connected, false);
    // an unknown namespace: an error object with the reference's message
    const nowhere = v2Socket(inst, '/nowhere', { transports: ['websocket'] });
    const e2 = await withTimeout(new Promise((resolve) => nowhere.once('error', resolve)), 10000,
      'unknown namespace');
    assert.deepEqual(e2, { message: 'Invalid namespace' });
    closeV2(nowhere);
  } finally {
    closeV2(a, refused);
  }
});

test('v2 client: disconnects both ways, per namespace', { timeout: 20000 }, async () => {
  const main = await v2Connect(inst, '/', { transports: ['websocket'] });
  const a = main.io.socket('/a');
  try {
    await v2Connected(inst, a);
    const count = async () => (await v2Ack(main, 'nsp-count', ['/a']))[0];
    const before = await count();
    assert.ok(before >= 1);
    // the client leaves /a (DISCONNECT "1/a,"): the server counts it gone,
    // the connection and "/" stay
    a.disconnect();
    await waitFor(async () => (await count()) === before - 1, 5000, 'the socket gone from /a');
    assert.ok(main.connected);
    // the server disconnects the client's "/" socket
    const gone = new Promise((resolve) => main.once('disconnect', resolve));
    assert.deepEqual(await v2Ack(main, 'kick-me', [{}]), [true]);
    assert.equal(await withTimeout(gone, 5000, 'disconnect'), 'io server disconnect');
  } finally {
    closeV2(main, a);
  }
});

test('v2 and v4 clients in one room get each other\'s broadcasts', { timeout: 30000 }, async () => {
  const v2s = await Promise.all([
    v2Connect(inst, '/', { transports: ['websocket'] }),
    v2Connect(inst, '/', { transports: ['polling'] }),
  ]);
  const v4s = await Promise.all([
    sioConnect(inst, '/', { transports: ['websocket'] }),
    sioConnect(inst, '/', { transports: ['polling'] }),
  ]);
  try {
    for (const s of v2s) assert.deepEqual(await v2Ack(s, 'join', ['mix']), [true]);
    for (const s of v4s) assert.deepEqual(await ackOf(s, 'join', ['mix']), [true]);
    const all = [...v2s, ...v4s];
    const bin = Buffer.from([7, 0, 7]);
    // from a v4 client to all (with binary), then from a v2 client
    assert.deepEqual(await ackOf(v4s[0], 'to', [{ rooms: 'mix', event: 'm', args: ['from4', bin] }]), [true]);
    assert.deepEqual(await v2Ack(v2s[0], 'to', [{ rooms: 'mix', event: 'm', args: ['from2', { b: bin }] }]), [true]);
    for (const s of all) {
      const got = await s.rec.count('m', 2, 5000);
      const by = Object.fromEntries(got.map((a) => [a[0], a[1]]));
      assert.deepEqual([...by.from4], [...bin], 'the v4 client\'s binary broadcast');
      assert.deepEqual([...by.from2.b], [...bin], 'the v2 client\'s binary broadcast');
    }
  } finally {
    closeV2(v2s);
    closeAll(v4s);
  }
});

test('raw Engine.IO 3: payload lengths, the implicit "/" connect, ping/pong, JSONP refused', { timeout: 20000 }, async () => {
  const open = await request('GET', inst.eioUrl({ EIO: '3', transport: 'polling', b64: '1' }));
  assert.equal(open.status, 200);
  const m = /^(\d+):0(\{.*\})$/.exec(open.body);
  assert.ok(m, `a v3 payload of one open packet: ${open.body}`);
  assert.equal(Number(m[1]), m[2].length + 1);
  const hs = JSON.parse(m[2]);
  assert.equal(hs.pingInterval, 600);
  const url = inst.eioUrl({ EIO: '3', transport: 'polling', sid: hs.sid, b64: '1' });
  // the server connected the client to "/" at once: "40"
  const first = await request('GET', url);
  assert.ok(first.body.startsWith('2:40'), first.body);
  // a ping (with a non-ASCII message first: its length in UTF-16 units)
  const pkt = '42["echo","é😀"]';
  assert.equal(pkt.length, 16, 'UTF-16 units: the emoji counts two');
  const post = await request('POST', url, {
    body: `${pkt.length}:${pkt}1:2`, headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
  });
  assert.equal(post.status, 200, post.body);
  let seen = '';
  await waitFor(async () => {
    seen += (await request('GET', url)).body;
    return /(^|[^0-9])1:3/.test(seen);
  }, 3000, () => `the pong to the client's ping in ${seen}`);
  assert.ok(seen.includes(`16:${pkt}`), `the echo, its length in UTF-16 units: ${seen}`);
  // with no ping the session ends after pingInterval + pingTimeout
  await sleep(1700);
  const late = await request('GET', url);
  assert.equal(late.status, 400, `session gone: ${late.status} ${late.body}`);
  // JSONP polling is refused with a reason
  const jsonp = await request('GET', inst.eioUrl({ EIO: '3', transport: 'polling', j: '0' }));
  assert.equal(jsonp.status, 400);
  assert.match(JSON.parse(jsonp.body).message, /JSONP/);
});

/** The records of a v3 payload in the XHR2 binary form: [{text, data}]. */
function binaryRecords(buf) {
  const out = [];
  for (let i = 0; i < buf.length;) {
    const text = buf[i++] === 0;
    let n = 0;
    while (buf[i] !== 0xff) n = n * 10 + buf[i++];
    i++;
    const data = buf.subarray(i, i + n);
    out.push({ text, data: text ? data.toString('utf8') : data });
    i += n;
  }
  return out;
}

test('raw Engine.IO 3: binary in the XHR2 form both ways', { timeout: 20000 }, async () => {
  const open = await request('GET', inst.eioUrl({ EIO: '3', transport: 'polling' }));
  const hs = JSON.parse(/^\d+:0(\{.*\})$/.exec(open.body)[1]);
  const url = inst.eioUrl({ EIO: '3', transport: 'polling', sid: hs.sid });
  assert.ok((await request('GET', url)).body.startsWith('2:40'));
  // a binary event, POSTed in the binary form: its text, then the bytes
  // with the message type byte first
  const head = Buffer.from('451-["emit-back",{"event":"bb","args":[{"_placeholder":true,"num":0}]}]');
  const digits = (n) => [...String(n)].map(Number);
  const body = Buffer.concat([
    Buffer.from([0, ...digits(head.length), 0xff]), head,
    Buffer.from([1, ...digits(4), 0xff, 4, 1, 2, 3]),
  ]);
  const post = await request('POST', url, { body, headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(post.status, 200, post.body);
  let got;
  await waitFor(async () => {
    const r = await request('GET', url);
    if (r.headers['content-type'] !== 'application/octet-stream') return false;
    got = binaryRecords(r.raw);
    return true;
  }, 3000, 'a binary-form answer');
  assert.equal(got.length, 2);
  assert.deepEqual(got[0], { text: true, data: '451-["bb",{"_placeholder":true,"num":0}]' });
  assert.equal(got[1].text, false);
  assert.deepEqual([...got[1].data], [4, 1, 2, 3]);
});

test('without SocketIOAllowEIO3 a v2 client is refused 400 with the reason', { timeout: 20000 }, async () => {
  const res = await request('GET', off.eioUrl({ EIO: '3', transport: 'polling' }));
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.body), { code: 5, message: 'Unsupported protocol version' });
  const s = v2Socket(off, '/', { transports: ['polling'] });
  try {
    const err = await withTimeout(new Promise((resolve) => s.once('connect_error', resolve)), 10000,
      'connect_error');
    assert.ok(err, 'the client hears of the refusal');
    assert.equal(s.connected, false);
  } finally {
    closeV2(s);
  }
});

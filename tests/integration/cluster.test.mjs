// Two nodes (httpd + siod each, siod --node n1 / n2) that list each other
// with SocketIOPeer, and a front httpd balancing round-robin over them with
// no stickiness: a session's requests that reach the node not owning it are
// forwarded to its owner through mod_proxy (docs/cluster.md). Polling-only
// and default (upgrading) official clients through the front; a WebSocket
// upgrade sent to the other node; a tag no node has; a peer that is down
// or has gone away; a request a peer forwarded is never forwarded again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  startInstance, freePort, request, pollHandshake, pollGet, pollPost, pollUrl, decodePayload,
  errorBody, RawWs, sioSocket, sioConnected, ackOf, once, closeAll, sleep, waitFor,
} from './harness.mjs';

const MODDIR = '/usr/lib/apache2/modules';
const load = (...mods) => mods.map(([name, file]) => `LoadModule ${name}_module ${MODDIR}/${file}.so`).join('\n');
const PROXY = load(['proxy', 'mod_proxy'], ['proxy_http', 'mod_proxy_http']);

let a, b, front, portA, portB, portDown;

// Each node lists both (its own line is skipped), a peer nobody runs (n9),
// and n3, which each says is the other: a request for n3 would loop. a
// declares workers for b (kept-alive connections); b uses mod_proxy's
// default worker. mod_proxy's trace2 says which worker served.
function nodeConf(other, workers = '') {
  return `${PROXY}
SocketIOPeer n1 http://127.0.0.1:${portA}
SocketIOPeer n2 http://127.0.0.1:${portB}
SocketIOPeer n9 http://127.0.0.1:${portDown}
SocketIOPeer n3 http://127.0.0.1:${other}
LogLevel info proxy:trace2
${workers}`;
}

before(async () => {
  [portA, portB, portDown] = [await freePort(), await freePort(), await freePort()];
  const common = { app: 'testkit', pingInterval: 3000, pingTimeout: 3000, logLevel: 'info' };
  a = await startInstance('cluster-a', { ...common, port: portA, siodExtraArgs: ['--node=n1'], extraConf: nodeConf(portB, `<Proxy "http://127.0.0.1:${portB}">
    ProxySet keepalive=On connectiontimeout=2
</Proxy>
<Proxy "ws://127.0.0.1:${portB}">
    ProxySet connectiontimeout=2
</Proxy>
`) });
  // b also loads mod_proxy_wstunnel, which leaves ws:// to mod_proxy_http
  b = await startInstance('cluster-b', { ...common, port: portB, siodExtraArgs: ['--node=n2'],
    extraConf: nodeConf(portA, load(['proxy_wstunnel', 'mod_proxy_wstunnel'])) });
  // The front: round-robin, no stickiness; /lb/ is the nodes' /socket.io/.
  front = await startInstance('cluster-front', {
    extraConf: `${PROXY}
${load(['proxy_balancer', 'mod_proxy_balancer'], ['slotmem_shm', 'mod_slotmem_shm'], ['lbmethod_byrequests', 'mod_lbmethod_byrequests'])}
<Proxy balancer://nodes>
    BalancerMember http://127.0.0.1:${portA} upgrade=websocket
    BalancerMember http://127.0.0.1:${portB} upgrade=websocket
    ProxySet lbmethod=byrequests
</Proxy>
ProxyPass /lb/ balancer://nodes/socket.io/
`,
  });
});
after(async () => { await sleep(200); await Promise.all([a?.stop(), b?.stop(), front?.stop()]); });

/** Access-log lines of inst naming sid. */
const hits = (inst, sid) => fs.readFileSync(inst.paths.ACCESS_LOG, 'utf8').split('\n').filter((l) => l.includes(`sid=${sid}`));

const viaFront = (opts) => sioSocket(front, '/', { path: '/lb/', ...opts });

test('sids begin with the node tag; a session is served by either node', async () => {
  const { sid: sa } = await pollHandshake(a);
  const { sid: sb } = await pollHandshake(b);
  assert.equal(sa.length, 20);
  assert.match(sa, /^n1[A-Za-z0-9_-]{18}$/);
  assert.match(sb, /^n2[A-Za-z0-9_-]{18}$/);
  // a's session: a GET through b held, a POST to a (CONNECT) answers it
  const get = pollGet(b, sa);
  await sleep(100);
  const post = await pollPost(a, sa, ['40']);
  assert.equal(post.status, 200, post.body);
  const res = await get;
  assert.equal(res.status, 200, res.body);
  assert.match(decodePayload(res.body)[0], /^40\{"sid":"n1/);
  // the GET went to b, which forwarded it to a (a line each once answered)
  await waitFor(() => hits(b, sa).length >= 1 && hits(a, sa).length >= 2, 2000, () => a.logs());
  await pollPost(b, sa, ['1']);
  await pollPost(a, sb, ['1']);
});

test('a polling-only client through a round-robin front: connect, acks, server emits', async () => {
  const s = viaFront({ transports: ['polling'] });
  await sioConnected(front, s);
  const sid = s.io.engine.id;
  assert.match(sid, /^n[12]/);
  for (let i = 0; i < 6; i++) {
    assert.deepEqual(await ackOf(s, 'echo', [i, 'x']), [i, 'x']);
  }
  const got = once(s, 'pong-back');
  s.emit('emit-back', { event: 'pong-back', args: [42] });
  assert.deepEqual(await got, [42]);
  const me = (await ackOf(s, 'whoami', [{}]))[0];
  assert.equal(me.transport, 'polling');
  // both nodes saw the session's requests: the other one forwarded them
  const [owner, other] = sid.startsWith('n1') ? [a, b] : [b, a];
  await sleep(300);
  assert.ok(hits(other, sid).length > 0, 'no request reached the other node');
  assert.ok(hits(owner, sid).length > hits(other, sid).length);
  closeAll(s);
});

test('default clients through the front upgrade to WebSocket, wherever the upgrade lands', async () => {
  const socks = [];
  for (let i = 0; i < 4; i++) socks.push(viaFront({}));
  await Promise.all(socks.map((s) => sioConnected(front, s)));
  await Promise.all(socks.map((s) => waitFor(() => s.io.engine.transport.name === 'websocket', 5000, 'the upgrade')));
  for (const s of socks) {
    assert.deepEqual(await ackOf(s, 'echo', ['after upgrade']), ['after upgrade']);
    const got = once(s, 'ws-back');
    s.emit('emit-back', { event: 'ws-back', args: ['w'] });
    assert.deepEqual(await got, ['w']);
  }
  closeAll(socks);
});

test('a WebSocket upgrade sent to the node that does not own the session is tunnelled to it', async () => {
  const { sid } = await pollHandshake(a);
  const ws = await RawWs.connect(b, { sid });
  ws.sendText('2probe');
  assert.equal(await ws.nextText(), '3probe');
  ws.sendText('5');
  ws.sendText('40');
  const connect = await ws.nextText();
  assert.match(connect, /^40\{"sid":/);
  assert.match(connect, /^40\{"sid":"n1/, 'the socket id names its node too');
  ws.sendText('421["echo","through b"]');
  let m;
  do m = await ws.nextText(); while (m.startsWith('42["welcome"'));
  assert.equal(m, '431["through b"]');
  ws.destroy();
  // logged once the tunnel ends
  await waitFor(() => hits(b, sid).some((l) => /transport=websocket.*" 101 /.test(l)), 5000,
    () => `b's 101 line: ${hits(b, sid).join('\n')}`);
});

test('a <Proxy> worker declared for a peer serves its forwarded requests; without one, the default worker', async () => {
  const { sid: sa } = await pollHandshake(a);
  const { sid: sb } = await pollHandshake(b);
  assert.equal((await pollPost(a, sb, ['40'])).status, 200);
  assert.equal((await pollPost(b, sa, ['40'])).status, 200);
  const dflt = (inst, port) => inst.errorLog().includes(`using default reverse proxy worker for http://127.0.0.1:${port}/`);
  await waitFor(() => dflt(b, portA), 2000, "b's default worker line");
  assert.ok(!dflt(a, portB), 'a used the default worker for b');
  await pollPost(a, sa, ['1']);
  await pollPost(b, sb, ['1']);
});

test('a tag no node has: 400 "Session ID unknown", at once', async () => {
  const { sid } = await pollHandshake(a);
  const bad = `zz${sid.slice(2)}`;
  for (const inst of [a, b]) {
    const res = await pollGet(inst, bad, { timeout: 3000 });
    assert.equal(res.status, 400);
    assert.deepEqual(errorBody(res), { code: 1, message: 'Session ID unknown' });
  }
  await waitFor(() => /names node 'zz', which is neither this one \('n1'\) nor a SocketIOPeer/.test(a.errorLog()), 2000, 'the log line');
  await pollPost(a, sid, ['1']);
});

test('a peer that is down: 503 from mod_proxy, quickly, for polling and WebSocket', async () => {
  const { sid } = await pollHandshake(a);
  const dead = `n9${sid.slice(2)}`;
  const t0 = Date.now();
  const get = await pollGet(a, dead, { timeout: 5000 });
  assert.equal(get.status, 503);
  const post = await pollPost(a, dead, ['4x'], { timeout: 5000 });
  assert.equal(post.status, 503);
  await assert.rejects(RawWs.connect(a, { sid: dead }), (e) => e.status === 503);
  assert.ok(Date.now() - t0 < 4000, `took ${Date.now() - t0} ms`);
  await pollPost(a, sid, ['1']);
});

test('a request a peer forwarded is not forwarded again: 400 and a warning, no loop', async () => {
  const { sid } = await pollHandshake(a);
  const loop = `n3${sid.slice(2)}`;
  const res = await pollGet(a, loop, { timeout: 5000 });
  assert.equal(res.status, 400);
  assert.deepEqual(errorBody(res), { code: 1, message: 'Session ID unknown' });
  await waitFor(() => /session n3\S+ belongs to node 'n3', not this one \('n2'\), yet node 'n1' forwarded it here: not forwarding it again/.test(b.errorLog()),
    2000, 'the warning on b');
  // each logs it once it has answered: wait for both lines
  await waitFor(() => hits(a, loop).length && hits(b, loop).length, 2000, 'the access log lines');
  await sleep(200);
  assert.equal(hits(a, loop).length, 1, 'a saw the request once');
  assert.equal(hits(b, loop).length, 1, 'b saw it once');
  // a client sending the header itself only stops its own request
  const { sid: sb } = await pollHandshake(b);
  const spoof = await request('GET', pollUrl(a, sb), { headers: { 'X-SocketIO-Forwarded': 'n2' }, timeout: 5000 });
  assert.equal(spoof.status, 400);
  await pollPost(a, sid, ['1']);
  await pollPost(b, sb, ['1']);
});

test('a node that has gone away: its sessions\' requests get a clear error, clients reconnect to the other node', async () => {
  // a polling-only client through the front whose session is on b
  let s;
  for (let i = 0; i < 12 && !s; i++) {
    const c = viaFront({ transports: ['polling'], reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    await sioConnected(front, c);
    if (c.io.engine.id.startsWith('n2')) s = c;
    else {
      closeAll(c);
      // a client's requests may keep the round robin in step, every
      // handshake on a: one more request through the front shifts it
      await request('GET', front.url('/socket.io/?EIO=4&transport=polling'));
    }
  }
  assert.ok(s, 'no session landed on b');
  const sid = s.io.engine.id;
  const gone = once(s, 'disconnect', 15000);
  await b.stop();
  b = null;
  const t0 = Date.now();
  const res = await pollGet(a, sid, { timeout: 5000 });
  assert.equal(res.status, 503);
  assert.ok(Date.now() - t0 < 4000);
  assert.match(res.body, /Service Unavailable/i);
  // the client's next poll failed: it drops the session, no hang ...
  const [reason] = await gone;
  assert.match(reason, /transport (error|close)/);
  // ... and a new handshake lands on a, the node left
  await waitFor(() => s.connected && s.io.engine.id.startsWith('n1'), 15000, 'the reconnection to a');
  assert.deepEqual(await ackOf(s, 'echo', ['again']), ['again']);
  closeAll(s);
});

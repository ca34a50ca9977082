// The cluster `make cluster` runs (scripts/cluster.sh, started here as make
// does): a private redis-server, nodes n1 and n2 (httpd + siod each, the
// chat application, the Redis adapter) that learn each other through Redis
// (no SocketIOPeer line), and a front httpd balancing round-robin with no
// stickiness. Polling-only and default clients through the front, chat
// messages crossing nodes, a forwarded poll; a third node joining through
// Redis and going away (crashed: its entry expires), after which a request
// for its session gets "Session ID unknown" and a log line that says why;
// a configured SocketIOPeer beating a learned one; httpd forgetting the
// peers once its siod is gone; a tag taken twice,
// logged; and Ctrl-C stopping every process the script started.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startInstance, freePort, pollHandshake, pollGet, pollPost, decodePayload, errorBody,
  sioSocket, sioConnected, once, ackOf, closeAll, sleep, waitFor,
} from './harness.mjs';
import { startCluster, portFree, descendants, alive, cmdline, tail } from './cluster-lib.mjs';

const TTL = 1600; // --node-ttl: a heartbeat every 400 ms
const MODDIR = '/usr/lib/apache2/modules';
const PROXY = `LoadModule proxy_module ${MODDIR}/mod_proxy.so
LoadModule proxy_http_module ${MODDIR}/mod_proxy_http.so`;

let c, out, port, redisPort, n1, n2, front, redis, RUNDIR, script;
const extra = [];

before(async () => {
  c = await startCluster('cluster-set', {
    APP: 'chat', NODE_TTL: String(TTL), PING_INTERVAL: '3000', PING_TIMEOUT: '3000',
  });
  ({ port, redisPort, n1, n2, front, redis, script } = c);
  RUNDIR = c.rundir;
  out = c.out();
});

after(async () => {
  await Promise.all(extra.map((i) => i.stop().catch(() => {})));
  await c?.stop();
});

const viaFront = (opts) => sioSocket(front, '/', { ...opts });

test('make cluster prints its addresses; the nodes list no SocketIOPeer: they learn each other through Redis', () => {
  assert.match(out, new RegExp(`ready: http://127\\.0\\.0\\.1:${port}/`));
  assert.match(out, new RegExp(`node n1  http://127\\.0\\.0\\.1:${port + 1}/`));
  assert.match(out, new RegExp(`node n2  http://127\\.0\\.0\\.1:${port + 2}/`));
  assert.match(out, /peers learned through Redis/);
  for (const n of ['n1', 'n2']) {
    const conf = fs.readFileSync(path.join(RUNDIR, n, 'httpd.conf'), 'utf8');
    assert.match(conf, new RegExp(`^SocketIONode ${n}$`, 'm'));
    assert.doesNotMatch(conf, /SocketIOPeer/);
  }
  const front = fs.readFileSync(path.join(RUNDIR, 'front', 'httpd.conf'), 'utf8');
  assert.match(front, /lbmethod=byrequests/);
  assert.doesNotMatch(front, /stickysession/);
  // each node's entry: "<expiry ms> <base URL>"
  const h = redis('HGETALL', 'socket.io#nodes').split('\n');
  const entries = Object.fromEntries(h.filter((_, i) => i % 2 === 0).map((k, i) => [k, h[2 * i + 1]]));
  assert.match(entries.n1, new RegExp(`^\\d+ http://127\\.0\\.0\\.1:${port + 1}$`));
  assert.match(entries.n2, new RegExp(`^\\d+ http://127\\.0\\.0\\.1:${port + 2}$`));
});

test('each siod logs the peers it learned', async () => {
  for (const [me, other, p] of [['n1', 'n2', port + 2], ['n2', 'n1', port + 1]]) {
    const line = new RegExp(`cluster: peers learned through Redis \\(1\\): ${other} http://127\\.0\\.0\\.1:${p}`);
    await waitFor(() => line.test(tail(path.join(RUNDIR, me, 'serve.log'), 1000)), 3000, `${me}'s line`);
  }
});

test('a session of n1 polled at n2 is forwarded to n1 through the learned peer', async () => {
  const { sid } = await pollHandshake(n1);
  assert.match(sid, /^n1/);
  const get = pollGet(n2, sid, { timeout: 5000 });
  await sleep(100);
  assert.equal((await pollPost(n2, sid, ['40'])).status, 200);
  const res = await get;
  assert.equal(res.status, 200, res.body);
  assert.match(decodePayload(res.body)[0], /^40\{"sid":"n1/);
  await pollPost(n1, sid, ['1']);
});

test('polling-only and default clients through the front: chat messages cross nodes both ways', async () => {
  const socks = [];
  for (let i = 0; i < 6; i++) socks.push(viaFront(i % 2 ? { transports: ['polling'] } : {}));
  await Promise.all(socks.map((s) => sioConnected(front, s)));
  const on1 = socks.filter((s) => s.id.startsWith('n1'));
  const on2 = socks.filter((s) => s.id.startsWith('n2'));
  assert.ok(on1.length && on2.length, `all on one node: ${socks.map((s) => s.id)}`);
  // the default clients upgrade, wherever their upgrade lands
  await Promise.all(socks.filter((_, i) => i % 2 === 0).map((s) =>
    waitFor(() => s.io.engine.transport.name === 'websocket', 8000, 'the upgrade')));
  for (const from of [on1[0], on2[0]]) {
    const text = `hello from ${from.id}`;
    const got = socks.map((s) => once(s, 'chat message', 8000));
    from.emit('chat message', text);
    for (const m of await Promise.all(got)) assert.deepEqual([m[0].id, m[0].text], [from.id, text]);
  }
  // a room across nodes, joined with acks
  const [a, b] = [on1[0], on2[0]];
  assert.deepEqual(await ackOf(a, 'join', ['lobby']), [true]);
  assert.deepEqual(await ackOf(b, 'join', ['lobby']), [true]);
  const inRoom = once(b, 'room message', 8000);
  a.emit('room message', { room: 'lobby', text: 'room hop' });
  const [rm] = await inRoom;
  assert.equal(rm.text, 'room hop');
  assert.equal(rm.room, 'lobby');
  closeAll(socks);
});

test('a node that joins through Redis is learned; gone (crashed), its entry expires and its sessions get a clear error', async () => {
  const p3 = await freePort();
  const n3 = await startInstance('cluster-set-n3', {
    port: p3, app: 'chat', pingInterval: 3000, pingTimeout: 3000, logLevel: 'info',
    siodExtraArgs: ['--node=n3', `--redis=redis://127.0.0.1:${redisPort}`,
      `--node-url=http://127.0.0.1:${p3}`, `--node-ttl=${TTL}`],
  });
  extra.push(n3);
  const { sid } = await pollHandshake(n3);
  assert.match(sid, /^n3/);
  // n1 learns n3 within a heartbeat or two
  await waitFor(async () => (await pollPost(n1, sid, ['40'])).status === 200, 5000,
    () => `n1 to forward n3's session\n${n1.logs()}`);
  const res = await pollGet(n1, sid, { timeout: 5000 });
  assert.equal(res.status, 200);
  assert.match(decodePayload(res.body)[0], /^40\{"sid":"n3/);
  // a crash: no goodbye, the entry must expire by itself
  n3.killNow();
  const t0 = Date.now();
  let last;
  await waitFor(async () => {
    last = await pollGet(n1, sid, { timeout: 3000 });
    return last.status === 400;
  }, TTL * 3 + 3000, () => `n1 to forget n3 (last answer ${last?.status})\n${n1.logs()}`);
  assert.ok(Date.now() - t0 >= TTL / 2, `forgotten after ${Date.now() - t0} ms, before its entry could expire`);
  assert.deepEqual(errorBody(last), { code: 1, message: 'Session ID unknown' });
  assert.match(n1.errorLog(), /names node 'n3', which is neither this one \('n1'\) nor a SocketIOPeer nor a node siod knows through Redis/);
  await waitFor(() => !redis('HKEYS', 'socket.io#nodes').split('\n').includes('n3'), TTL * 2, 'n3 swept from the hash');
  // the front's clients never see n3: still fine
  const s = viaFront({ transports: ['polling'] });
  await sioConnected(front, s);
  closeAll(s);
});

test('a configured SocketIOPeer wins over the learned one', async () => {
  const dead = await freePort();
  const p4 = await freePort();
  const n4 = await startInstance('cluster-set-n4', {
    port: p4, app: 'chat', logLevel: 'info',
    siodExtraArgs: ['--node=n4', `--redis=redis://127.0.0.1:${redisPort}`, `--node-ttl=${TTL}`],
    extraConf: `${PROXY}\nSocketIOPeer n1 http://127.0.0.1:${dead}\n`,
  });
  extra.push(n4);
  const { sid } = await pollHandshake(n1);
  const { sid: s2 } = await pollHandshake(n2);
  // n2 is learned (forwarded there); n1's line sends it to a dead port: 503
  await waitFor(async () => (await pollPost(n4, s2, ['40'])).status === 200, 5000, () => `n4 to learn n2\n${n4.logs()}`);
  const res = await pollGet(n4, sid, { timeout: 5000 });
  assert.equal(res.status, 503, res.body);
  await pollPost(n1, sid, ['1']);
  await pollPost(n2, s2, ['1']);
  await n4.stop();
});

test('siod gone: httpd forgets the learned peers after the ttl; a new siod teaches them again', async () => {
  const p5 = await freePort();
  const n5 = await startInstance('cluster-set-n5', {
    port: p5, app: 'chat', logLevel: 'info',
    siodExtraArgs: ['--node=n5', `--redis=redis://127.0.0.1:${redisPort}`, `--node-ttl=${TTL}`],
    // SocketIONode: the module knows its tag while siod is down
    extraConf: `${PROXY}\nSocketIONode n5\n`,
  });
  extra.push(n5);
  const { sid } = await pollHandshake(n1);
  await waitFor(async () => (await pollPost(n5, sid, ['40'])).status === 200, 5000, () => `n5 to learn n1\n${n5.logs()}`);
  // every child that had the table forgets it TTL after the last one
  // (a child whose link never opened never had it)
  await n5.killSiod('SIGKILL');
  await sleep(TTL + 300);
  const t1 = Date.now();
  const late = await pollGet(n5, sid, { timeout: 3000 });
  assert.equal(late.status, 400, late.body);
  assert.deepEqual(errorBody(late), { code: 1, message: 'Session ID unknown' });
  assert.ok(Date.now() - t1 < 1000, `took ${Date.now() - t1} ms`);
  await n5.startSiod();
  await waitFor(async () => (await pollPost(n5, sid, ['6'], { timeout: 3000 })).status === 200, 5000,
    () => `n5 to learn n1 again\n${n5.logs()}`);
  await pollPost(n1, sid, ['1']);
  await n5.stop();
});

test('a second node run with a taken tag is logged as an error by both', async () => {
  const p5 = await freePort();
  const dup = await startInstance('cluster-set-dup', {
    port: p5, app: 'chat',
    siodExtraArgs: ['--node=n1', `--redis=redis://127.0.0.1:${redisPort}`,
      `--node-url=http://127.0.0.1:${p5}`, `--node-ttl=${TTL}`],
  });
  extra.push(dup);
  const line = /cluster: another node advertises tag 'n1' at http:\/\/127\.0\.0\.1:\d+: two nodes run with --node=n1/;
  await waitFor(() => line.test(dup.logs(200)), 5000, () => `the duplicate's error line\n${dup.logs()}`);
  await waitFor(() => line.test(tail(path.join(RUNDIR, 'n1', 'serve.log'), 500)), 5000, "n1's error line");
  // gone without a goodbye: n1's own entry comes back at its next beat
  dup.killNow();
  await waitFor(() => new RegExp(`^\\d+ http://127\\.0\\.0\\.1:${port + 1}$`).test(redis('HGET', 'socket.io#nodes', 'n1')),
    TTL * 2, "n1's entry back");
});

test('Ctrl-C stops redis-server, both nodes and the front, and leaves no process behind', async () => {
  const kids = descendants(script.pid);
  assert.ok(kids.length >= 8, `only ${kids.length} processes under cluster.sh`);
  script.kill('SIGINT');
  await waitFor(() => script.exitCode !== null || script.signalCode !== null, 40000, () => `cluster.sh to exit\n${c.out()}`);
  assert.equal(script.exitCode, 130, c.out());
  assert.match(c.out(), /cluster: stopped/);
  const left = kids.filter(alive);
  assert.deepEqual(left, [], `left running: ${left.map(cmdline).join('; ')}`);
  for (const p of [port, port + 1, port + 2, redisPort]) assert.ok(await portFree(p), `port ${p} still taken`);
  // SAN=1 builds: nothing reported by httpd or siod of either node
  for (const f of ['n1/serve.log', 'n2/serve.log', 'n1/logs/error_log', 'n2/logs/error_log']) {
    assert.doesNotMatch(tail(path.join(RUNDIR, f), 100000), /ERROR: (Address|Leak)Sanitizer|runtime error:/, f);
  }
});

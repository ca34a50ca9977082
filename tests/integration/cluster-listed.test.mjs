// `make cluster LEARN=0` (scripts/cluster.sh, as cluster-set.test.mjs
// starts it): the nodes list each other with SocketIOPeer and advertise
// nothing in Redis, which carries only the adapter's broadcasts. A session
// still reaches its node from the other one and through the front, and
// chat crosses nodes; the script stops with no process left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  pollHandshake, pollGet, pollPost, decodePayload, sioSocket, sioConnected, once, closeAll, sleep, waitFor,
} from './harness.mjs';
import { startCluster, descendants, alive, cmdline } from './cluster-lib.mjs';

let c;

before(async () => { c = await startCluster('cluster-listed', { APP: 'chat', LEARN: '0' }); });
after(async () => { await c?.stop(); });

test('LEARN=0: SocketIOPeer lines on both nodes, no node registry in Redis', () => {
  assert.match(c.out(), /peers listed \(SocketIOPeer\)/);
  for (const n of ['n1', 'n2']) {
    const conf = fs.readFileSync(path.join(c.rundir, n, 'httpd.conf'), 'utf8');
    assert.match(conf, new RegExp(`^SocketIOPeer n1 http://127\\.0\\.0\\.1:${c.port + 1}$`, 'm'));
    assert.match(conf, new RegExp(`^SocketIOPeer n2 http://127\\.0\\.0\\.1:${c.port + 2}$`, 'm'));
  }
  assert.equal(c.redis('HLEN', 'socket.io#nodes'), '0');
});

test('LEARN=0: a session of n2 polled at n1 is forwarded; chat through the front crosses nodes', async () => {
  const { sid } = await pollHandshake(c.n2);
  const get = pollGet(c.n1, sid, { timeout: 5000 });
  await sleep(100);
  assert.equal((await pollPost(c.n1, sid, ['40'])).status, 200);
  const res = await get;
  assert.equal(res.status, 200, res.body);
  assert.match(decodePayload(res.body)[0], /^40\{"sid":"n2/);
  await pollPost(c.n2, sid, ['1']);

  const socks = [];
  for (let i = 0; i < 4; i++) socks.push(sioSocket(c.front, '/', i % 2 ? { transports: ['polling'] } : {}));
  await Promise.all(socks.map((s) => sioConnected(c.front, s)));
  const from = socks.find((s) => s.id.startsWith('n1'));
  const to = socks.find((s) => s.id.startsWith('n2'));
  assert.ok(from && to, `all on one node: ${socks.map((s) => s.id)}`);
  const got = once(to, 'chat message', 8000);
  from.emit('chat message', 'listed');
  assert.equal((await got)[0].text, 'listed');
  closeAll(socks);
});

test('LEARN=0: SIGTERM stops everything', async () => {
  const kids = descendants(c.script.pid);
  c.script.kill('SIGTERM');
  await waitFor(() => c.script.exitCode !== null, 40000, () => `cluster.sh to exit\n${c.out()}`);
  assert.equal(c.script.exitCode, 143, c.out());
  const left = kids.filter(alive);
  assert.deepEqual(left, [], `left running: ${left.map(cmdline).join('; ')}`);
});

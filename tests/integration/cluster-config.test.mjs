// A cluster node's configuration checks (docs/cluster.md): SocketIOPeer
// without mod_proxy stops httpd at startup; a siod whose node tag disagrees
// with SocketIONode, or that runs without --node on a cluster node, is
// refused with a clear line and requests get 503; a siod with --node behind
// a server that is no cluster node works as before, its ids tagged. What a
// peer gets (path and query as sent, the loop guard and mod_proxy's
// headers), and that SocketIONode keeps forwarding while siod is down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startInstance, pollHandshake, request, waitFor, freePort } from './harness.mjs';

const PROXY = ['proxy', 'proxy_http']
  .map((m) => `LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so`).join('\n');

test('SocketIOPeer without mod_proxy: httpd does not start, and says why', async () => {
  await assert.rejects(startInstance('cluster-noproxy', { extraConf: 'SocketIOPeer n2 http://127.0.0.1:9\n' }),
    /SocketIOPeer forwards requests through mod_proxy and mod_proxy_http: load both/);
});

test('siod running as another node than SocketIONode is refused: 503 and an error line', async () => {
  const inst = await startInstance('cluster-mismatch', { siodExtraArgs: ['--node=n2'], extraConf: `${PROXY}\nSocketIONode n1\n` });
  try {
    const res = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }));
    assert.equal(res.status, 503);
    await waitFor(() => /relay link to \S+ refused: siod runs as node 'n2' \(--node\) but SocketIONode is 'n1'/.test(inst.errorLog()),
      3000, 'the error line');
  } finally {
    await inst.stop();
  }
});

test('a cluster node whose siod runs without --node is refused too', async () => {
  const inst = await startInstance('cluster-untagged', { extraConf: `${PROXY}\nSocketIOPeer n2 http://127.0.0.1:9\n` });
  try {
    const res = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }));
    assert.equal(res.status, 503);
    await waitFor(() => /siod runs without --node, but SocketIONode or SocketIOPeer make this server a cluster node: start siod with --node=TAG/.test(inst.errorLog()),
      3000, 'the error line');
  } finally {
    await inst.stop();
  }
});

test('siod with --node behind a server that is no cluster node: served as before, ids tagged', async () => {
  const inst = await startInstance('cluster-single', { siodExtraArgs: ['--node=Zz'] });
  try {
    const { sid } = await pollHandshake(inst);
    assert.match(sid, /^Zz[A-Za-z0-9_-]{18}$/);
    // no forwarding: another tag is simply unknown to siod
    const res = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling', sid: `n1${sid.slice(2)}` }));
    assert.equal(res.status, 400);
  } finally {
    await inst.stop();
  }
});

test('a peer gets the request as sent, with the loop guard and mod_proxy\'s headers; SocketIONode forwards while siod is down', async () => {
  const seen = [];
  const peer = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    res.end('from the peer');
  });
  const peerPort = await freePort();
  await new Promise((r) => peer.listen(peerPort, '127.0.0.1', r));
  const inst = await startInstance('cluster-static', {
    siodExtraArgs: ['--node=n1'],
    extraConf: `${PROXY}\nSocketIONode n1\nSocketIOPeer n2 http://127.0.0.1:${peerPort}/\n`,
  });
  try {
    const { sid } = await pollHandshake(inst);
    const other = `n2${sid.slice(2)}`;
    const query = `EIO=4&transport=polling&t=a%2Fb&sid=${other}&x=%C3%A9`;
    let res = await request('POST', inst.url(`/socket.io/?${query}`), { body: '4hi' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'from the peer');
    assert.equal(seen[0].method, 'POST');
    assert.equal(seen[0].url, `/socket.io/?${query}`);
    assert.equal(seen[0].headers['x-socketio-forwarded'], 'n1');
    assert.equal(seen[0].headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen[0].headers.host, `127.0.0.1:${peerPort}`);
    // siod down: this node's own sessions get 503, a peer's still go there
    await inst.stopSiod();
    res = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling', sid: other }));
    assert.equal(res.status, 200);
    assert.equal(res.body, 'from the peer');
    res = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling', sid }));
    assert.equal(res.status, 503);
    assert.equal(seen.length, 2);
  } finally {
    await inst.stop();
    peer.close();
  }
});

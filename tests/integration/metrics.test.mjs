// What the module and siod are doing, for an admin: a Socket.IO section in
// mod_status's page ("SocketIO...: value" lines in ?auto), Prometheus text
// from SetHandler socketio-metrics (socketio_ series with HELP and TYPE
// lines), and the "stats" operation of the emit API as JSON; each figure
// follows what clients do, and the pages say so when siod is down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startInstance, sioConnect, closeAll, ackOf, sleep, request, waitFor,
} from './harness.mjs';

let inst;
before(async () => {
  inst = await startInstance('metrics', { app: 'testkit', status: true });
});
after(async () => { await sleep(200); await inst?.stop(); });

/** The Prometheus page as {series: value} (labels kept in the key). */
async function scrape() {
  const res = await request('GET', inst.url('/metrics'));
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const out = {};
  for (const line of res.body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return { values: out, text: res.body };
}
/** mod_status's ?auto lines starting "SocketIO", as {key: value}. */
async function statusAuto() {
  const res = await request('GET', inst.url('/server-status?auto'));
  assert.equal(res.status, 200);
  const out = {};
  for (const line of res.body.split('\n')) {
    const m = /^(SocketIO\w+): (.*)$/.exec(line);
    if (m) (out[m[1]] ??= []).push(m[2]);
  }
  return out;
}

test('figures follow the clients: sessions by transport, sockets by namespace, messages', { timeout: 30000 }, async () => {
  const before0 = (await scrape()).values;
  const ws = await sioConnect(inst, '/');
  const poll = await sioConnect(inst, '/', { transports: ['polling'] });
  const a = await sioConnect(inst, '/a', { transports: ['websocket'] });
  try {
    await waitFor(() => ws.io.engine.transport.name === 'websocket', 5000, 'upgrade');
    for (let i = 0; i < 5; i++) assert.deepEqual(await ackOf(ws, 'echo', [i]), [i]);

    const { values: m, text } = await scrape();
    for (const name of ['sessions', 'sessions_opened_total', 'messages_received_total', 'sockets', 'relay_links']) {
      assert.match(text, new RegExp(`^# HELP socketio_${name} `, 'm'));
      assert.match(text, new RegExp(`^# TYPE socketio_${name} (gauge|counter)$`, 'm'));
    }
    assert.equal(m['socketio_daemon_up'], 1);
    assert.equal(m['socketio_sessions{transport="polling"}'], 1);
    assert.equal(m['socketio_sessions{transport="websocket"}'], 2);
    assert.equal(m['socketio_sockets{namespace="/"}'], 2);
    assert.equal(m['socketio_sockets{namespace="/a"}'], 1);
    assert.ok(m['socketio_sessions_opened_total'] - before0['socketio_sessions_opened_total'] >= 3);
    assert.ok(m['socketio_messages_received_total'] - before0['socketio_messages_received_total'] >= 5);
    assert.ok(m['socketio_messages_sent_total'] > before0['socketio_messages_sent_total']);
    assert.ok(m['socketio_relay_links'] >= 1);
    assert.equal(m['socketio_redis_up'], undefined, 'no cluster: no Redis series');
    // siod's heap (glibc's figures): in use, and what is free inside it
    // (0 under ASan, whose allocator glibc's figures do not see)
    const heapFloor = process.env.SAN === '1' ? -1 : 100000;
    assert.ok(m['socketio_siod_heap_bytes'] > heapFloor,
      `heap ${m['socketio_siod_heap_bytes']}`);
    assert.ok(m['socketio_siod_heap_free_bytes'] >= 0);
    assert.equal(m['socketio_recovery_kept_sockets'], 0, 'recovery off: nothing kept');

    const st = await statusAuto();
    assert.deepEqual(st.SocketIOLinkUp, ['1']);
    assert.deepEqual(st.SocketIODaemonUp, ['1']);
    assert.deepEqual(st.SocketIOSessionsPolling, ['1']);
    assert.deepEqual(st.SocketIOSessionsWebSocket, ['2']);
    assert.ok(st.SocketIONamespace.includes('/ 2') && st.SocketIONamespace.includes('/a 1'), st.SocketIONamespace);
    assert.deepEqual(st.SocketIORedis, ['off']);
    assert.ok(Number(st.SocketIOHeapUsedBytes[0]) > heapFloor,
      `heap ${st.SocketIOHeapUsedBytes}`);
    assert.deepEqual(st.SocketIORecoveryBytes, ['0']);

    const html = await request('GET', inst.url('/server-status'));
    assert.match(html.body, /<h2>Socket.IO \(mod_socketio, siod\)<\/h2>/);
    assert.match(html.body, /SessionsWebSocket<\/th><td> 2</);

    const js = await request('POST', inst.url('/emit'), {
      headers: { 'Content-Type': 'application/json' }, body: '{"op":"stats"}',
    });
    const j = JSON.parse(js.body);
    assert.equal(j.ok, true);
    assert.equal(j.sessionsWebSocket, 2);
    assert.equal(j.redis, 'off');
    assert.ok(j.messagesIn >= 5);
    assert.deepEqual(j.namespaces.find((n) => n.name === '/a'), { name: '/a', sockets: 1 });
  } finally {
    closeAll(ws, poll, a);
  }
  // closed sessions leave the gauges and count as closed
  await waitFor(async () => {
    const { values } = await scrape();
    return values['socketio_sessions{transport="websocket"}'] === 0 &&
      values['socketio_sessions{transport="polling"}'] === 0;
  }, 10000, 'sessions to close');
  const end = (await scrape()).values;
  assert.ok(end['socketio_sessions_closed_total'] - before0['socketio_sessions_closed_total'] >= 3);
});

test('siod down: the pages say so and stay up', { timeout: 30000 }, async () => {
  await inst.stopSiod();
  try {
    const { values } = await scrape();
    assert.equal(values['socketio_daemon_up'], 0);
    const st = await statusAuto();
    assert.deepEqual(st.SocketIODaemonUp, ['0']);
    assert.deepEqual(st.SocketIOLinkUp, ['0']);
  } finally {
    await inst.startSiod();
  }
  await waitFor(async () => (await scrape()).values['socketio_daemon_up'] === 1, 10000, 'siod back');
  const bad = await request('POST', inst.url('/metrics'));
  assert.equal(bad.status, 405);
});

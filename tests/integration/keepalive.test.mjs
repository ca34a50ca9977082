// Keep-alive that holds: a polling client that reuses its connection is
// never cut. One keep-alive connection carries 200 polling cycles (a POST
// and the GET that answers it) with no reset; 100 concurrent keep-alive
// clients run whole sessions (open, CONNECT, an acked echo, close) for
// 5 s with no error, although they outnumber the threads (mpm_event would
// close kept-alive connections whenever its workers are busy; the module
// has them wait in CONN_STATE_ASYNC_WAITIO instead). And such connections
// still end: at KeepAliveTimeout once idle, and at once on a graceful
// restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { MPM, startInstance, pollHandshake, sleep, waitFor } from './harness.mjs';
import { graceful, pidAlive } from './scale-lib.mjs';
import { agentRequest, sessionLoop } from './poll-lib.mjs';

let inst;
before(async () => {
  inst = await startInstance('keepalive', { app: 'bench', pingInterval: 20000, pingTimeout: 20000 });
});
after(async () => { await inst?.stop(); });

const eio = (sid) => inst.url(`/socket.io/?EIO=4&transport=polling${sid ? `&sid=${sid}` : ''}`);

test(`${MPM}: one keep-alive connection carries 200 polling cycles (POST + GET) without a reset`,
  { timeout: 60000 }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set();
    const req = async (method, url, body) => {
      const res = await agentRequest(agent, method, url, { body, timeout: 10000 });
      sockets.add(res.socket);
      assert.equal(res.status, 200, `${method}: ${res.status} ${res.body}`);
      return res;
    };
    try {
      const open = await req('GET', eio());
      const { sid } = JSON.parse(open.body.slice(1));
      await req('POST', eio(sid), '40');
      assert.match((await req('GET', eio(sid))).body, /^40\{/);
      for (let i = 0; i < 200; i++) {
        assert.equal((await req('POST', eio(sid), `421${i}["echo",${i}]`)).body, 'ok');
        assert.equal((await req('GET', eio(sid))).body, `431${i}[${i}]`, `cycle ${i}`);
      }
      await req('POST', eio(sid), '1');
      assert.equal(sockets.size, 1, `one connection for all 403 requests, got ${sockets.size}`);
    } finally {
      agent.destroy();
    }
  });

test(`${MPM}: 100 concurrent keep-alive clients run whole polling sessions for 5 s without an error`,
  { timeout: 60000 }, async () => {
    const r = await sessionLoop(inst.url('/socket.io/'), { concurrency: 100, ms: 5000 });
    console.log(`${MPM}: ${r.sessions} sessions, ${r.requests} requests, errors ${JSON.stringify(r.errors)}`);
    assert.deepEqual(r.errors, {}, `errors: ${JSON.stringify(r.errors)} ${r.samples.join('; ')}\n${inst.logs()}`);
    assert.ok(r.sessions >= 100, `${r.sessions} sessions`);
  });

test(`${MPM}: an idle kept-alive polling connection is closed after KeepAliveTimeout`, { timeout: 30000 },
  async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const { sid } = await pollHandshake(inst);
      const res = await agentRequest(agent, 'POST', eio(sid), { body: '40' });
      assert.equal(res.body, 'ok');
      let closedAt = 0;
      res.socket.once('close', () => { closedAt = Date.now(); });
      const t0 = Date.now();
      // other clients keep the server busy meanwhile
      const other = sessionLoop(inst.url('/socket.io/'), { concurrency: 2, ms: 8000 });
      await waitFor(() => closedAt, 12000, 'the idle connection to be closed');
      const idle = closedAt - t0;
      console.log(`${MPM}: idle connection closed after ${idle} ms`);
      assert.ok(idle >= 4500 && idle < 7000, `closed after ${idle} ms (KeepAliveTimeout 5 s)`);
      assert.deepEqual((await other).errors, {});
    } finally {
      agent.destroy();
    }
  });

// prefork and worker: an idle kept-alive connection holds its thread, which
// ends it at KeepAliveTimeout (5 s) at the latest; mpm_event: at once.
const GRACEFUL_MS = MPM === 'event' ? 3000 : 8000;

test(`${MPM}: a graceful restart closes idle kept-alive polling connections within ${GRACEFUL_MS} ms`,
  { timeout: 30000 },
  async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      const { sid } = await pollHandshake(inst);
      const res = await Promise.all([
        agentRequest(agent, 'POST', eio(sid), { body: '40' }),
        agentRequest(agent, 'GET', inst.url('/socket.io/?EIO=4&transport=polling')),
      ]);
      for (const r of res) assert.equal(r.status, 200);
      await sleep(300);
      const old = inst.httpdChildren();
      const t0 = Date.now();
      graceful(inst);
      await waitFor(() => old.every((p) => !pidAlive(p)), GRACEFUL_MS,
        `old children ${old.filter(pidAlive)} to exit within ${GRACEFUL_MS} ms\n${inst.logs()}`, 20);
      console.log(`${MPM}: old children gone ${Date.now() - t0} ms after the signal`);
      await waitFor(() => inst.httpdChildren().length > 0, 5000, 'a new generation');
    } finally {
      agent.destroy();
    }
  });

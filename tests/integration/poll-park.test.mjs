// Held long-polls cost no thread under mpm_event: a crowd of polling-only
// clients (raw Socket.IO over Engine.IO polling, keep-alive) each keeps a
// GET waiting in siod; no worker is busy and httpd's thread count stays
// where it was idle, every client gets a broadcast and its acked echo, the
// connections are reused (the GETs were parked in the MPM and handed back,
// not closed), and a static page stays fast. Under prefork and worker each
// held GET holds a thread (SocketIOPollThreads, poll-cap.test.mjs); nothing
// to test here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import {
  MPM, startInstance, sleep, waitFor, withTimeout, pollHandshake, pollGet, pollPost, request,
} from './harness.mjs';
import { settledThreads, settledFds, httpdThreads, scoreboard, timedGets, summary, logLines } from './scale-lib.mjs';
import { agentRequest } from './poll-lib.mjs';

const CLIENTS = 1000;
const SEP = '\x1e';
const skip = MPM !== 'event' && 'held GETs hold threads under prefork and worker';

let inst;
before(async () => {
  if (skip) return;
  inst = await startInstance('poll-park', {
    app: 'bench', pingInterval: 25000, pingTimeout: 20000, status: true, tls: true,
  });
});
after(async () => { await inst?.stop(); });

/**
 * A raw polling client: a session, CONNECT to "/", then a GET always
 * pending; every packet received is kept. Acks what the test asks.
 */
class Poller {
  constructor(base, agent) {
    this.base = base;
    this.agent = agent;
    this.packets = [];
    this.sockets = agent.sockets_seen;
    this.errors = [];
    this.waiters = [];
  }

  url() { return `${this.base}?EIO=4&transport=polling${this.sid ? `&sid=${this.sid}` : ''}`; }

  async open() {
    const res = await agentRequest(this.agent, 'GET', this.url());
    this.sid = JSON.parse(res.body.slice(1)).sid;
    await this.post('40');
  }

  async post(body) {
    const res = await agentRequest(this.agent, 'POST', this.url(), { body });
    if (res.status !== 200) throw new Error(`POST ${res.status} ${res.body}`);
  }

  /** Keeps one GET pending until stop(). */
  run() {
    this.running = true;
    this.done = (async () => {
      while (this.running) {
        try {
          const res = await agentRequest(this.agent, 'GET', this.url(), { timeout: 60000 });
          this.gets = (this.gets || 0) + 1;
          this.sockets.add(res.socket);
          if (res.status !== 200) throw new Error(`GET ${res.status} ${res.body}`);
          for (const p of res.body.split(SEP)) {
            if (p === '2') await this.post('3');          // ping: pong
            else if (p !== '6') this.packets.push(p);
          }
          this.waiters.splice(0).forEach((w) => w());
        } catch (e) {
          this.errors.push(e.message);
          return;
        }
      }
    })();
  }

  has(pred) { return this.packets.some(pred); }

  until(pred, ms, what) {
    return withTimeout((async () => {
      while (!this.has(pred)) await new Promise((r) => this.waiters.push(r));
    })(), ms, what);
  }
}

test(`${MPM}: ${CLIENTS} polling-only clients each holding a GET: no worker busy, no thread more, a broadcast and an ack each, ` +
  'pages fast', { skip, timeout: 180000 }, async () => {
  const base = inst.url('/socket.io/');
  const agent = new http.Agent({ keepAlive: true });
  agent.sockets_seen = new Set();   // every connection a GET went over
  const idle = await settledThreads(inst);
  const fds0 = inst.httpdFds();
  const clients = [];
  try {
    // Opens and first GETs go in batches of 20, under the 50 workers of
    // the two children: a GET holds a worker until it is parked, and a
    // burst that busies every worker makes the MPM start a child.
    for (let i = 0; i < CLIENTS; i += 20) {
      const batch = Array.from({ length: Math.min(20, CLIENTS - i) }, () => new Poller(base, agent));
      await Promise.all(batch.map((c) => c.open()));
      clients.push(...batch);
    }
    for (let i = 0; i < CLIENTS; i += 20) {
      clients.slice(i, i + 20).forEach((c) => c.run());
      await sleep(10);
    }
    await waitFor(() => clients.every((c) => c.has((p) => p.startsWith('40{'))), 30000,
      'every CONNECT answer');
    await sleep(1000);                // every client's next GET is held
    let board;
    await waitFor(async () => (board = await scoreboard(inst)).busy <= 1, 10000,
      () => `no worker busy but the status request (scoreboard ${JSON.stringify(board)})`, 200);
    const held = httpdThreads(inst);
    console.log(`${MPM}: threads idle ${idle.total} (${idle.children} children), ` +
      `with ${CLIENTS} held GETs ${held.total} (${held.children} children); scoreboard ${JSON.stringify(board)}`);
    assert.equal(held.children, idle.children, 'no child more');
    assert.equal(held.total, idle.total, 'no thread more');

    const pages = await timedGets(inst.url('/index.html'), 30, { gapMs: 20 });
    const st = summary(pages.ms);
    console.log(`${MPM}: page with ${CLIENTS} held GETs: ${JSON.stringify(st)}`);
    assert.deepEqual(pages.statuses, { 200: 30 });
    assert.ok(st.p50 < 100, `page p50 ${st.p50} ms`);

    await clients[0].post('42["bcast",1]');
    await Promise.all(clients.map((c, i) => c.until((p) => p === '42["tick",1]', 30000, `client ${i}: the broadcast`)));
    for (let i = 0; i < CLIENTS; i += 100) {
      await Promise.all(clients.slice(i, i + 100).map((c, j) => c.post(`421${i + j}["echo",${i + j}]`)));
    }
    await Promise.all(clients.map((c, i) => c.until((p) => p === `431${i}[${i}]`, 30000, `client ${i}: its ack`)));
    const errors = clients.flatMap((c) => c.errors);
    assert.deepEqual(errors, []);
    // the connections were reused: parked GETs' connections came back
    // (closing them would have taken a new one per GET, 3 per client)
    const conns = agent.sockets_seen.size;
    const gets = clients.reduce((n, c) => n + c.gets, 0);
    console.log(`${MPM}: ${gets} GETs over ${conns} connections for ${CLIENTS} clients`);
    // each GET waited for its packets (none answered at once over a cap)
    assert.ok(gets <= CLIENTS * 5, `${gets} GETs`);
    assert.deepEqual(logLines(inst, /answered at once instead of held/), []);
    assert.ok(conns <= CLIENTS * 1.5, `${conns} connections for ${CLIENTS} clients' GETs`);
  } finally {
    for (const c of clients) c.running = false;
    await Promise.all(clients.map((c) => (c.sid ? c.post('1').catch(() => {}) : null)));
    await Promise.all(clients.map((c) => c.done));
    agent.destroy();
  }
  // every parked GET's descriptors went back: the children hold what they
  // held before (their connections closed)
  await waitFor(() => Object.entries(fds0).every(([pid, n]) => (inst.httpdFds()[pid] ?? n) <= n + 2), 15000,
    `httpd children's descriptors back to ${JSON.stringify(fds0)} (now ${JSON.stringify(inst.httpdFds())})`, 200);
  assert.deepEqual(logLines(inst, /\[socketio:(error|crit|alert|emerg)\]|segfault|exit signal/), []);
});

test(`${MPM}: over HTTPS held GETs are parked too (no worker busy); the clients get their broadcast ` +
  'and acks through mod_ssl', { skip, timeout: 60000 }, async () => {
  const N = 20;
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  agent.sockets_seen = new Set();
  const clients = Array.from({ length: N }, () => new Poller(inst.tlsUrl('/socket.io/'), agent));
  try {
    await Promise.all(clients.map((c) => c.open()));
    clients.forEach((c) => c.run());
    await waitFor(() => clients.every((c) => c.has((p) => p.startsWith('40{'))), 10000, 'every CONNECT answer');
    await sleep(500);
    let board;
    await waitFor(async () => (board = await scoreboard(inst)).busy <= 1, 10000,
      () => `no worker busy but the status request (scoreboard ${JSON.stringify(board)})`, 100);
    await clients[0].post('42["bcast",2]');
    await Promise.all(clients.map((c, i) => c.until((p) => p === '42["tick",2]', 10000, `client ${i}: the broadcast`)));
    await Promise.all(clients.map((c, i) => c.post(`427${i}["echo",${i}]`)));
    await Promise.all(clients.map((c, i) => c.until((p) => p === `437${i}[${i}]`, 10000, `client ${i}: its ack`)));
    assert.deepEqual(clients.flatMap((c) => c.errors), []);
    assert.ok(agent.sockets_seen.size <= N * 1.5, `${agent.sockets_seen.size} TLS connections for ${N} clients`);
  } finally {
    for (const c of clients) c.running = false;
    await Promise.all(clients.map((c) => (c.sid ? c.post('1').catch(() => {}) : null)));
    await Promise.all(clients.map((c) => c.done));
    agent.destroy();
  }
});

test(`${MPM}: a parked GET that the MPM times out (Timeout below pingInterval) is released; the session goes on`,
  { skip, timeout: 30000 }, async () => {
    const short = await startInstance('poll-park-timeout', {
      // one child: the descriptors counted are those of the child that
      // served the session (its relay link opened by the handshake)
      app: 'bench', pingInterval: 25000, pingTimeout: 20000, extraConf: 'Timeout 2\nStartServers 1',
    });
    try {
      const { sid } = await pollHandshake(short);
      const fds0 = await settledFds(short);
      assert.equal(Object.keys(fds0).length, 1, `one child: ${JSON.stringify(fds0)}`);
      assert.equal((await pollPost(short, sid, ['40'])).body, 'ok');
      assert.match((await pollGet(short, sid)).body, /^40\{/);
      const t0 = Date.now();
      await assert.rejects(pollGet(short, sid, { timeout: 10000 }), /socket hang up|ECONNRESET/);
      const ms = Date.now() - t0;
      assert.ok(ms >= 1500 && ms < 6000, `closed after ${ms} ms (Timeout 2 s)`);
      // siod forgot the GET: the next one is not an overlap
      assert.equal((await pollPost(short, sid, ['421["echo","on"]'])).body, 'ok');
      const res = await pollGet(short, sid);
      assert.equal(res.status, 200);
      assert.equal(res.body, '431["on"]');
      assert.equal(logLines(short, /the MPM closed a connection whose long-poll was still waiting/).length, 1);
      assert.deepEqual(short.siodLog().split('\n').filter((l) => /overlap/.test(l)), []);
      await waitFor(() => Object.entries(fds0).every(([pid, n]) => (short.httpdFds()[pid] ?? n) <= n + 1), 10000,
        `descriptors back to ${JSON.stringify(fds0)} (now ${JSON.stringify(short.httpdFds())})`, 100);
      assert.equal((await request('GET', short.url('/health.txt'))).status, 200);
    } finally {
      await short.stop();
    }
  });

test(`${MPM}: an idle client's parked GET gives its connection's free memory back; a busy one's keeps it`,
  { skip, timeout: 30000 }, async () => {
    const idle = await startInstance('poll-park-trim', {
      app: 'bench', pingInterval: 1200, pingTimeout: 5000, logLevel: 'warn socketio:trace2',
    });
    // GETs on one connection, POSTs on another (as a browser does)
    const getAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const postAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const base = idle.url('/socket.io/');
      const url = (sid) => `${base}?EIO=4&transport=polling&sid=${sid}`;
      const post = async (sid, body) => {
        assert.equal((await agentRequest(postAgent, 'POST', url(sid), { body })).body, 'ok');
      };
      const hs = await agentRequest(getAgent, 'GET', `${base}?EIO=4&transport=polling`);
      const { sid } = JSON.parse(hs.body.slice(1));
      const sock = hs.socket;
      await post(sid, '40');
      assert.match((await agentRequest(getAgent, 'GET', url(sid))).body, /^40\{/);
      const trims = () => logLines(idle, /idle long-poll parked: \d+ free blocks/);
      // busy: GETs answered within a few ms of parking never count as idle
      for (let i = 0; i < 5; i++) {
        const get = agentRequest(getAgent, 'GET', url(sid));
        await sleep(50);
        await post(sid, `42${10 + i}["echo",${i}]`);
        assert.equal((await get).body, `43${10 + i}[${i}]`);
      }
      assert.deepEqual(trims(), [], 'no trim while busy');
      // idle: a GET that waits a whole ping interval (over a second) makes
      // the connection count as idle; the next one parked gives memory
      // back (the first GET here may get a ping already due)
      for (let i = 0; i < 3; i++) {
        const res = await agentRequest(getAgent, 'GET', url(sid));
        assert.equal(res.body, '2');
        assert.equal(res.socket, sock, 'the same keep-alive connection');
        await post(sid, '3');
      }
      const lines = trims();
      assert.ok(lines.length >= 1, 'a trim logged');
      const n = Number(/: (\d+) free blocks/.exec(lines[0])[1]);
      assert.ok(n >= 1, `blocks given back: ${lines[0]}`);
    } finally {
      getAgent.destroy();
      postAgent.destroy();
      await idle.stop();
    }
  });

// Helpers shared by the scale-*.test.mjs files ("Socket.IO crowds never
// starve the site"): httpd thread counts from /proc, the siobench load
// generator as a child process, timed page GETs, a page-polling loop, a
// graceful restart, and a light raw Socket.IO client over `ws` (thousands of
// them fit in one Node.js process, close codes are visible, reading can be
// paused to play a client that stops reading).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { BUILD, request, withTimeout, sleep } from './harness.mjs';

const HTTPD = process.env.HTTPD || '/usr/sbin/apache2';
export const SIOBENCH = path.join(BUILD, 'tools', 'siobench');

/* ---- processes and threads --------------------------------------------- */

/** Threads of pid (the Threads: line of /proc/<pid>/status), 0 when gone. */
export function threadsOf(pid) {
  try {
    const m = /^Threads:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** True while pid exists and is not a zombie. */
export function pidAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * httpd's threads: {total, children, perChild: {pid: threads}} over the
 * parent and every child process.
 */
export function httpdThreads(inst) {
  const kids = inst.httpdChildren();
  const perChild = {};
  let total = inst.httpdPid ? threadsOf(inst.httpdPid) : 0;
  for (const p of kids) {
    perChild[p] = threadsOf(p);
    total += perChild[p];
  }
  return { total, children: kids.length, perChild };
}

/**
 * httpd children's descriptor counts once two readings `gapMs` apart
 * agree (connections of the requests before it closed).
 */
export async function settledFds(inst, gapMs = 300, ms = 10000) {
  const end = Date.now() + ms;
  let prev = JSON.stringify(inst.httpdFds());
  for (;;) {
    await sleep(gapMs);
    const cur = JSON.stringify(inst.httpdFds());
    if (cur === prev || Date.now() > end) return JSON.parse(cur);
    prev = cur;
  }
}

/**
 * Apache's scoreboard from /server-status?auto (an instance started with
 * status: true): {busy, idle} worker threads; the status request itself
 * is one of the busy.
 */
export async function scoreboard(inst) {
  const res = await request('GET', inst.url('/server-status?auto'));
  if (res.status !== 200) throw new Error(`server-status ${res.status}`);
  const field = (name) => Number((res.body.match(new RegExp(`^${name}: (\\d+)$`, 'm')) || [])[1]);
  return { busy: field('BusyWorkers'), idle: field('IdleWorkers') };
}

/**
 * Waits until httpd's thread count reads the same twice `gapMs` apart
 * (children finished starting their threads); resolves that reading.
 */
export async function settledThreads(inst, gapMs = 500, ms = 10000) {
  const end = Date.now() + ms;
  let prev = httpdThreads(inst);
  for (;;) {
    await sleep(gapMs);
    const cur = httpdThreads(inst);
    if (cur.total === prev.total && cur.children === prev.children) return cur;
    if (Date.now() > end) return cur;
    prev = cur;
  }
}

/** `apache2 -f <conf> -k graceful` for the instance (signals its parent). */
export function graceful(inst) {
  const env = { ...process.env };
  if (process.env.SAN === '1') { // the sanitizer-built module needs ASan's runtime first
    env.LD_PRELOAD = execFileSync(process.env.CC || 'gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
    env.ASAN_OPTIONS = 'detect_leaks=0';
  }
  execFileSync(HTTPD, ['-f', inst.paths.CONF, '-k', 'graceful'], { stdio: 'pipe', env });
}

/** error_log lines matching re. */
export function logLines(inst, re) {
  return inst.errorLogLines().filter((l) => re.test(l));
}

/* ---- statistics -------------------------------------------------------- */

/** The q-quantile (0..1) of numbers (nearest rank); NaN when empty. */
export function quantile(values, q) {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** {n, p50, p99, max} of numbers, rounded to 0.01 (for logs). */
export function summary(values) {
  const f = (x) => Math.round(x * 100) / 100;
  return { n: values.length, p50: f(quantile(values, 0.5)), p99: f(quantile(values, 0.99)), max: f(Math.max(...values)) };
}

/**
 * n sequential GETs of url, each on a fresh connection; resolves
 * {statuses: {code: count}, errors: [...], ms: [latencies]}.
 */
export async function timedGets(url, n, { gapMs = 0, timeout = 10000 } = {}) {
  const out = { statuses: {}, errors: [], ms: [] };
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    try {
      const res = await request('GET', url, { timeout });
      out.ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      out.statuses[res.status] = (out.statuses[res.status] || 0) + 1;
    } catch (e) {
      out.errors.push(e.message);
    }
    if (gapMs) await sleep(gapMs);
  }
  return out;
}

/**
 * Requests the urls in turn, every gapMs, until stop() is called; stop()
 * resolves {count, statuses, times (when each request ended), bad: [{url,
 * status|error, at}]} where bad lists every 5xx answer and every failed
 * request.
 */
export function pageLoop(urls, { gapMs = 10, timeout = 10000 } = {}) {
  let running = true;
  const result = { count: 0, bad: [], statuses: {}, times: [] };
  const done = (async () => {
    for (let i = 0; running; i++) {
      const url = urls[i % urls.length];
      try {
        const res = await request('GET', url, { timeout });
        result.statuses[res.status] = (result.statuses[res.status] || 0) + 1;
        if (res.status >= 500) result.bad.push({ url, status: res.status, body: res.body.slice(0, 200), at: Date.now() });
      } catch (e) {
        result.bad.push({ url, error: e.message, at: Date.now() });
      }
      result.count++;
      result.times.push(Date.now());
      if (gapMs) await sleep(gapMs);
    }
  })();
  return { result, stop: async () => { running = false; await done; return result; } };
}

/* ---- siobench ---------------------------------------------------------- */

/**
 * Runs build/tools/siobench MODE against inst with args (array). The
 * returned object has lines (stdout so far), waitLine(re, ms) and done, a
 * promise of the final JSON report (rejects if the tool fails or prints
 * none).
 */
export function siobench(inst, mode, args, { url } = {}) {
  const child = spawn(SIOBENCH, [mode, '--url', url || inst.url('/socket.io/'), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { child, lines: [], stderr: '', waiters: [] };
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop();
    run.lines.push(...parts);
    run.waiters.splice(0).forEach((w) => w());
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { run.stderr += d; });
  run.done = new Promise((resolve, reject) => {
    child.on('exit', (code, sig) => {
      if (partial) run.lines.push(partial);
      run.exited = true;
      run.waiters.splice(0).forEach((w) => w());
      const last = run.lines.filter(Boolean).pop() || '';
      try {
        const json = JSON.parse(last);
        json.exit = code ?? sig;
        if (run.stderr) json.stderr = run.stderr.slice(-2000);
        resolve(json);
      } catch {
        reject(new Error(`siobench ${mode} exited with ${code ?? sig} without a JSON report\n` +
          `${run.lines.slice(-10).join('\n')}\n${run.stderr.slice(-2000)}`));
      }
    });
  });
  run.done.catch(() => {});
  run.waitLine = (re, ms) => withTimeout((async () => {
    for (;;) {
      const l = run.lines.find((x) => re.test(x));
      if (l) return l;
      if (run.exited) throw new Error(`siobench exited before printing ${re}\n${run.lines.slice(-10).join('\n')}\n${run.stderr}`);
      await new Promise((r) => run.waiters.push(r));
    }
  })(), ms, `siobench line ${re}`);
  run.kill = () => { try { child.kill('SIGKILL'); } catch { /* gone */ } };
  return run;
}

/* ---- raw Socket.IO clients over ws ------------------------------------- */

/**
 * A minimal Socket.IO v5 client on namespace "/" over a WebSocket-only
 * Engine.IO v4 connection (the `ws` package): answers pings, records every
 * event with its arrival time, sends events and acks, and exposes how the
 * connection closed. Text packets only.
 */
export class SioWs {
  constructor(ws) {
    this.ws = ws;
    this.events = [];
    this.waiters = [];
    this.acks = new Map();
    this.nextAck = 1;
    this.pings = 0;
    this.sid = null;
    this.closed = null;     // {code, reason, at} once closed
    this.closedP = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString(), at: Date.now() };
        for (const [, a] of this.acks) a.reject(new Error(`closed (${code}) before the ack`));
        this.acks.clear();
        this.wake();
        resolve(this.closed);
      });
    });
    ws.on('error', () => { /* reported through close */ });
    ws.on('message', (data, isBinary) => { if (!isBinary) this.onPacket(data.toString('utf8')); });
  }

  /**
   * Opens a client to url (ws:// or wss:// .../socket.io/?EIO=4&transport=websocket)
   * and resolves it once the Socket.IO CONNECT is answered.
   */
  static connect(url, { timeout = 10000, auth } = {}) {
    const ws = new WebSocket(url, { perMessageDeflate: false, rejectUnauthorized: false, handshakeTimeout: timeout });
    const c = new SioWs(ws);
    return withTimeout(new Promise((resolve, reject) => {
      c.onConnect = resolve;
      ws.on('unexpected-response', (req, res) => {
        reject(Object.assign(new Error(`WebSocket upgrade answered ${res.statusCode}`), { status: res.statusCode }));
        req.destroy();
      });
      ws.on('error', (e) => reject(e));
      ws.on('close', (code) => reject(new Error(`closed (${code}) before Socket.IO connected`)));
      ws.on('open', () => {
        c.port = ws._socket?.localPort; // to match [remote 127.0.0.1:PORT] in error_log
        ws.send(auth ? `40${JSON.stringify(auth)}` : '40');
      });
    }).then(() => c), timeout, `Socket.IO connect over ${url}`).catch((e) => { ws.terminate(); throw e; });
  }

  onPacket(p) {
    switch (p[0]) {
    case '0': this.open = JSON.parse(p.slice(1)); break;
    case '2': this.pings++; if (this.ws.readyState === WebSocket.OPEN) this.ws.send('3'); break;
    case '4': this.onSio(p.slice(1)); break;
    default: break;
    }
  }

  onSio(s) {
    if (s[0] === '0') {
      this.sid = JSON.parse(s.slice(1)).sid;
      this.onConnect?.();
    } else if (s[0] === '2') {
      const i = s.indexOf('[');
      const [event, ...args] = JSON.parse(s.slice(i));
      this.events.push({ event, args, at: Date.now() });
      this.wake();
    } else if (s[0] === '3') {
      const i = s.indexOf('[');
      const id = Number(s.slice(1, i));
      const a = this.acks.get(id);
      if (a) { this.acks.delete(id); a.resolve(JSON.parse(s.slice(i))); }
    }
  }

  wake() { this.waiters.splice(0).forEach((w) => w()); }

  /** Every received event named `event`, as {args, at}. */
  all(event) { return this.events.filter((e) => e.event === event); }

  /** Resolves once pred() holds (checked at each event); rejects after ms. */
  until(pred, ms, what) {
    return withTimeout((async () => {
      while (!pred()) {
        if (this.closed) throw new Error(`connection closed (${this.closed.code}) while waiting for ${what}`);
        await new Promise((r) => this.waiters.push(r));
      }
    })(), ms, what);
  }

  emit(event, ...args) { this.ws.send(`42${JSON.stringify([event, ...args])}`); }

  /** Emits with an ack; resolves the ack's arguments. */
  ack(event, args = [], ms = 5000) {
    const id = this.nextAck++;
    const p = new Promise((resolve, reject) => this.acks.set(id, { resolve, reject }));
    this.ws.send(`42${id}${JSON.stringify([event, ...args])}`);
    return withTimeout(p, ms, `ack of "${event}"`).finally(() => this.acks.delete(id));
  }

  /** Stops reading from the socket (the kernel buffers fill up). */
  pause() { this.ws.pause(); }
  resume() { this.ws.resume(); }
  close() { if (!this.closed) this.ws.close(1000); }
  terminate() { this.ws.terminate(); }
}

/** ws:// (or wss://) URL of inst's Engine.IO endpoint, WebSocket only. */
export function sioWsUrl(inst, { tls = false } = {}) {
  return tls
    ? `wss://127.0.0.1:${inst.tlsPort}/socket.io/?EIO=4&transport=websocket`
    : `ws://127.0.0.1:${inst.port}/socket.io/?EIO=4&transport=websocket`;
}

/**
 * Opens n SioWs clients, at most `concurrency` handshakes at a time;
 * resolves the clients (rejects, closing those opened, if any fails).
 */
export async function connectMany(url, n, { concurrency = 50, timeout = 15000 } = {}) {
  const out = [];
  let next = 0;
  let failure = null;
  const worker = async () => {
    while (next < n && !failure) {
      next++;
      try {
        out.push(await SioWs.connect(url, { timeout }));
      } catch (e) {
        failure = failure || e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  if (failure) {
    for (const c of out) c.terminate();
    throw new Error(`${out.length} of ${n} clients connected; first failure: ${failure.message}`);
  }
  return out;
}

// The clients of `make bench-restart` (scripts/bench-restart.sh): CLIENTS
// official socket.io-client sockets (WebSocket, the client's default
// reconnection: 1 s doubling to 5 s, ±50 %) spread over PROCS Node.js
// processes, connected to a server running siod with --recovery. Once all
// hold an offset (an event to everyone through the HTTP emit API), the
// parent sends SIGTERM to siod (pid in SIOD_PID_FILE; httpd starts it
// again) and measures, per client, the time from that signal to its
// socket's reconnection with `recovered` true, or, for a client the
// restart left connected (the module's hand-over of WebSockets), to its
// receiving the event below (served); it emits one more event as
// soon as the new siod (a new pid in SIOD_PID_FILE: the old one answers
// while it drains) answers and counts the clients that got it exactly
// once. Prints a JSON summary (p50/p99/max, recovered within 5 s, not
// recovered, lost, when the new siod started and answered) and writes it
// to OUT_JSON.
//
// Environment: URL (http://127.0.0.1:8080), CLIENTS (10000), PROCS (4),
// CONNECT_RATE (1000 a second, all processes), SRC (source addresses
// a.b.c.d-a.b.c.e, round robin; default none), TIMEOUT (30 s after the
// signal), SIOD_PID_FILE (required), OUT_JSON (optional).
import { fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';

const env = process.env;
const URL_ = env.URL || 'http://127.0.0.1:8080';
const CLIENTS = Number(env.CLIENTS || 10000);
const PROCS = Math.max(1, Math.min(Number(env.PROCS || 4), CLIENTS));
const CONNECT_RATE = Number(env.CONNECT_RATE || 1000);
const TIMEOUT_MS = Number(env.TIMEOUT || 30) * 1000;
const TARGET_MS = 5000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The addresses of "a.b.c.d-a.b.c.e" (the last byte ranges), or []. */
function sources(spec) {
  if (!spec) return [];
  const m = /^(\d+\.\d+\.\d+\.)(\d+)-(?:\d+\.\d+\.\d+\.)?(\d+)$/.exec(spec);
  if (!m) throw new Error(`SRC: expected a.b.c.d-a.b.c.e, got ${spec}`);
  const out = [];
  for (let i = Number(m[2]); i <= Number(m[3]); i++) out.push(m[1] + i);
  return out;
}

// ---------------------------------------------------------------- a worker

async function worker(index, count, first) {
  const src = sources(env.SRC);
  const perSecond = CONNECT_RATE / PROCS;
  const socks = [];
  let t0 = 0;
  let cpu0 = null;
  let cpuBack = null;   // this process's CPU from the signal to its last client back
  let connected = 0;
  let helloed = 0;
  let back = 0;
  const send = (m) => process.send(m);

  for (let i = 0; i < count; i++) {
    const opts = { path: '/socket.io/', transports: ['websocket'], forceNew: true, timeout: 20000 };
    if (src.length) opts.localAddress = src[(first + i) % src.length];
    const s = io(URL_, opts);
    // served: a client the restart left connected (the module's hand-over)
    // got "missed", this long after the signal
    const rec = { s, recovered: -1, served: -1, fresh: false, missed: 0, downs: 0, hello: false };
    s.on('connect', () => {
      if (!t0) {
        connected++;
        return;
      }
      if (rec.recovered >= 0 || rec.fresh) return;
      if (s.recovered) rec.recovered = Date.now() - t0;
      else rec.fresh = true;
      if (++back === count) cpuBack = process.cpuUsage(cpu0);
    });
    s.on('disconnect', () => { rec.downs++; });
    s.on('hello', () => { if (!rec.hello) { rec.hello = true; helloed++; } });
    s.on('missed', () => {
      rec.missed++;
      if (t0 && rec.downs === 0 && rec.served < 0) {
        rec.served = Date.now() - t0;
        if (++back === count) cpuBack = process.cpuUsage(cpu0);
      }
    });
    socks.push(rec);
    if ((i + 1) % Math.max(1, Math.round(perSecond / 20)) === 0) await sleep(50);
  }
  const waitAll = async (pred, ms) => {
    const end = Date.now() + ms;
    while (!pred() && Date.now() < end) await sleep(100);
  };
  await waitAll(() => connected === count, 60000);
  send({ type: 'connected', n: connected });
  process.on('message', async (m) => {
    if (m.type === 'await-hello') {
      await waitAll(() => helloed === count, 20000);
      send({ type: 'helloed', n: helloed });
    } else if (m.type === 'go') {
      t0 = m.t0;
      cpu0 = process.cpuUsage();
    } else if (m.type === 'report') {
      // every client back (recovered or not), or the deadline
      await waitAll(() => socks.every((r) => r.recovered >= 0 || r.fresh || r.served >= 0),
        Math.max(0, m.deadline - Date.now()));
      await sleep(500);   // a "missed" sent twice would have come by now
      send({
        type: 'report',
        times: socks.filter((r) => r.recovered >= 0).map((r) => r.recovered),
        served: socks.filter((r) => r.served >= 0).map((r) => r.served),
        stayed: socks.filter((r) => r.downs === 0).length,
        fresh: socks.filter((r) => r.fresh).length,
        lost: socks.filter((r) => r.recovered < 0 && !r.fresh && r.downs > 0).length,
        missedOnce: socks.filter((r) => r.missed === 1).length,
        missedTwice: socks.filter((r) => r.missed > 1).length,
        cpuMs: cpuBack ? (cpuBack.user + cpuBack.system) / 1000 : null,
      });
      for (const r of socks) r.s.close();
      setTimeout(() => process.exit(0), 200);
    }
  });
}

// ---------------------------------------------------------------- the parent

function emit(body) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request(`${URL_}/emit`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
      timeout: 2000,
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end(data);
  });
}

/** The machine's busy CPU time so far, in ms (/proc/stat, all cores). */
function busyMs() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
  return busy * 10;   // USER_HZ 100
}

/** utime, stime, cutime, cstime of pid in ms and its parent pid, or null. */
function procTimes(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number);
    // after the name: state ppid ... utime(14th field) is f[11]
    return { ppid: f[1], self: (f[11] + f[12]) * 10, reaped: (f[13] + f[14]) * 10 };
  } catch { return null; }
}

/** The CPU httpd (HTTPD_PID and its children, siod included, the exited
 * ones through the parent's reaped times) has used so far, in ms; null
 * without HTTPD_PID. */
function serverMs() {
  const top = Number(env.HTTPD_PID || 0);
  const t = top && procTimes(top);
  if (!t) return null;
  let ms = t.self + t.reaped;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const c = procTimes(d);
    if (c && c.ppid === top) ms += c.self;
  }
  return ms;
}

function quantile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function parent() {
  if (!env.SIOD_PID_FILE) throw new Error('SIOD_PID_FILE is required');
  const kids = [];
  const inbox = [];
  const waiters = [];
  const next = (type, n) => new Promise((resolve) => {
    const check = () => {
      const got = inbox.filter((m) => m.type === type);
      if (got.length >= n) {
        for (const m of got) inbox.splice(inbox.indexOf(m), 1);
        resolve(got);
        return true;
      }
      return false;
    };
    if (!check()) waiters.push(check);
  });
  const self = fileURLToPath(import.meta.url);
  for (let i = 0, first = 0; i < PROCS; i++) {
    const count = Math.floor(CLIENTS / PROCS) + (i < CLIENTS % PROCS ? 1 : 0);
    const k = fork(self, ['worker', String(i), String(count), String(first)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    k.on('message', (m) => { inbox.push(m); for (const w of waiters.splice(0)) if (!w()) waiters.push(w); });
    kids.push(k);
    first += count;
  }
  const log = (s) => process.stderr.write(`restart-bench: ${s}\n`);
  const t = Date.now();
  const connected = (await next('connected', PROCS)).reduce((a, m) => a + m.n, 0);
  log(`${connected} of ${CLIENTS} clients connected in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  if ((await emit({ event: 'hello', args: [1] })) !== 200) throw new Error('the emit API did not answer 200');
  for (const k of kids) k.send({ type: 'await-hello' });
  const helloed = (await next('helloed', PROCS)).reduce((a, m) => a + m.n, 0);
  log(`${helloed} clients hold an offset`);
  await sleep(1000);

  const pid = Number(fs.readFileSync(env.SIOD_PID_FILE, 'utf8'));
  const t0 = Date.now();
  const busy0 = busyMs();
  const server0 = serverMs();
  // [ms after the signal, the machine's busy ms since, httpd's and siod's]
  const busySamples = [];
  const sampler = setInterval(() => {
    const sv = serverMs();
    busySamples.push([Date.now() - t0, busyMs() - busy0, sv === null ? null : sv - server0]);
  }, 100);
  for (const k of kids) k.send({ type: 'go', t0 });
  process.kill(pid, 'SIGTERM');
  log(`SIGTERM to siod ${pid}`);
  // the old siod answers while it drains its links: wait for the new one
  // (its pid in the pid file), then for its first 200 from the emit API,
  // which then sends "missed"
  let back = null;
  let started = null;
  while (Date.now() - t0 < TIMEOUT_MS && started === null) {
    let now = 0;
    try { now = Number(fs.readFileSync(env.SIOD_PID_FILE, 'utf8')); } catch { /* between the two */ }
    if (now && now !== pid) started = Date.now() - t0;
    else await sleep(10);
  }
  while (started !== null && Date.now() - t0 < TIMEOUT_MS) {
    if ((await emit({ event: 'missed', args: [2] })) === 200) { back = Date.now() - t0; break; }
    await sleep(20);
  }
  log(back === null ? 'siod did not come back' : `a new siod wrote its pid ${started} ms and answered ${back} ms after the signal`);
  for (const k of kids) k.send({ type: 'report', deadline: t0 + TIMEOUT_MS });
  const reports = await next('report', PROCS);
  clearInterval(sampler);
  const recoveredN = reports.reduce((a, r) => a + r.times.length, 0);
  // recovered (reconnected) and served (kept connected) alike: back in service
  const times = reports.flatMap((r) => [...r.times, ...r.served]).sort((a, b) => a - b);
  const sum = (f) => reports.reduce((a, r) => a + r[f], 0);
  // CPU from the signal to the last client back (the first sample at or
  // after that moment): the whole machine's, httpd's and siod's, and the
  // clients' own
  const lastBack = times.length ? times.at(-1) : null;
  const at = lastBack === null ? undefined : busySamples.find(([ms]) => ms >= lastBack);
  const clientsCpu = reports.every((r) => r.cpuMs !== null) ? Math.round(sum('cpuMs')) : null;
  // back per second after the signal: the reconnection rate
  const perSecond = [];
  for (const x of times) perSecond[Math.floor(x / 1000)] = (perSecond[Math.floor(x / 1000)] || 0) + 1;
  const out = {
    clients: CLIENTS, connected, helloed, procs: PROCS, siod_started_ms: started, siod_back_ms: back,
    recovered: recoveredN, stayed: sum('stayed'), served: reports.reduce((a, r) => a + r.served.length, 0),
    within_5s: times.filter((x) => x <= TARGET_MS).length,
    not_recovered: sum('fresh'), lost: sum('lost'),
    p50_ms: quantile(times, 0.5), p99_ms: quantile(times, 0.99), max_ms: times.length ? times.at(-1) : null,
    missed_once: sum('missedOnce'), missed_twice: sum('missedTwice'),
    cpu_machine_ms: at ? at[1] : null, cpu_server_ms: at ? at[2] : null, cpu_clients_ms: clientsCpu,
    back_per_second: Array.from(perSecond, (n) => n || 0),
  };
  console.log(JSON.stringify(out));
  if (env.OUT_JSON) fs.writeFileSync(env.OUT_JSON, `${JSON.stringify(out, null, 2)}\n`);
}

if (process.argv[2] === 'worker') {
  worker(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  parent().catch((e) => {
    console.error(`restart-bench: ${e.message}`);
    process.exit(1);
  });
}

// Starts one real instance (private httpd from scripts/httpd-conf.sh + siod)
// per test file, on free ports, in its own runtime directory under
// $BUILD/itest/<name>-<mpm>, and offers the helpers the tests share: URLs,
// raw HTTP requests, Engine.IO payload codecs, process and descriptor counts,
// log reading, stopping/restarting siod, and Socket.IO clients (the
// official socket.io-client) with a lossless event recorder.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as sioClient } from 'socket.io-client';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const BUILD = path.resolve(process.env.BUILD || path.join(REPO, 'build'));
export const MPM = process.env.SIO_MPM || 'event';
const HTTPD = process.env.HTTPD || '/usr/sbin/apache2';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Awaits every promise of servers being started; when one fails, stops
 * those that started (each value's stop()) before throwing the first
 * failure, so that no server process outlives a failed set-up (a process
 * left behind would keep the test run from ending).
 */
export async function startedOrStopped(promises) {
  const r = await Promise.allSettled(promises);
  const bad = r.find((x) => x.status === 'rejected');
  if (bad) {
    await Promise.all(r.filter((x) => x.status === 'fulfilled' && x.value?.stop)
      .map((x) => Promise.resolve(x.value.stop()).catch(() => {})));
    throw bad.reason;
  }
  return r.map((x) => x.value);
}

/** Resolves with a TCP port that was free a moment ago (bound to port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls fn() until it returns a truthy value or ms pass; returns the value or throws. */
export async function waitFor(fn, ms, what, step = 50) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}` +
        (last instanceof Error ? `: ${last.message}` : ''));
    }
    await sleep(step);
  }
}

/** Rejects after ms with a message naming what was awaited. */
export function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function parseAssignments(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)='(.*)'$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function tail(file, n = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-n - 1).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child, ms) {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

/** Children of pid, from /proc (empty if none or pid is gone). */
export function childPids(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // the command name may hold spaces: fields resume after the last ')'
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === pid && rest[0] !== 'Z') out.push(Number(d));
    } catch { /* raced with an exiting process */ }
  }
  return out.sort((a, b) => a - b);
}

/** The command name of pid (/proc/pid/comm), or '' when it is gone. */
export function procName(pid) {
  try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; }
}

/** Number of open descriptors of pid, or -1 when it is gone. */
export function fdCount(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

const live = new Set();
process.on('exit', () => {
  for (const inst of live) inst.killNow();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    for (const inst of live) inst.killNow();
    process.kill(process.pid, sig);
  });
}

export class Instance {
  constructor(name, opts) {
    this.name = name;
    this.opts = opts;
    this.mpm = opts.mpm || MPM;
    this.rundir = path.join(BUILD, 'itest', `${name}-${this.mpm}`);
    this.siod = null;
    this.httpd = null;
    this.siodGeneration = 0;
  }

  /** The instance's base URL for HTTP (path appended). */
  url(p = '/') { return `http://127.0.0.1:${this.port}${p}`; }
  /** HTTPS base URL (instances started with {tls: true}; self-signed). */
  tlsUrl(p = '/') { return `https://127.0.0.1:${this.tlsPort}${p}`; }
  /** Engine.IO endpoint URL with the given query (object or string). */
  eioUrl(query = {}) {
    const q = typeof query === 'string' ? query : new URLSearchParams(query).toString();
    return this.url(`/socket.io/${q ? '?' + q : ''}`);
  }
  /** WebSocket URL of the Engine.IO endpoint; sid optional. */
  wsUrl(sid) {
    const q = new URLSearchParams({ EIO: '4', transport: 'websocket' });
    if (sid) q.set('sid', sid);
    return `ws://127.0.0.1:${this.port}/socket.io/?${q}`;
  }

  async start() {
    fs.rmSync(this.rundir, { recursive: true, force: true });
    fs.mkdirSync(this.rundir, { recursive: true });
    const o = this.opts;
    // opts.port: chosen beforehand, e.g. so that nodes can name each other
    this.port = o.port || await freePort();
    if (o.tls) this.tlsPort = await freePort();
    if (process.env.SIO_REFERENCE_SERVER) return this.startReference();
    const env = {
      ...process.env,
      RUNDIR: this.rundir,
      PORT: String(this.port),
      MPM: this.mpm,
      BUILD,
      LOGLEVEL: o.logLevel || 'warn',
      CORS: o.cors || '',
      MAX_PAYLOAD: o.maxPayload ? String(o.maxPayload) : '',
      TRANSPORTS: o.transports || '',
      UPGRADES: o.upgrades || '',
      ALLOW_EIO3: o.allowEio3 ? '1' : '',
      REPLY_TIMEOUT: o.replyTimeout ? String(o.replyTimeout) : '',
      EXTRA_CONF: o.extraConf || '',
      STATUS: o.status ? '1' : '',
      EXTRA_CONF_FILE: o.extraConfFile || '',
      TLS_PORT: this.tlsPort ? String(this.tlsPort) : '',
      // opts.h2 (with tls): HTTP/2 there, true with WebSockets over it
      // (RFC 8441), 'nows' without
      H2: o.h2 === true ? '1' : o.h2 || '',
      SIOD_MANAGED: o.managed ? '1' : '',
      WS_DEFLATE: o.wsDeflate ? '1' : '',
      WS_DEFLATE_MIN: o.wsDeflateMin !== undefined ? String(o.wsDeflateMin) : '',
      FPM: o.fpm ? '1' : '',
      FPM_CHILDREN: o.fpmChildren ? String(o.fpmChildren) : '',
      HANDLERS_DIR: o.handlers ? this.mergeHandlers(o.handlers) : '',
      // the Admin UI's files and password file (docs/admin-ui.md)
      ADMIN_UI_DIR: o.adminUiDir || '',
      ADMIN_HTPASSWD: o.adminHtpasswd || '',
      ADMIN_UI_ICONS: o.adminUiIcons || '',
    };
    // opts.managed: httpd starts siod (SocketIODaemon managed) with the
    // options siodArgs gives, but those the module sets itself
    if (o.managed) env.SIOD_MANAGED_ARGS = this.siodArgs({ managed: true }).join(' ');
    const out = execFileSync(path.join(REPO, 'scripts', 'httpd-conf.sh'), [], { env, encoding: 'utf8' });
    this.paths = parseAssignments(out);
    this.siodLogFile = path.join(this.rundir, 'logs', 'siod.log');
    this.siodOutFile = path.join(this.rundir, 'logs', 'siod.out');
    this.httpdOutFile = path.join(this.rundir, 'logs', 'httpd.out');
    live.add(this);
    if (o.fpm) await this.startFpm();
    if (!o.managed) await this.startSiod();
    await this.startHttpd();
    return this;
  }

  /** Copies the handler folders given (later ones win) into one, for
   * httpd-conf.sh's HANDLERS_DIR; returns its path. */
  mergeHandlers(dirs) {
    const to = path.join(this.rundir, 'handlers');
    for (const d of [].concat(dirs)) fs.cpSync(path.resolve(REPO, d), to, { recursive: true });
    return to;
  }

  /** Starts the private php-fpm pool of {fpm: true} (FPM=1, as scripts/serve.sh does). */
  async startFpm() {
    try { fs.unlinkSync(this.paths.FPM_SOCKET); } catch { /* absent */ }
    const outFd = fs.openSync(path.join(this.rundir, 'logs', 'php-fpm.out'), 'a');
    this.fpm = spawn(this.paths.FPM_BIN, ['-F', '-y', this.paths.FPM_CONF], { stdio: ['ignore', outFd, outFd] });
    fs.closeSync(outFd);
    await waitFor(() => {
      if (exited(this.fpm)) throw new Error(`php-fpm exited with ${this.fpm.exitCode ?? this.fpm.signalCode}`);
      return fs.existsSync(this.paths.FPM_SOCKET);
    }, 10000, 'php-fpm socket');
  }

  /** The base URL of the handlers of {handlers: [...]} (under /socketio-handlers/). */
  get handlersUrl() { return this.paths.HANDLERS_URL; }

  /**
   * Checks the tests themselves: SIO_REFERENCE_SERVER names a Node.js script
   * serving Engine.IO with the echo behaviour on $PORT (options in
   * $SIO_OPTS as JSON) that stands in for httpd + siod.
   */
  async startReference() {
    this.paths = { ERROR_LOG: path.join(this.rundir, 'reference.out') };
    this.siodLogFile = this.siodOutFile = this.httpdOutFile = this.paths.ERROR_LOG;
    const outFd = fs.openSync(this.paths.ERROR_LOG, 'a');
    this.httpd = spawn(process.execPath, [process.env.SIO_REFERENCE_SERVER], {
      stdio: ['ignore', outFd, outFd],
      env: { ...process.env, PORT: String(this.port), SIO_OPTS: JSON.stringify(this.opts) },
    });
    fs.closeSync(outFd);
    live.add(this);
    await waitFor(async () => (await request('GET', this.url('/health.txt'), { timeout: 1000 })).status === 200,
      10000, 'reference server');
    return this;
  }

  siodArgs({ managed = false } = {}) {
    const o = this.opts;
    const a = managed ? ['-l', path.join(this.rundir, 'logs', 'siod.log')]
      : ['-s', this.paths.SIOD_SOCKET, '-k', this.paths.SIOD_SECRET, '-u', this.paths.SIOD_UIDS,
        '-l', this.siodLogFile, '-p', path.join(this.rundir, 'run', 'siod.pid')];
    if (o.pingInterval) a.push('-i', String(o.pingInterval));
    if (o.pingTimeout) a.push('-t', String(o.pingTimeout));
    if (o.connectTimeout) a.push('-c', String(o.connectTimeout));
    if (o.maxPayload) a.push('-m', String(o.maxPayload));
    // Applications: opts.app / opts.apps (-a, a name under $BUILD/apps or a
    // path), opts.nsps (-n: an array of 'NSP=APP' or an object {NSP: APP}),
    // opts.appDir (-A); with none of them, the Engine.IO echo.
    const apps = [].concat(o.app || [], o.apps || []);
    const nsps = Array.isArray(o.nsps) ? o.nsps
      : Object.entries(o.nsps || {}).map(([nsp, app]) => `${nsp}=${app}`);
    if (!apps.length && !nsps.length && !(o.callbacks || []).length) apps.push('echo-engine');
    for (const app of apps) a.push('-a', app);
    for (const spec of nsps) a.push('-n', spec);
    if (o.appDir) a.push('-A', o.appDir);
    if (o.redis) a.push(`--redis=${o.redis}`);
    // opts.callbacks: ['NSP,KIND,URL'], a URL without a scheme relative to
    // the handlers' base URL (opts.handlers)
    for (const spec of o.callbacks || []) {
      const [nsp, kind, url] = spec.split(/,(.*?),(.*)/s).filter((x) => x !== undefined && x !== '');
      a.push(`--callback=${nsp},${kind},${/^https?:/.test(url) ? url : this.paths.HANDLERS_URL + url}`);
    }
    if (o.siodExtraArgs) a.push(...o.siodExtraArgs);
    if (o.verbose || process.env.SIO_VERBOSE) a.push('-v');
    return a;
  }

  /** Starts siod and resolves once its socket exists. */
  async startSiod() {
    if (this.siod && !exited(this.siod)) throw new Error('siod already running');
    try { fs.unlinkSync(this.paths.SIOD_SOCKET); } catch { /* absent */ }
    const outFd = fs.openSync(this.siodOutFile, 'a');
    const env = { ...process.env, ...(this.opts.siodEnv || {}) };
    const child = spawn(path.join(BUILD, 'siod'), this.siodArgs(), { stdio: ['ignore', outFd, outFd], env });
    fs.closeSync(outFd);
    this.siod = child;
    this.siodGeneration++;
    try {
      await waitFor(() => {
        if (exited(child)) throw new Error(`siod exited with ${child.exitCode ?? child.signalCode}`);
        return fs.existsSync(this.paths.SIOD_SOCKET);
      }, 5000, 'siod socket');
    } catch (e) {
      throw new Error(`${e.message}\n--- siod output:\n${tail(this.siodOutFile)}\n--- siod log:\n${tail(this.siodLogFile)}`);
    }
  }

  /** Stops siod with SIGTERM; resolves with its exit code (0 expected). */
  async stopSiod() {
    const child = this.siod;
    if (!child || exited(child)) return child ? child.exitCode : null;
    child.kill('SIGTERM');
    if (!(await waitExit(child, 5000))) {
      child.kill('SIGKILL');
      await waitExit(child, 2000);
      throw new Error('siod did not exit within 5 s of SIGTERM');
    }
    return child.exitCode;
  }

  /**
   * Stops siod and starts it again. Options: signal ('SIGTERM', the
   * default, is a clean stop; 'SIGKILL' a crash), downMs (how long it stays
   * down), opts (siod options merged into the instance's from now on, e.g.
   * another app). Resolves once the new siod listens.
   */
  async restartSiod({ signal = 'SIGTERM', downMs = 0, opts } = {}) {
    if (signal === 'SIGTERM') {
      await this.stopSiod();
    } else {
      await this.killSiod(signal);
    }
    if (downMs) await sleep(downMs);
    if (opts) this.opts = { ...this.opts, ...opts };
    await this.startSiod();
  }

  /** Sends siod a signal (SIGKILL: a crash) and resolves once it is gone. */
  async killSiod(signal = 'SIGKILL') {
    const child = this.siod;
    if (!child || exited(child)) return;
    child.kill(signal);
    if (!(await waitExit(child, 5000))) throw new Error(`siod did not exit within 5 s of ${signal}`);
  }

  get siodPid() {
    if (this.opts.managed) return this.managedSiodPid();
    return this.siod && !exited(this.siod) ? this.siod.pid : null;
  }

  /** A managed siod: the child of httpd's parent that runs siod, or null. */
  managedSiodPid() {
    if (!this.httpdPid) return null;
    return childPids(this.httpdPid).find((p) => procName(p) === 'siod') ?? null;
  }
  get httpdPid() { return this.httpd && !exited(this.httpd) ? this.httpd.pid : null; }

  async startHttpd() {
    const env = { ...process.env, ...(this.opts.httpdEnv || {}) };
    if (process.env.SAN === '1') {
      env.LD_PRELOAD = execFileSync(process.env.CC || 'gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
      env.ASAN_OPTIONS = 'detect_leaks=0';
    }
    const outFd = fs.openSync(this.httpdOutFile, 'a');
    // opts.nofile: httpd's descriptor limit (soft and hard), which its
    // children inherit; set by a shell that then becomes httpd (same pid).
    const argv = [HTTPD, '-f', this.paths.CONF, '-DFOREGROUND'];
    const [cmd, ...args] = this.opts.nofile
      ? ['/bin/sh', '-c', `ulimit -n ${Number(this.opts.nofile)} && exec "$0" "$@"`, ...argv]
      : argv;
    // detached: prefork's parent signals its whole process group on shutdown
    const child = spawn(cmd, args, { stdio: ['ignore', outFd, outFd], env, detached: true });
    fs.closeSync(outFd);
    this.httpd = child;
    try {
      await waitFor(async () => {
        if (exited(child)) throw new Error(`httpd exited with ${child.exitCode ?? child.signalCode}`);
        const r = await request('GET', this.url('/health.txt'), { timeout: 1000 });
        return r.status === 200;
      }, 10000, 'httpd to answer /health.txt');
      // all initial children up (prefork starts several)
      await waitFor(() => childPids(child.pid).length > 0, 5000, 'httpd children');
    } catch (e) {
      throw new Error(`${e.message}\n--- httpd output:\n${tail(this.httpdOutFile)}\n--- error_log:\n${tail(this.paths.ERROR_LOG)}`);
    }
  }

  /** httpd's worker processes (children of the parent), sorted. */
  httpdChildren() {
    return this.httpdPid ? childPids(this.httpdPid).filter((p) => procName(p) !== 'siod') : [];
  }

  /** {pid: fdCount} for every httpd child. */
  httpdFds() {
    const out = {};
    for (const p of this.httpdChildren()) out[p] = fdCount(p);
    return out;
  }

  siodFds() { return this.siodPid ? fdCount(this.siodPid) : -1; }

  errorLog() {
    try { return fs.readFileSync(this.paths.ERROR_LOG, 'utf8'); } catch { return ''; }
  }
  errorLogLines() { return this.errorLog().split('\n').filter(Boolean); }
  siodLog() {
    let s = '';
    for (const f of [this.siodOutFile, this.siodLogFile]) {
      try { s += fs.readFileSync(f, 'utf8'); } catch { /* absent */ }
    }
    return s;
  }

  /** The last lines of both logs, for assertion messages. */
  logs(n = 15) {
    return `--- error_log:\n${tail(this.paths.ERROR_LOG, n)}\n--- siod log:\n${tail(this.siodLogFile, n)}\n--- siod output:\n${tail(this.siodOutFile, n)}`;
  }

  async stop() {
    live.delete(this);
    const h = this.httpd;
    if (h && !exited(h)) {
      const kids = childPids(h.pid);
      h.kill('SIGTERM');
      if (!(await waitExit(h, 15000))) h.kill('SIGKILL');
      await waitExit(h, 2000);
      for (const k of kids) { try { process.kill(k, 'SIGKILL'); } catch { /* gone */ } }
    }
    await this.stopSiod().catch(() => {});
    if (this.fpm && !exited(this.fpm)) {
      this.fpm.kill('SIGTERM');
      if (!(await waitExit(this.fpm, 10000))) this.fpm.kill('SIGKILL');
    }
    const www = path.join(this.rundir, '.wwwdir');
    if (fs.existsSync(www)) {
      fs.rmSync(fs.readFileSync(www, 'utf8').trim(), { recursive: true, force: true });
    }
    this.checkSanitizers();
  }

  /** Throws if ASan/UBSan (SAN=1 builds) reported anything in any log. */
  checkSanitizers() {
    for (const f of new Set([this.paths?.ERROR_LOG, this.httpdOutFile, this.siodOutFile, this.siodLogFile])) {
      if (!f) continue;
      let text;
      try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
      const i = text.search(/ERROR: (Address|Leak)Sanitizer|runtime error:/);
      if (i >= 0) throw new Error(`sanitizer report in ${f}:\n${text.slice(Math.max(0, i - 200), i + 3000)}`);
    }
  }

  killNow() {
    for (const c of [this.httpd, this.siod, this.fpm]) {
      if (c && !exited(c)) {
        const kids = c === this.httpd ? childPids(c.pid) : [];
        try { c.kill('SIGKILL'); } catch { /* gone */ }
        for (const k of kids) { try { process.kill(k, 'SIGKILL'); } catch { /* gone */ } }
      }
    }
  }
}

/**
 * Starts an instance. opts: siod's pingInterval, pingTimeout,
 * connectTimeout, maxPayload; its applications app / apps (-a), nsps (-n:
 * ['NSP=APP'] or {NSP: APP}), appDir (-A), siodExtraArgs (more options, e.g.
 * limits), redis (siod's --redis URL), siodEnv (variables added to siod's
 * environment), verbose; httpd's port (a free port chosen beforehand: see
 * freePort), mpm, cors, transports, upgrades, replyTimeout, logLevel, tls,
 * h2 (with tls: HTTP/2 there; true with H2WebSockets On, 'nows' Off),
 * status (mod_status at /server-status), nofile (httpd's `ulimit -n`),
 * fpm (PHP through a private php-fpm pool, as FPM=1; fpmChildren its
 * size), handlers (folders of
 * callback handlers merged under /socketio-handlers/, local clients only),
 * callbacks (siod's --callback specs, URLs relative to the handlers'),
 * extraConf
 * (text appended to httpd.conf), extraConfFile (Included) and httpdEnv
 * (variables added to httpd's environment, e.g. the module's
 * fault-injection settings in SAN builds).
 */
export async function startInstance(name, opts = {}) {
  const inst = new Instance(name, opts);
  try {
    await inst.start();
  } catch (e) {
    await inst.stop().catch(() => {});
    throw e;
  }
  return inst;
}

/**
 * One HTTP request on a fresh connection (no pooling, so a pending long-poll
 * never blocks another request). Resolves {status, headers, body (string),
 * raw (Buffer)}; rejects on timeout or socket error.
 */
export function request(method, url, { body, headers = {}, timeout = 10000, signal } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, signal }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, raw, body: raw.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeout, () => req.destroy(new Error(`${method} ${url}: no answer within ${timeout} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.end(body); else req.end();
  });
}

/** Engine.IO v4 polling payload: packets joined by the record separator. */
export const SEP = '\x1e';
export function encodePayload(packets) { return packets.join(SEP); }
export function decodePayload(body) { return body.length ? body.split(SEP) : []; }

/** Parses "0{json}" and returns the JSON object, or throws. */
export function parseOpen(packet) {
  if (typeof packet !== 'string' || packet[0] !== '0') throw new Error(`not an open packet: ${JSON.stringify(packet)}`);
  return JSON.parse(packet.slice(1));
}

/** Polling handshake; resolves {sid, open, res}. */
export async function pollHandshake(inst, extraQuery = {}) {
  const res = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling', ...extraQuery }));
  if (res.status !== 200) throw new Error(`handshake: HTTP ${res.status} ${res.body}\n${inst.logs()}`);
  const open = parseOpen(decodePayload(res.body)[0]);
  return { sid: open.sid, open, res };
}

export function pollUrl(inst, sid) {
  return inst.eioUrl({ EIO: '4', transport: 'polling', sid });
}

/** Long-poll GET; resolves the response. */
export function pollGet(inst, sid, opts = {}) {
  return request('GET', pollUrl(inst, sid), opts);
}

/** POST of packets (array of encoded packets or a string body). */
export function pollPost(inst, sid, packets, opts = {}) {
  const body = Array.isArray(packets) ? encodePayload(packets) : packets;
  return request('POST', pollUrl(inst, sid), {
    body, headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, ...opts,
  });
}

/**
 * Polls GET until the session answers 400 (gone), for up to ms. Returns
 * {res, seen} where seen lists the packets received before that.
 */
export async function waitSessionGone(inst, sid, ms) {
  const end = Date.now() + ms;
  const seen = [];
  while (Date.now() < end) {
    const res = await pollGet(inst, sid, { timeout: ms });
    if (res.status !== 200) return { res, seen };
    seen.push(...decodePayload(res.body));
  }
  throw new Error(`session ${sid} still alive after ${ms} ms (got ${JSON.stringify(seen)})\n${inst.logs()}`);
}

/** Parses an Engine.IO error answer {code, message}; throws if not JSON. */
export function errorBody(res) {
  try {
    return JSON.parse(res.body);
  } catch {
    throw new Error(`expected a JSON error body, got HTTP ${res.status} ${JSON.stringify(res.body)}`);
  }
}

/** Encodes one client WebSocket frame (masked unless mask=false). */
export function wsFrame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = data.length;
  const ext = len < 126 ? 0 : len <= 0xffff ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, data]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  key.copy(head, 2 + ext);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = data[i] ^ key[i & 3];
  return Buffer.concat([head, body]);
}

/**
 * A WebSocket client on a raw TCP socket, for sending frames no library
 * would send and reading exactly what the server answers.
 */
export class RawWs {
  constructor(sock, rest) {
    this.sock = sock;
    this.buf = rest;
    this.frames = [];
    this.waiters = [];
    this.ended = false;
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
    const end = () => { this.ended = true; this.wake(); };
    sock.on('end', end);
    sock.on('close', end);
    sock.on('error', end);
    this.parse();
  }

  /** Opens a raw WebSocket to the Engine.IO endpoint (query: sid etc.). */
  static connect(inst, query = {}, { timeout = 5000, extensions } = {}) {
    const q = new URLSearchParams({ EIO: '4', transport: 'websocket', ...query });
    return new Promise((resolve, reject) => {
      const sock = net.connect(inst.port, '127.0.0.1');
      let head = Buffer.alloc(0);
      const t = setTimeout(() => { sock.destroy(); reject(new Error('raw WebSocket handshake timed out')); }, timeout);
      const onData = (d) => {
        head = Buffer.concat([head, d]);
        const i = head.indexOf('\r\n\r\n');
        if (i < 0) return;
        clearTimeout(t);
        sock.removeListener('data', onData);
        const text = head.subarray(0, i).toString('latin1');
        const status = Number(text.split(' ')[1]);
        if (status !== 101) {
          sock.destroy();
          reject(Object.assign(new Error(`WebSocket handshake answered ${text.split('\r\n')[0]}`), { status, text }));
          return;
        }
        const ws = new RawWs(sock, head.subarray(i + 4));
        ws.headers = text;
        resolve(ws);
      };
      sock.on('data', onData);
      sock.on('error', (e) => { clearTimeout(t); reject(e); });
      sock.on('connect', () => {
        sock.write(`GET /socket.io/?${q} HTTP/1.1\r\nHost: 127.0.0.1:${inst.port}\r\n` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
          (extensions ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : '') + '\r\n');
      });
    });
  }

  parse() {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (b.length < 4) break; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) break; len = Number(b.readBigUInt64BE(2)); off = 10; }
      const masked = (b[1] & 0x80) !== 0;
      if (masked) off += 4;
      if (b.length < off + len) break;
      let payload = Buffer.from(b.subarray(off, off + len));
      if (masked) {
        const key = b.subarray(off - 4, off);
        for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
      }
      this.frames.push({ fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, masked, payload });
      this.buf = b.subarray(off + len);
    }
    this.wake();
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Next frame from the server, or null when the connection ended first. */
  async next(timeout = 5000) {
    const end = Date.now() + timeout;
    while (!this.frames.length) {
      if (this.ended) return null;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeout} ms`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
    return this.frames.shift();
  }

  /** Next text/binary message payload as a string, skipping nothing. */
  async nextText(timeout = 5000) {
    const f = await this.next(timeout);
    if (!f) throw new Error('connection ended');
    return f.payload.toString('utf8');
  }

  /**
   * Waits for the server's close frame; resolves {code, frames} where code is
   * the close code (null when the connection ended without a close frame).
   */
  async closeCode(timeout = 5000) {
    const frames = [];
    for (;;) {
      const f = await this.next(timeout);
      if (!f) return { code: null, frames };
      if (f.opcode === 8) {
        return { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005, frames, masked: f.masked };
      }
      frames.push(f);
    }
  }

  send(opcode, payload, opts) { this.sock.write(wsFrame(opcode, payload, opts)); }
  sendText(s) { this.send(1, Buffer.from(s, 'utf8')); }
  write(buf) { this.sock.write(buf); }
  destroy() { this.sock.destroy(); }
}

/* ---- Socket.IO (socket.io-client from npm) --------------------------------- */

/** Base URL of namespace nsp on inst ({tls: true}: over HTTPS). */
export function nspUrl(inst, nsp = '/', { tls = false } = {}) {
  return (tls ? inst.tlsUrl('') : inst.url('')) + nsp;
}

/**
 * Records every event a socket.io-client socket receives (onAny, attached
 * before the connection opens), so no event is lost between awaits.
 */
export class Recorder {
  constructor(socket) {
    this.log = [];
    this.cursor = new Map();
    this.waiters = [];
    socket.onAny((event, ...args) => {
      this.log.push({ event, args });
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  /** Argument lists of every `event` received so far. */
  all(event) { return this.log.filter((e) => e.event === event).map((e) => e.args); }

  /** Resolves once pred() is true (checked on every event); rejects after ms. */
  until(pred, ms, what) {
    return withTimeout((async () => {
      while (!pred()) await new Promise((r) => this.waiters.push(r));
    })(), ms, what);
  }

  /** The arguments of the next `event` not returned before (per name). */
  async next(event, ms = 5000) {
    const i = this.cursor.get(event) ?? 0;
    await this.until(() => this.all(event).length > i, ms, `event "${event}" #${i + 1}`);
    this.cursor.set(event, i + 1);
    return this.all(event)[i];
  }

  /** Resolves once n `event`s have arrived in total. */
  async count(event, n, ms = 5000) {
    await this.until(() => this.all(event).length >= n, ms, `${n} "${event}" events (got ${this.all(event).length})`);
    return this.all(event);
  }
}

/**
 * A socket.io-client socket for namespace nsp of inst, not awaited:
 * its own Manager (forceNew) and no reconnection unless opts say otherwise;
 * opts.tls selects HTTPS. socket.rec is its Recorder.
 */
export function sioSocket(inst, nsp = '/', opts = {}) {
  const { tls, ...rest } = opts;
  const socket = sioClient(nspUrl(inst, nsp, { tls }), {
    path: '/socket.io/', forceNew: true, reconnection: false, timeout: 10000, ...rest,
  });
  socket.rec = new Recorder(socket);
  return socket;
}

/** Resolves with the socket once connected; rejects (and closes it) on connect_error. */
export function sioConnected(inst, socket, ms = 10000) {
  if (socket.connected) return Promise.resolve(socket);
  return withTimeout(new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (e) => reject(new Error(`connect_error on ${socket.nsp}: ${e.message} ` +
      `${JSON.stringify(e.data ?? e.description?.message ?? e.description ?? '')}\n${inst.logs()}`)));
  }), ms, `Socket.IO connect to ${socket.nsp}\n${inst.logs()}`).catch((e) => { socket.close(); throw e; });
}

/** sioSocket + sioConnected. */
export function sioConnect(inst, nsp = '/', opts = {}, ms = 10000) {
  return sioConnected(inst, sioSocket(inst, nsp, opts), ms);
}

/** The arguments of the next `event` emitted by emitter (socket, Manager, engine). */
export function once(emitter, event, ms = 5000) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))),
    ms, `"${event}" event`);
}

/** Closes every socket given (and its Manager's connection). */
export function closeAll(...sockets) {
  for (const s of sockets.flat()) {
    if (!s) continue;
    s.close();
    s.io?.engine?.close();
  }
}

/**
 * Emits event with args and an acknowledgement; resolves with every
 * argument of the answer, rejects if none comes within ms.
 */
export function ackOf(socket, event, args = [], ms = 5000) {
  return new Promise((resolve, reject) => {
    socket.timeout(ms).emit(event, ...args, (err, ...res) => {
      if (err) reject(new Error(`no ack for "${event}" within ${ms} ms (${err.message})`));
      else resolve(res);
    });
  });
}

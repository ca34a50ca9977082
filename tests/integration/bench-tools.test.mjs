// The benchmark tools of `make bench-cluster` and `make bench-php`: the
// PHP twin of the bench application (conf/php/bench.php through HTTP
// callbacks on php-fpm) holds the bench contract; siobench spreads its
// processes over several --url and splits a broadcast's latency between
// the clients of the sender's node and the other's, across two of our
// nodes joined by Redis and across two Node.js reference servers
// (tests/bench/node-server.mjs --redis); siobench recover (the clients of
// `make bench-restart`) comes back recovered across a restart of a managed
// siod with --recovery, and fresh without it; siobench judges a worker
// dead only once the pipe holds nothing more from it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createClient } from 'redis';
import {
  startInstance, sioConnect, sleep, freePort, waitFor, startedOrStopped, request, REPO, MPM,
} from './harness.mjs';
import { startRedis, waitServers } from './redis-lib.mjs';
import { siobench, SIOBENCH } from './scale-lib.mjs';
import { benchContract } from './bench-contract.mjs';

const cleanups = [];
after(async () => {
  await sleep(200);
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** tests/bench/node-server.mjs --redis URL on a free port: {url(path), stop()}. */
async function startNodeServer(redisUrl) {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(REPO, 'tests', 'bench', 'node-server.mjs'),
    '--port', String(port), '--ws-only', '--redis', redisUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const node = {
    url: (p = '/') => `http://127.0.0.1:${port}${p}`,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    },
  };
  cleanups.push(() => node.stop());
  await waitFor(() => out.includes('listening') || proc.exitCode !== null, 10000, `node-server (${out})`);
  assert.match(out, /listening .* redis=redis:/, out);
  return node;
}

/** siobench bcast over two URLs, 20 clients (10 on each), 20 broadcasts/s for 2 s. */
async function bcastOverTwo(first, second) {
  const r = await siobench(first, 'bcast', ['--url', second.url('/socket.io/'), '-n', '20', '--procs', '2',
    '--rate', '20', '--duration', '2', '--drain', '1', '-q']).done;
  assert.equal(r.exit, 0, JSON.stringify(r));
  assert.equal(r.urls, 2);
  assert.equal(r.connected, 20);
  assert.ok(r.bcasts >= 20, `bcasts ${r.bcasts}`);
  // every client got every broadcast: the other node's through Redis
  assert.equal(r.expected, r.bcasts * 20);
  assert.equal(r.lost, 0, JSON.stringify(r));
  assert.equal(r.deliveries, r.expected);
  assert.ok(r.sender_url_p50_ms > 0 && r.other_url_p50_ms > 0,
    `latency split: sender's ${r.sender_url_p50_ms} ms, other's ${r.other_url_p50_ms} ms`);
  return r;
}

test('PHP bench (conf/php/bench.php through callbacks): "bcast" n → "tick" n to every client; "echo" acks its arguments', { timeout: 40000 }, async () => {
  const inst = await startInstance('bench-php', {
    fpm: true, handlers: ['conf/php'],
    callbacks: ['/,connect,bench.php', '/,event,bench.php', '/,disconnect,bench.php'],
  });
  cleanups.push(() => inst.stop());
  await benchContract((t) => sioConnect(inst, '/', { transports: t }));
});

test('siobench with two --url: half the clients on each of two Redis-joined nodes of ours, latency by node', { timeout: 60000 }, async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.destroy());
  const rc = createClient({ url: redis.url });
  rc.on('error', () => {});
  await rc.connect();
  cleanups.push(() => rc.disconnect());
  const nodes = await startedOrStopped([1, 2].map((k) => startInstance(`bench-cluster-n${k}`, {
    app: 'bench', redis: redis.url, logLevel: 'warn', siodExtraArgs: ['--event-rate=0'],
  })));
  for (const n of nodes) cleanups.push(() => n.stop());
  await waitServers(rc, '/', 2);
  await bcastOverTwo(nodes[0], nodes[1]);
});

test('siobench with two --url across two Node.js reference servers joined by the Redis adapter', { timeout: 60000 }, async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.destroy());
  const nodes = [await startNodeServer(redis.url), await startNodeServer(redis.url)];
  await bcastOverTwo(nodes[0], nodes[1]);
});

test('siobench counts the broadcasts of a server with connection state recovery (an offset after the tick)', { timeout: 30000 }, async () => {
  const inst = await startInstance('bench-recovery', {
    app: 'bench', logLevel: 'warn', siodExtraArgs: ['--event-rate=0', '--recovery=60000'],
  });
  cleanups.push(() => inst.stop());
  const r = await siobench(inst, 'bcast', ['-n', '10', '--rate', '20', '--duration', '2', '--drain', '1', '-q']).done;
  assert.equal(r.exit, 0, JSON.stringify(r));
  assert.ok(r.bcasts >= 20, `bcasts ${r.bcasts}`);
  assert.equal(r.lost, 0, JSON.stringify(r));
  assert.equal(r.deliveries, r.bcasts * 10);
});

/** The pids of process pid's children (/proc/PID/task/PID/children). */
function childPids(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { return []; }
}

/** 1-letter state of process pid ("Z": exited, not yet reaped), or null. */
function procState(pid) {
  try { return /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]; } catch { return null; }
}

test('siobench: workers that exited before the parent read their reports (more than one read\'s worth queued in the pipe) are not counted dead', { timeout: 30000 }, async () => {
  const inst = await startInstance('bench-slow-parent', { app: 'bench', logLevel: 'warn', siodExtraArgs: ['--event-rate=0'] });
  cleanups.push(() => inst.stop());
  const run = siobench(inst, 'hold', ['-n', '4', '--procs', '2', '--duration', '1', '--drain', '0']);
  cleanups.push(async () => run.kill());
  await run.waitLine(/^-- all clients resolved/, 10000);
  const workers = childPids(run.child.pid);
  assert.equal(workers.length, 2, `siobench's workers: ${workers}`);
  // the parent stops reading; both workers write every report and exit
  process.kill(run.child.pid, 'SIGSTOP');
  try {
    await waitFor(() => workers.every((w) => procState(w) === 'Z'), 10000, 'both workers exited');
  } finally {
    process.kill(run.child.pid, 'SIGCONT');
  }
  const r = await run.done;
  assert.equal(r.dead_workers, 0, JSON.stringify(r));
  assert.equal(r.exit, 0, JSON.stringify(r));
  assert.equal(r.held, 4, JSON.stringify(r));
});

test('siobench refuses --procs that is not a multiple of the --url count', { timeout: 10000 }, async () => {
  const out = await new Promise((resolve) => {
    const p = spawn(SIOBENCH, ['bcast', '--procs', '3', '--url', 'http://127.0.0.1:1/',
      '--url', 'http://127.0.0.1:2/'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, err }));
  });
  assert.equal(out.code, 2);
  assert.match(out.err, /--procs \(3\) must be a multiple of the 2 --url/);
});

// prefork holds a process per WebSocket, and the module lets WebSockets
// take only a share of them (37 of the harness's 150)
const RECOVER_N = MPM === 'prefork' ? 30 : 40;

/**
 * siobench recover with RECOVER_N clients over 2 processes against a managed siod
 * (options siodArgs): "hello" emitted to all, then the epoch written and
 * siod sent SIGTERM (httpd starts it again), "missed" emitted once the new
 * siod answers. The module's hand-over of WebSockets is off unless
 * handover (then no client leaves). Resolves with siobench's JSON report.
 */
async function recoverRun(name, siodArgs, { offsets, handover = false }) {
  const inst = await startInstance(name, {
    managed: true, app: 'bench', logLevel: 'warn', siodExtraArgs: ['--event-rate=0', ...siodArgs],
    extraConf: handover ? '' : 'SocketIOHandoverTimeout 0',
  });
  cleanups.push(() => inst.stop());
  const emit = (event) => request('POST', inst.url('/emit'), {
    body: JSON.stringify({ event, args: [1] }), headers: { 'Content-Type': 'application/json' },
  });
  const t0file = path.join(inst.rundir, 't0');
  const run = siobench(inst, 'recover', ['-n', String(RECOVER_N), '--procs', '2', '--t0-file', t0file,
    '--expect', 'missed', '--reconnect-delay', '0.3', '--timeout', '20', '--duration', '30', '--drain', '1']);
  cleanups.push(async () => run.kill());
  await run.waitLine(/^-- all clients resolved/, 15000);
  assert.equal((await emit('hello')).status, 200);
  // with recovery every event carries an offset; without, none does
  if (offsets) await run.waitLine(new RegExp(`^-- every client holds an offset \\(${RECOVER_N}\\)`), 5000);
  else await sleep(500);
  let pid;
  await waitFor(() => (pid = inst.siodPid), 5000, 'siod under httpd');
  fs.writeFileSync(t0file, String(Date.now()));
  process.kill(pid, 'SIGTERM');
  let pid2;
  await waitFor(() => (pid2 = inst.siodPid) && pid2 !== pid, 15000, 'a new siod');
  await waitFor(async () => (await emit('missed')).status === 200, 15000, () => `siod back\n${inst.logs(10)}`);
  const r = await run.done;
  assert.equal(r.exit, 0, JSON.stringify(r));
  assert.equal(r.connected, RECOVER_N, JSON.stringify(r));
  assert.equal(r.epoch, true);
  assert.equal(r.closes, handover ? 0 : RECOVER_N, 'every client saw its connection end, or none');
  assert.equal(r.lost, 0, JSON.stringify(r));
  assert.equal(r.stayed, handover ? RECOVER_N : 0);
  return r;
}

test('siobench recover: across a SIGTERM of a managed siod with --recovery and the module\'s hand-over, every client stays connected and is served the event emitted after the restart once', { timeout: 60000 }, async () => {
  const r = await recoverRun('bench-handover', ['--recovery=60000'], { offsets: true, handover: true });
  assert.equal(r.recovered, 0, JSON.stringify(r));
  assert.equal(r.reconnects, 0);
  assert.equal(r.served, RECOVER_N, JSON.stringify(r));
  assert.equal(r.expect_once, RECOVER_N, JSON.stringify(r));
  assert.equal(r.expect_twice, 0);
  // served once the new siod answers: httpd starts it again within ~1 s
  assert.ok(r.p50_ms > 0 && r.p99_ms <= r.max_ms && r.max_ms <= 20000, JSON.stringify(r));
  assert.equal(r.within_5s, RECOVER_N);
  assert.equal(r.back_per_second.reduce((a, n) => a + n, 0), RECOVER_N);
});

test('siobench recover: across a SIGTERM of a managed siod with --recovery every client is back recovered, the event emitted meanwhile once each', { timeout: 60000 }, async () => {
  const r = await recoverRun('bench-recover', ['--recovery=60000'], { offsets: true });
  assert.equal(r.offsets, RECOVER_N);
  assert.equal(r.recovered, RECOVER_N, JSON.stringify(r));
  assert.equal(r.fresh, 0);
  assert.equal(r.expect_once, RECOVER_N, JSON.stringify(r));
  assert.equal(r.expect_twice, 0);
  assert.equal(r.back_per_second.reduce((a, n) => a + n, 0), RECOVER_N);
  // the first attempt comes 0.15 to 0.45 s after the close
  assert.ok(r.p50_ms >= 150 && r.max_ms <= 20000 && r.p99_ms <= r.max_ms, JSON.stringify(r));
  assert.equal(r.within_5s, RECOVER_N);
  assert.ok(r.cpu_ms.client >= 0, 'siobench\'s own CPU over the reconnection');
});

test('siobench recover: without --recovery the clients come back fresh, not recovered', { timeout: 60000 }, async () => {
  const r = await recoverRun('bench-recover-off', [], { offsets: false });
  assert.equal(r.offsets, 0, 'no offset without recovery');
  assert.equal(r.recovered, 0, JSON.stringify(r));
  assert.equal(r.fresh, RECOVER_N, JSON.stringify(r));
  assert.equal(r.p50_ms, null);
  assert.equal(r.back_per_second.length, 0);
});

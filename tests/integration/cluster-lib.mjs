// The cluster `make cluster` runs (scripts/cluster.sh), started by a test
// as make starts it: the script's output, its ports (the front, n1, n2,
// Redis), the three httpds as the harness's request helpers want them,
// and the script's whole process tree, so a test can check that nothing
// outlives it.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BUILD, REPO, MPM, freePort, waitFor, childPids } from './harness.mjs';

/** Resolves true when port can be bound on 127.0.0.1. */
export function portFree(p) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port whose next two are free too (the front, n1, n2). */
async function freeRun() {
  for (;;) {
    const p = await freePort();
    if (p < 60000 && await portFree(p + 1) && await portFree(p + 2)) return p;
  }
}

export const tail = (f, n = 20) => { try { return fs.readFileSync(f, 'utf8').split('\n').slice(-n).join('\n'); } catch { return ''; } };

/** Every descendant of pid. */
export function descendants(pid) {
  const all = [];
  const walk = (p) => { for (const c of childPids(p)) { all.push(c); walk(c); } };
  walk(pid);
  return all;
}

export const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** The command line of pid, for messages. */
export const cmdline = (pid) => { try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { return String(pid); } };

/**
 * Starts scripts/cluster.sh (name: its run directory under itest; env:
 * more variables, e.g. LEARN, NODE_TTL) and resolves once it is ready:
 * {script, out(), port, redisPort, rundir, n1, n2, front, redis(...args),
 * stop()}.
 */
export async function startCluster(name, env = {}) {
  const rundir = path.join(BUILD, 'itest', `${name}-${MPM}`);
  const port = await freeRun();
  fs.rmSync(rundir, { recursive: true, force: true });
  let out = '';
  const script = spawn(path.join(REPO, 'scripts', 'cluster.sh'), [], {
    env: { ...process.env, BUILD, RUNDIR: rundir, PORT: String(port), MPM, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  script.stdout.on('data', (d) => { out += d; });
  script.stderr.on('data', (d) => { out += d; });
  const endpoint = (p, dir) => {
    const errLog = path.join(rundir, dir, 'logs', 'error_log');
    return {
      port: p,
      url: (x = '/') => `http://127.0.0.1:${p}${x}`,
      eioUrl(q = {}) { return this.url(`/socket.io/?${new URLSearchParams(q)}`); },
      errorLog: () => { try { return fs.readFileSync(errLog, 'utf8'); } catch { return ''; } },
      logs: () => `--- ${dir} error_log:\n${tail(errLog)}\n--- ${dir} serve.log:\n${tail(path.join(rundir, dir, 'serve.log'))}\n--- cluster.sh:\n${out}`,
    };
  };
  const c = {
    script, rundir, port,
    out: () => out,
    n1: endpoint(port + 1, 'n1'),
    n2: endpoint(port + 2, 'n2'),
    front: endpoint(port, 'front'),
    redis: (...args) => execFileSync('redis-cli', ['-p', String(c.redisPort), ...args], { encoding: 'utf8' }).trim(),
    /** SIGTERM, then SIGKILL to whatever is left (a test's after()). */
    async stop() {
      if (script.exitCode !== null || script.signalCode !== null) return;
      const kids = descendants(script.pid);
      script.kill('SIGTERM');
      await waitFor(() => script.exitCode !== null, 40000, 'cluster.sh to stop').catch(() => {});
      for (const k of kids) { try { process.kill(k, 'SIGKILL'); } catch { /* gone */ } }
    },
  };
  try {
    await waitFor(() => {
      if (script.exitCode !== null) throw new Error(`cluster.sh exited ${script.exitCode}:\n${out}\n${tail(path.join(rundir, 'n1', 'serve.log'))}`);
      return out.includes('Ctrl-C stops everything');
    }, 60000, () => `cluster.sh to be ready:\n${out}`);
  } catch (e) {
    await c.stop();
    throw e;
  }
  c.redisPort = Number(/redis-server on 127\.0\.0\.1:(\d+)/.exec(out)[1]);
  return c;
}

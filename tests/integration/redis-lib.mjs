// Helpers for the cluster tests: a private redis-server (Debian's) on a free
// port in a temp directory, and a Node.js socket.io peer using
// @socket.io/redis-adapter (redis-peer.mjs), each stopped by the test.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { io as sioClient } from 'socket.io-client';
import {
  freePort, waitFor, sleep, startInstance, Recorder, withTimeout,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Resolves true if a Redis answers PING on port. */
function ping(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let got = '';
    c.setTimeout(500, () => { c.destroy(); resolve(false); });
    c.on('error', () => resolve(false));
    c.on('connect', () => c.write('PING\r\n'));
    // a server that wants AUTH answers -NOAUTH: up all the same
    c.on('data', (d) => {
      got += d;
      if (got.includes('\r\n')) { c.end(); resolve(got.startsWith('+PONG') || got.startsWith('-NOAUTH')); }
    });
  });
}

/** A redis-server of its own (args: more of its options): start(), stop(), url, port. */
export class RedisServer {
  constructor(args = []) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-redis-'));
    this.proc = null;
    this.args = args;
  }

  async start() {
    this.port ??= await freePort();
    this.url = `redis://127.0.0.1:${this.port}`;
    const log = fs.openSync(path.join(this.dir, 'redis.log'), 'a');
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.args], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    await waitFor(() => ping(this.port), 5000, `redis-server on ${this.port}`);
    return this;
  }

  /** Stops it (SIGKILL: an outage, not a clean goodbye) and waits for the exit. */
  async stop() {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  async destroy() {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startRedis() { return new RedisServer().start(); }

/** A Node.js socket.io server with the Redis adapter: {port, url(nsp), stop()}. */
export async function startNodePeer(redisUrl) {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(here, 'redis-peer.mjs'), String(port), redisUrl],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  await waitFor(() => out.includes('listening'), 10000, `node peer (${out})`);
  return {
    port,
    proc,
    output: () => out,
    url: (nsp = '/') => `http://127.0.0.1:${port}${nsp}`,
    async stop() {
      if (proc.exitCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    },
  };
}

/** Waits until n servers subscribe to namespace nsp's request channel. */
export async function waitServers(client, nsp, n, ms = 10000) {
  await waitFor(async () => {
    const r = await client.sendCommand(['PUBSUB', 'NUMSUB', `socket.io-request#${nsp}#`]);
    return Number(r[1]) === n;
  }, ms, `${n} servers on ${nsp}`);
  await sleep(50);
}

/**
 * A mixed cluster for a test file: a redis-server, a client of it (rc),
 * our node (instance `name`, the testkit app, siod --redis) and a Node.js
 * peer, both counted by Redis. Resolves {redis, rc, ours, peer, stop()}.
 */
export async function startMixedCluster(name) {
  const c = { redis: await startRedis() };
  c.rc = createClient({ url: c.redis.url });
  c.rc.on('error', () => {});
  await c.rc.connect();
  [c.ours, c.peer] = await Promise.all([
    startInstance(name, { app: 'testkit', redis: c.redis.url, logLevel: 'warn' }),
    startNodePeer(c.redis.url),
  ]);
  await waitServers(c.rc, '/', 2);
  c.stop = async () => {
    await sleep(100);
    await c.ours?.stop();
    await c.peer?.stop();
    await c.rc?.disconnect().catch(() => {});
    await c.redis?.destroy();
  };
  return c;
}

/** A WebSocket client of the Node.js peer on nsp, connected, recording its events. */
export async function peerClient(peer, nsp = '/') {
  const s = sioClient(peer.url(nsp), { forceNew: true, reconnection: false, transports: ['websocket'] });
  s.rec = new Recorder(s);
  await withTimeout(new Promise((res, rej) => { s.once('connect', res); s.once('connect_error', rej); }),
    5000, 'peer connect');
  return s;
}

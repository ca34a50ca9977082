// Helpers for the cluster tests: a private redis-server (Debian's) on a free
// port in a temp directory, and a Node.js socket.io peer using
// @socket.io/redis-adapter (redis-peer.mjs), each stopped by the test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { io as sioClient } from 'socket.io-client';
import {
  freePort, waitFor, sleep, startInstance, Recorder, withTimeout, ackOf, startedOrStopped,
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

/**
 * A Node.js socket.io server with the Redis adapter: {port, url(nsp), stop()}.
 * mode: 'classic' (default) or 'sharded[:subscriptionMode]' (redis-peer.mjs).
 */
export async function startNodePeer(redisUrl, mode = 'classic') {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(here, 'redis-peer.mjs'), String(port), redisUrl, mode],
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

/**
 * Waits until n servers subscribe to namespace nsp's request channel (the
 * sharded adapter's: its channel, counted by SHARDNUMSUB).
 */
export async function waitServers(client, nsp, n, ms = 10000, mode = 'classic') {
  const cmd = mode.startsWith('sharded') ? ['PUBSUB', 'SHARDNUMSUB', `socket.io#${nsp}#`]
    : ['PUBSUB', 'NUMSUB', `socket.io-request#${nsp}#`];
  await waitFor(async () => {
    const r = await client.sendCommand(cmd);
    return Number(r[1]) === n;
  }, ms, `${n} servers on ${nsp}`);
  await sleep(50);
}

/** siod's options for a mode of redis-peer.mjs ('sharded:static', ...). */
export function siodRedisArgs(mode = 'classic') {
  const [kind, sub] = mode.split(':');
  return [`--redis-mode=${kind}`, ...(sub ? [`--redis-subscription-mode=${sub}`] : [])];
}

/**
 * A mixed cluster for a test file: a redis-server, a client of it (rc),
 * our node (instance `name`, the testkit app, siod --redis) and a Node.js
 * peer, both counted by Redis, in mode (see startNodePeer). Resolves
 * {redis, rc, ours, peer, mode, stop()}.
 */
export async function startMixedCluster(name, mode = 'classic') {
  const c = { redis: await startRedis() };
  c.rc = createClient({ url: c.redis.url });
  c.rc.on('error', () => {});
  await c.rc.connect();
  c.mode = mode;
  try {
    [c.ours, c.peer] = await startedOrStopped([
      startInstance(name, {
        app: 'testkit', redis: c.redis.url, logLevel: 'warn', siodExtraArgs: siodRedisArgs(mode),
      }),
      startNodePeer(c.redis.url, mode),
    ]);
  } catch (e) {
    await c.rc.disconnect().catch(() => {});
    await c.redis.destroy();
    throw e;
  }
  await waitServers(c.rc, '/', 2, 10000, mode);
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

let seq = 0;
/**
 * A broadcast checker for a cluster's two servers: deliver(sender, opts,
 * clients, extra) runs one broadcast (sender asks its server "to" with
 * opts), then a marker to everyone from the same sender: once every client
 * has the marker, each has whatever the broadcast sent it (one ordered
 * stream from the sender's server through Redis). Resolves the names
 * (keys of clients) that got `m`, sorted.
 */
export function broadcaster(ours, peer) {
  return async function deliver(sender, opts, clients, extra = []) {
    const tag = `t${++seq}`;
    assert.deepEqual(await ackOf(sender, 'to', [{ ...opts, event: 'm', args: [tag, ...extra] }]), [true]);
    assert.deepEqual(await ackOf(sender, 'to', [{ event: 'mark', args: [tag] }]), [true]);
    const got = [];
    for (const [name, s] of Object.entries(clients)) {
      await s.rec.until(() => s.rec.all('mark').some((a) => a[0] === tag), 5000,
        `marker ${tag} at ${name}\n${ours.logs()}\n--- peer:\n${peer.output()}`);
      const m = s.rec.all('m').filter((a) => a[0] === tag);
      assert.ok(m.length <= 1, `${name} got ${tag} ${m.length} times`);
      if (m.length) got.push(name);
    }
    return got.sort();
  };
}

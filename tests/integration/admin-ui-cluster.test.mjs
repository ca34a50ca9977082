// The Admin UI's protocol in a Redis cluster of siod and a Node.js server
// running the reference's instrument(): an admin connected to siod sees
// both servers' server_stats, a socket connecting to the Node.js server
// (its socket_connected, sent by the reference through Redis), and its
// command to join that socket to a room reaches the other server
// (socketsJoin across the cluster), which reports room_joined back; a new
// admin's all_sockets lists the other server's sockets too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { io as sioClient } from 'socket.io-client';
import { createClient } from 'redis';
import {
  startInstance, sioSocket, sioConnected, closeAll, freePort, waitFor, sleep, ackOf, startedOrStopped,
} from './harness.mjs';
import { startRedis, waitServers } from './redis-lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const UI_DIR = path.join(path.dirname(require.resolve('@socket.io/admin-ui/package.json')), 'ui', 'dist');
const AUTH = `Basic ${Buffer.from('admin:pw').toString('base64')}`;

let redis;
let rc;
let ours;
let peer;
let authDir;
const open = [];

async function startAdminPeer(url) {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(here, 'admin-peer.mjs'), String(port), url, 'node-b'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  await waitFor(() => out.includes('listening'), 10000, `admin peer (${out})`);
  return {
    port,
    url: (nsp = '/') => `http://127.0.0.1:${port}${nsp}`,
    async stop() {
      if (proc.exitCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    },
  };
}

before(async () => {
  authDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-admin-c-'));
  const file = path.join(authDir, 'htpasswd');
  try {
    execFileSync('htpasswd', ['-b', '-c', '-B', file, 'admin', 'pw'], { stdio: 'ignore' });
  } catch {
    fs.writeFileSync(file, `admin:{SHA}${crypto.createHash('sha1').update('pw').digest('base64')}\n`);
  }
  redis = await startRedis();
  rc = createClient({ url: redis.url });
  rc.on('error', () => {});
  await rc.connect();
  [ours, peer] = await startedOrStopped([
    startInstance('admin-ui-cluster', {
      apps: ['testkit', 'admin'], redis: redis.url, adminUiDir: UI_DIR, adminHtpasswd: file,
      siodEnv: { SIOD_ADMIN_SERVER_ID: 'siod-a' },
    }),
    startAdminPeer(redis.url),
  ]);
  await waitServers(rc, '/', 2);
  await waitServers(rc, '/admin', 2);
});
after(async () => {
  closeAll(open);
  await sleep(100);
  await ours?.stop();
  await peer?.stop();
  await rc?.disconnect().catch(() => {});
  await redis?.destroy();
  if (authDir) fs.rmSync(authDir, { recursive: true, force: true });
});

test('an admin on siod sees and drives the Node.js server of the cluster too', async () => {
  const admin = sioSocket(ours, '/admin', {
    path: '/admin-ui/socket.io/', extraHeaders: { authorization: AUTH },
  });
  open.push(admin);
  await sioConnected(ours, admin);
  const rec = admin.rec;
  // both servers report, each under its id
  await rec.until(() => {
    const ids = new Set(rec.all('server_stats').map(([s]) => s.serverId));
    return ids.has('siod-a') && ids.has('node-b');
  }, 8000, 'server_stats of siod-a and node-b');

  // a client of the Node.js server: the reference reports it through Redis
  const c = sioClient(peer.url('/'), { forceNew: true, reconnection: false, transports: ['websocket'] });
  open.push(c);
  await new Promise((resolve, reject) => { c.once('connect', resolve); c.once('connect_error', reject); });
  await rec.until(() => rec.all('socket_connected').some(([s]) => s.id === c.id), 5000,
    'socket_connected from node-b');
  assert.equal(rec.all('socket_connected').find(([s]) => s.id === c.id)[0].nsp, '/');

  // the admin's join runs on every server: node-b's socket joins, node-b reports it
  admin.emit('join', '/', 'via-siod', c.id);
  await rec.until(() => rec.all('room_joined').some((e) => e[1] === 'via-siod' && e[2] === c.id), 5000,
    'room_joined from node-b');
  // a new admin's all_sockets holds the other server's sockets too
  // (fetchSockets across the cluster), with what the reference keeps in
  // their data: clientId, transport
  const admin2 = sioSocket(ours, '/admin', {
    path: '/admin-ui/socket.io/', extraHeaders: { authorization: AUTH },
  });
  open.push(admin2);
  await sioConnected(ours, admin2);
  const [all] = await admin2.rec.next('all_sockets', 8000);
  const remote = all.find((x) => x.id === c.id);
  assert.ok(remote, JSON.stringify(all.map((x) => x.id)));
  assert.equal(remote.nsp, '/');
  assert.equal(remote.transport, 'websocket');
  assert.equal(remote.clientId.length, 12);
  assert.deepEqual(remote.rooms.sort(), [c.id, 'via-siod'].sort());
  assert.ok(all.some((x) => x.id === admin.id && x.nsp === '/admin'));

  // and a client of siod is reported by siod
  const d = sioSocket(ours, '/');
  open.push(d);
  await sioConnected(ours, d);
  assert.deepEqual(await ackOf(d, 'join', ['here']), [true]);
  await rec.until(() => rec.all('room_joined').some((e) => e[1] === 'here' && e[2] === d.id), 5000,
    'room_joined from siod-a');
});

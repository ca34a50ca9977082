// The Socket.IO Admin UI (@socket.io/admin-ui) against httpd + siod's admin
// application: the UI's built files at /admin-ui/ behind Basic auth (401
// without credentials, 200 with), and the UI's own client protocol on
// /admin through /admin-ui/socket.io/ (the same credentials): config,
// all_sockets with the real sockets (ids, rooms, handshake), server_stats
// counts, socket_connected / socket_updated (an upgrade) /
// socket_disconnected, room_joined / room_left,
// event_received / event_sent, and the commands the UI sends (join,
// leave, emit, _disconnect). testkit serves the watched namespaces.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import {
  startInstance, request, sioSocket, sioConnect, sioConnected, closeAll, ackOf, sleep,
} from './harness.mjs';

const require = createRequire(import.meta.url);
const UI_DIR = path.join(path.dirname(require.resolve('@socket.io/admin-ui/package.json')), 'ui', 'dist');
const ICONS = path.dirname(require.resolve('@mdi/font/package.json'));
const USER = 'admin';
const PASSWORD = 'change it';
const ADMIN_PATH = '/admin-ui/socket.io/';
const basic = (user, pass) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const AUTH = basic(USER, PASSWORD);

let inst;
let authDir;
const open = [];

/** An htpasswd file: bcrypt through htpasswd(1) when there, else {SHA}. */
function writeHtpasswd(file) {
  try {
    execFileSync('htpasswd', ['-b', '-c', '-B', file, USER, PASSWORD], { stdio: 'ignore' });
    return;
  } catch { /* not installed */ }
  const sha = crypto.createHash('sha1').update(PASSWORD).digest('base64');
  fs.writeFileSync(file, `${USER}:{SHA}${sha}\n`);
}

before(async () => {
  authDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-admin-'));
  const file = path.join(authDir, 'htpasswd');
  writeHtpasswd(file);
  inst = await startInstance('admin-ui', {
    apps: ['testkit', 'admin'], adminUiDir: UI_DIR, adminHtpasswd: file, adminUiIcons: ICONS,
    siodEnv: { SIOD_ADMIN_SERVER_ID: 'siod-test' },
  });
});
after(async () => {
  closeAll(open);
  await sleep(200);
  await inst?.stop();
  if (authDir) fs.rmSync(authDir, { recursive: true, force: true });
});

/** A client of namespace nsp (testkit), kept for the final close. */
async function client(nsp = '/', opts = {}) {
  const s = await sioConnect(inst, nsp, opts);
  open.push(s);
  return s;
}

/** The Admin UI's connection: /admin under the UI's own path, as App.vue opens it. */
function adminSocket(opts = {}) {
  const s = sioSocket(inst, '/admin', {
    path: ADMIN_PATH, withCredentials: true, extraHeaders: { authorization: AUTH },
    auth: { username: '', password: '' }, ...opts,
  });
  open.push(s);
  return s;
}

test('the UI files are served behind Basic auth: 401 without, 200 with', async () => {
  const none = await request('GET', inst.url('/admin-ui/'));
  assert.equal(none.status, 401);
  assert.match(String(none.headers['www-authenticate']), /^Basic /);
  const wrong = await request('GET', inst.url('/admin-ui/'), { headers: { authorization: basic(USER, 'nope') } });
  assert.equal(wrong.status, 401);
  const page = await request('GET', inst.url('/admin-ui/'), { headers: { authorization: AUTH } });
  assert.equal(page.status, 200);
  assert.match(page.body.toString(), /<title>Socket.IO Admin UI<\/title>/);
  // the bundle the page names, from httpd, not a CDN
  const js = page.body.toString().match(/src="(js\/app\.[0-9a-f]+\.js)"/)[1];
  const bundle = await request('GET', inst.url(`/admin-ui/${js}`), { headers: { authorization: AUTH } });
  assert.equal(bundle.status, 200);
  assert.equal(bundle.raw.length, fs.statSync(path.join(UI_DIR, js)).size);
  assert.equal((await request('GET', inst.url(`/admin-ui/${js}`))).status, 401);
  // nothing from another site: the icons come from here, Google's font is dropped
  assert.doesNotMatch(page.body, /https?:\/\//);
  const css = page.body.match(/href="(mdi\/css\/[^"]+\.css)"/)[1];
  const icons = await request('GET', inst.url(`/admin-ui/${css}`), { headers: { authorization: AUTH } });
  assert.equal(icons.status, 200);
  const font = icons.body.match(/url\("\.\.\/(fonts\/[^"?]+\.woff2)/)[1];
  const woff2 = await request('GET', inst.url(`/admin-ui/mdi/${font}`), { headers: { authorization: AUTH } });
  assert.equal(woff2.status, 200);
  assert.equal(woff2.headers['content-type'], 'font/woff2');
});

test('the admin endpoint wants credentials; /admin without an httpd user is refused', async () => {
  const hs = await request('GET', inst.url(`${ADMIN_PATH}?EIO=4&transport=polling`));
  assert.equal(hs.status, 401);
  // the public endpoint reaches siod, whose admin application refuses a
  // socket httpd did not authenticate, with the message the UI names
  const s = sioSocket(inst, '/admin', { auth: { username: USER, password: PASSWORD } });
  open.push(s);
  const err = await new Promise((resolve) => s.once('connect_error', resolve));
  assert.equal(err.message, 'invalid credentials');
});

test('the UI protocol: config, all_sockets, server_stats, live reports and commands', async () => {
  const a = await client('/');
  const b = await client('/a', { query: { tag: 'bee' } });
  assert.deepEqual(await ackOf(b, 'join', ['room-b']), [true]);

  const admin = adminSocket();
  await sioConnected(inst, admin);
  const rec = admin.rec;

  const [config] = await rec.next('config');
  for (const f of ['EMIT', 'JOIN', 'LEAVE', 'DISCONNECT', 'MJOIN', 'MLEAVE', 'MDISCONNECT',
    'AGGREGATED_EVENTS', 'ALL_EVENTS']) assert.ok(config.supportedFeatures.includes(f), f);

  const [all] = await rec.next('all_sockets');
  const byId = new Map(all.map((s) => [s.id, s]));
  const sa = byId.get(a.id);
  const sb = byId.get(b.id);
  assert.ok(sa && sb && byId.get(admin.id), JSON.stringify(all));
  assert.equal(sa.nsp, '/');
  assert.equal(sb.nsp, '/a');
  assert.equal(byId.get(admin.id).nsp, '/admin');
  assert.deepEqual(sa.rooms, [a.id]);
  assert.deepEqual(sb.rooms.sort(), [b.id, 'room-b'].sort());
  assert.equal(sb.handshake.query.tag, 'bee');
  assert.equal(sb.handshake.address, '127.0.0.1');
  assert.equal(typeof sb.handshake.headers, 'object');
  assert.ok(sb.handshake.url.startsWith('/socket.io/'), sb.handshake.url);
  assert.equal(typeof sb.handshake.issued, 'number');
  assert.equal(sb.handshake.auth, undefined, 'auth (credentials) is not shown');
  assert.equal(sa.clientId.length, 12);
  assert.notEqual(sa.clientId, sb.clientId);
  assert.ok(['polling', 'websocket'].includes(sa.transport));
  assert.deepEqual(sa.data, {});
  // the admin's own handshake carried credentials in auth: not listed
  assert.equal(byId.get(admin.id).handshake.auth, undefined);

  const [stats] = await rec.next('server_stats');
  assert.equal(stats.serverId, 'siod-test');
  assert.equal(typeof stats.pid, 'number');
  assert.ok(stats.uptime >= 0);
  assert.ok(stats.clientsCount >= 3, JSON.stringify(stats));
  const count = (st, n) => st.namespaces.find((x) => x.name === n)?.socketsCount;
  assert.equal(count(stats, '/'), 1);
  assert.equal(count(stats, '/a'), 1);
  assert.equal(count(stats, '/admin'), 1);
  assert.ok(Array.isArray(stats.aggregatedEvents));

  // a client comes: socket_connected with its socket, a join: room_joined
  // and event_received, an emit to it: event_sent
  const c = await client('/');
  // (the admin's own connection came first, as the reference reports it)
  await rec.until(() => rec.all('socket_connected').some(([x]) => x.id === c.id), 5000, 'socket_connected');
  assert.ok(rec.all('socket_connected').some(([x]) => x.id === admin.id));
  const [conn, when] = rec.all('socket_connected').find(([x]) => x.id === c.id);
  assert.equal(conn.id, c.id);
  assert.equal(conn.nsp, '/');
  assert.deepEqual(conn.rooms, [c.id]);
  assert.ok(!Number.isNaN(Date.parse(when)));
  // it connected on long-polling; its upgrade is reported (socket_updated)
  assert.equal(conn.transport, 'polling');
  await rec.until(() => rec.all('socket_updated').some(([u]) => u.id === c.id), 5000, 'socket_updated');
  assert.deepEqual(rec.all('socket_updated').find(([u]) => u.id === c.id)[0],
    { id: c.id, nsp: '/', transport: 'websocket' });
  assert.deepEqual(await ackOf(c, 'join', ['room-c']), [true]);
  assert.deepEqual((await rec.next('room_joined')).slice(0, 3), ['/', 'room-c', c.id]);
  const [rnsp, rid, rargs] = await rec.next('event_received');
  assert.deepEqual([rnsp, rid, rargs], ['/', c.id, ['join', 'room-c']]);
  c.emit('echo', 'hi', 2);
  const echoed = (e) => e[1] === c.id && e[2][0] === 'echo';
  await rec.until(() => rec.all('event_sent').some(echoed), 5000, 'event_sent');
  const sent = rec.all('event_sent').find(echoed);
  // testkit's welcome on connection was an emit to the socket too
  assert.ok(rec.all('event_sent').some((e) => e[1] === c.id && e[2][0] === 'welcome'));
  assert.deepEqual(sent.slice(0, 3), ['/', c.id, ['echo', 'hi', 2]]);

  // an application's emit with no arguments at all (NULL)
  assert.deepEqual(await ackOf(c, 'emit-back', [{ event: 'bare', nullArgs: true }]), [0]);
  await rec.until(() => rec.all('event_sent').some((e) => e[1] === c.id && e[2][0] === 'bare'), 5000,
    'event_sent for an emit without arguments');
  assert.deepEqual(rec.all('event_sent').find((e) => e[2][0] === 'bare')[2], ['bare']);

  // periodic stats see the new socket
  await rec.until(() => rec.all('server_stats').some(([st]) => count(st, '/') === 2), 5000,
    'server_stats with 2 sockets on /');

  // the UI's commands: join a socket to a room (filter: its id), emit to
  // it, make it leave, disconnect it
  admin.emit('join', '/', 'from-admin', a.id);
  assert.deepEqual((await rec.next('room_joined')).slice(0, 3), ['/', 'from-admin', a.id]);
  assert.deepEqual((await ackOf(a, 'rooms'))[0].sort(), [a.id, 'from-admin'].sort());
  const got = new Promise((resolve) => a.once('hello', (...args) => resolve(args)));
  admin.emit('emit', '/', a.id, 'hello', 1, { two: 2 });
  assert.deepEqual(await got, [1, { two: 2 }]);
  admin.emit('leave', '/', 'from-admin', a.id);
  assert.deepEqual((await rec.next('room_left')).slice(0, 3), ['/', 'from-admin', a.id]);
  assert.deepEqual((await ackOf(a, 'rooms'))[0], [a.id]);
  // a whole room: every socket in it
  admin.emit('emit', '/', 'room-c', 'to-room', 'x');
  assert.deepEqual(await new Promise((resolve) => c.once('to-room', (...x) => resolve(x))), ['x']);

  const aId = a.id;               // the client forgets it once disconnected
  const cId = c.id;
  const gone = new Promise((resolve) => a.once('disconnect', resolve));
  admin.emit('_disconnect', '/', false, a.id);
  assert.equal(await gone, 'io server disconnect');
  await rec.until(() => rec.all('socket_disconnected').some((e) => e[1] === aId), 5000, 'socket_disconnected');
  const disc = rec.all('socket_disconnected').find((e) => e[1] === aId);
  assert.deepEqual(disc.slice(0, 3), ['/', aId, 'server namespace disconnect']);
  await rec.until(() => rec.all('room_left').some((e) => e[1] === aId && e[2] === aId), 5000,
    'room_left of its own room');

  // a client that leaves on its own
  c.disconnect();
  await rec.until(() => rec.all('socket_disconnected').some((e) => e[1] === cId), 5000, 'c leaves');
  const left = rec.all('socket_disconnected').find((e) => e[1] === cId);
  assert.equal(left[2], 'client namespace disconnect');
  assert.ok(rec.all('room_left').some((e) => e[1] === 'room-c' && e[2] === cId));

  // the admin's own traffic is not reported as events
  assert.ok(!rec.all('event_received').some((e) => e[0] === '/admin'));
  closeAll(admin, b);
});

test('the admin over WebSocket only, as the UI\'s "WebSocket only" option', async () => {
  const admin = adminSocket({ transports: ['websocket'] });
  await sioConnected(inst, admin);
  const [all] = await admin.rec.next('all_sockets');
  const me = all.find((s) => s.id === admin.id);
  assert.equal(me.transport, 'websocket');
  assert.ok(me.handshake.url.startsWith(ADMIN_PATH), me.handshake.url);
  closeAll(admin);
});

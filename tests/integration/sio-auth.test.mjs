// httpd in front of Socket.IO: a second endpoint, /private/socket.io/, under
// `Require valid-user` (AuthType Basic, an htpasswd file made here) — the
// authenticated user reaches the app's handshake and anyone else gets 401
// on both transports; the open /socket.io/ beside it has no user; over
// HTTPS the handshake says secure. testkit app, official socket.io-client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  startInstance, request, sioSocket, sioConnect, once, closeAll, ackOf, withTimeout,
  sleep,
} from './harness.mjs';

const USER = 'alice';
const PASSWORD = 's3cret pass';
const PRIVATE = '/private/socket.io/';

let inst;
let authDir;

/** Writes an htpasswd file: with htpasswd(1) (apache2-utils) when there, else an {SHA} entry. */
function writeHtpasswd(file) {
  try {
    execFileSync('htpasswd', ['-b', '-c', '-B', file, USER, PASSWORD], { stdio: 'ignore' });
    return;
  } catch { /* not installed: write it ourselves */ }
  const sha = crypto.createHash('sha1').update(PASSWORD).digest('base64');
  fs.writeFileSync(file, `${USER}:{SHA}${sha}\n`);
}

before(async () => {
  // httpd's children (www-data when run as root) read the file at request
  // time: it lives in a directory anyone may enter
  authDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-auth-'));
  fs.chmodSync(authDir, 0o755);
  const file = path.join(authDir, 'htpasswd');
  writeHtpasswd(file);
  fs.chmodSync(file, 0o644);
  inst = await startInstance('sio-auth', {
    app: 'testkit', tls: true, pingInterval: 5000, pingTimeout: 5000,
    extraConf: [
      `<Location ${PRIVATE}>`,
      '    SocketIO On',
      '    AuthType Basic',
      '    AuthName "socket.io test"',
      `    AuthUserFile "${file}"`,
      '    Require valid-user',
      '</Location>',
    ].join('\n'),
  });
});
after(async () => {
  await sleep(200); // the clients' last requests (close packets) finish first
  await inst?.stop();
  if (authDir) fs.rmSync(authDir, { recursive: true, force: true });
});

const basic = (user, pass) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
/** Sends a WebSocket upgrade request for target; resolves the status code. */
function upgradeStatus(target, headers = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const sock = net.connect(inst.port, '127.0.0.1', () => {
      sock.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${inst.port}\r\n` +
        'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
        Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n');
    });
    let head = '';
    sock.on('data', (d) => {
      head += d.toString('latin1');
      const line = head.split('\r\n')[0];
      if (head.includes('\r\n')) {
        sock.destroy();
        resolve(Number(line.split(' ')[1]));
      }
    });
    sock.on('error', reject);
  }), 5000, `upgrade ${target}`);
}

const whoami = async (s) => (await ackOf(s, 'whoami', [{ headers: ['x-who'] }]))[0];

test('without credentials: 401 on polling and on the WebSocket upgrade; the client gets connect_error', { timeout: 20000 }, async () => {
  const r = await request('GET', inst.url(`${PRIVATE}?EIO=4&transport=polling`));
  assert.equal(r.status, 401, `${r.status} ${r.body}`);
  assert.match(r.headers['www-authenticate'] || '', /^Basic realm="socket.io test"/);
  const wrong = await request('GET', inst.url(`${PRIVATE}?EIO=4&transport=polling`),
    { headers: { Authorization: basic(USER, 'wrong') } });
  assert.equal(wrong.status, 401);

  // the WebSocket upgrade is refused the same way
  assert.equal(await upgradeStatus(`${PRIVATE}?EIO=4&transport=websocket`), 401);
  assert.equal(await upgradeStatus(`${PRIVATE}?EIO=4&transport=websocket`, { Authorization: basic(USER, PASSWORD) }), 101);

  for (const transports of [['polling'], ['websocket']]) {
    const s = sioSocket(inst, '/', { path: PRIVATE, transports });
    const [err] = await once(s, 'connect_error', 10000);
    assert.ok(err instanceof Error);
    assert.equal(s.connected, false, `${transports}`);
    closeAll(s);
  }
});

test('with credentials: the user reaches the handshake (polling, websocket, upgrade)', { timeout: 20000 }, async () => {
  for (const transports of [['polling'], ['websocket'], undefined]) {
    const s = await sioConnect(inst, '/a', {
      path: PRIVATE, transports, extraHeaders: { Authorization: basic(USER, PASSWORD), 'X-Who': 'me' },
    });
    try {
      const w = await whoami(s);
      assert.equal(w.user, USER, `${transports}`);
      assert.equal(w.handshake.user, USER);
      assert.equal(w.headers['x-who'], 'me');
      assert.match(w.url, /^\/private\/socket\.io\/\?/);
      assert.equal(await s.emitWithAck('echo', 'private'), 'private');
    } finally {
      closeAll(s);
    }
  }
});

test('the open endpoint beside it has no user; over HTTPS the handshake is secure', { timeout: 20000 }, async () => {
  const open = await sioConnect(inst, '/', { transports: ['polling'] });
  try {
    const w = await whoami(open);
    assert.equal(w.user, null);
    assert.equal(w.secure, false);
    assert.equal('user' in w.handshake, false);
  } finally {
    closeAll(open);
  }
  for (const transports of [['polling'], ['websocket']]) {
    const s = await sioConnect(inst, '/', { tls: true, rejectUnauthorized: false, transports });
    try {
      const w = await whoami(s);
      assert.equal(w.secure, true, `${transports} over HTTPS`);
      assert.equal(w.handshake.secure, true);
    } finally {
      closeAll(s);
    }
  }
});

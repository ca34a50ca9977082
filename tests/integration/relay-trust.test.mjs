// Relay trust: a process running as httpd's uid (what PHP under php-fpm or
// CGI is) can reach siod's socket, but cannot read the relay secret, so it
// cannot open a link: a raw client sending HELLO without a proof, with a
// wrong one, or speaking relay version 1, then OPEN with a forged `user`,
// is refused (no answer to its OPEN), logged with its uid and pid, and
// closed. The real module proves the secret and works; a siod holding
// another secret cannot pose as the real one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  startInstance, pollHandshake, request, waitFor,
} from './harness.mjs';

let inst;

before(async () => {
  // -v: refusals after the first (throttled to debug) are visible too.
  inst = await startInstance('relay-trust', { verbose: true });
});

after(async () => {
  if (inst) await inst.stop();
});

// Runs in a separate node process as httpd's uid: connects to siod's
// socket, sends HELLO (mode 'none': then OPEN at once; 'wrong': an AUTH of
// random bytes, then OPEN; 'v1': a 16-byte version 1 HELLO, then OPEN),
// and reports the frame types it got back, whether siod closed the link,
// and what reading the secret file gives.
const RAW_CLIENT = `
import net from 'node:net';
import fs from 'node:fs';
import crypto from 'node:crypto';
const { SOCK, SECRET, MODE } = process.env;
function frame(type, body) {
  const h = Buffer.alloc(36);
  h.writeUInt32BE(body.length, 0);
  h[4] = type;
  return Buffer.concat([h, body]);
}
function kv(pairs) {
  const parts = [];
  for (const [k, v] of pairs) {
    const h = Buffer.alloc(6);
    h.writeUInt16BE(Buffer.byteLength(k), 0);
    h.writeUInt32BE(Buffer.byteLength(v), 2);
    parts.push(h, Buffer.from(k), Buffer.from(v));
  }
  return Buffer.concat(parts);
}
const v1 = MODE === 'v1';
const hello = Buffer.alloc(v1 ? 16 : 48);
hello.writeUInt32BE(0x53494f52, 0);
hello.writeUInt16BE(v1 ? 1 : 2, 4);
hello.writeUInt16BE(1, 6);
hello.writeUInt32BE(process.pid, 8);
hello.writeUInt32BE(64 * 1024 * 1024, 12);
if (!v1) crypto.randomBytes(32).copy(hello, 16);
const open = frame(2, kv([['method', 'GET'], ['url', '/socket.io/?EIO=4&transport=polling'],
  ['query', 'EIO=4&transport=polling'], ['remote_addr', '127.0.0.1'], ['remote_port', '1'],
  ['secure', '0'], ['user', 'admin'], ['upgrades', ''], ['time', String(Date.now())]]));
let secretRead;
try { fs.readFileSync(SECRET); secretRead = 'ok'; } catch (e) { secretRead = e.code; }
const types = [];
let buf = Buffer.alloc(0);
let closed = false;
const sock = net.connect(SOCK);
sock.on('connect', () => {
  sock.write(frame(1, hello));
  if (MODE !== 'wrong') sock.write(open);
});
sock.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 36 && buf.length >= 36 + buf.readUInt32BE(0)) {
    const t = buf[4];
    types.push(t);
    buf = buf.subarray(36 + buf.readUInt32BE(0));
    if (t === 10 && MODE === 'wrong') sock.write(Buffer.concat([frame(10, crypto.randomBytes(32)), open]));
  }
});
const done = () => {
  process.stdout.write(JSON.stringify({ types, closed, secretRead, pid: process.pid }));
  process.exit(0);
};
sock.on('close', () => { closed = true; done(); });
sock.on('error', () => {});
setTimeout(done, 3000);
`;

function runUser() {
  const user = inst.paths.RUN_USER;
  if (!user) return {};
  return {
    uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' })),
    gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' })),
  };
}

function rawClient(mode) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', RAW_CLIENT], {
      env: { PATH: process.env.PATH, SOCK: inst.paths.SIOD_SOCKET, SECRET: inst.paths.SIOD_SECRET, MODE: mode },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...runUser(),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', () => {
      try { resolve(JSON.parse(out)); } catch { reject(new Error(`raw client: ${out} ${err}`)); }
    });
  });
}

function refusals() {
  return inst.siodLog().split('\n').filter((l) => /closed: refused \(peer uid/.test(l));
}

test('the relay secret is readable by its owner only, and not by httpd\'s uid', async () => {
  const st = fs.statSync(inst.paths.SIOD_SECRET);
  assert.equal(st.mode & 0o077, 0, `mode ${(st.mode & 0o777).toString(8)}`);
  const key = fs.readFileSync(inst.paths.SIOD_SECRET, 'utf8');
  assert.match(key, /^[0-9a-f]{64}\n$/);
  const r = await rawClient('none');
  if (inst.paths.RUN_USER) {
    assert.equal(r.secretRead, 'EACCES', 'httpd\'s uid must not read the secret');
  } else {
    // As an ordinary user everything runs as you: the file keeps out only
    // other users (docs/security.md says so).
    assert.equal(st.uid, process.getuid());
  }
});

test('a client of httpd\'s uid sending HELLO and OPEN without a proof is refused and logged', async () => {
  const before = refusals().length;
  const r = await rawClient('none');
  assert.ok(r.closed, `siod must close the link: ${JSON.stringify(r)}`);
  assert.ok(!r.types.includes(20) && !r.types.includes(21), `OPEN was answered: ${JSON.stringify(r)}`);
  const lines = await waitFor(() => {
    const l = refusals().slice(before);
    return l.length ? l : null;
  }, 5000, 'the refusal in siod\'s log');
  const uid = runUser().uid ?? process.getuid();
  assert.match(lines[0], new RegExp(`peer uid ${uid}, pid ${r.pid}\\): OPEN frame before a proof`));
});

test('a wrong proof and a version 1 HELLO are refused too, the log throttled to one warning', async () => {
  const before = refusals().length;
  // Version 1 had no proof at all: a forged OPEN used to be answered.
  const v1 = await rawClient('v1');
  assert.ok(!v1.types.includes(20), `a forged OPEN (user=admin) was answered: ${JSON.stringify(v1)}`);
  assert.deepEqual(v1.types, []);
  assert.ok(v1.closed);
  const wrong = await rawClient('wrong');
  assert.deepEqual(wrong.types, [1, 10], 'siod sends HELLO and its proof, then nothing');
  assert.ok(wrong.closed);
  const lines = await waitFor(() => {
    const l = refusals().slice(before);
    return l.length >= 2 ? l : null;
  }, 5000, 'both refusals in siod\'s log');
  assert.match(lines.join('\n'), new RegExp(`pid ${wrong.pid}\\): wrong proof of the relay secret`));
  assert.match(lines.join('\n'), new RegExp(`pid ${v1.pid}\\): relay version 1, expected 2`));
  // Three refusals within 10 s (with the previous test's): one warning.
  const warns = refusals().filter((l) => / warn: /.test(l));
  assert.equal(warns.length, 1, warns.join('\n'));
});

test('the real module proves the secret: handshakes work', async () => {
  const { sid } = await pollHandshake(inst);
  assert.equal(sid.length, 20);
  assert.match(inst.siodLog(), /link \d+\(pid \d+\) ready \(module pid/);
});

test('a siod holding another secret is not trusted by the module; the right one is again', { timeout: 30000 }, async () => {
  const other = path.join(path.dirname(inst.paths.SIOD_SECRET), 'other.secret');
  fs.writeFileSync(other, 'x'.repeat(64) + '\n', { mode: 0o600 });
  await inst.restartSiod({ opts: { siodExtraArgs: ['-k', other] } });
  const r = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }));
  assert.equal(r.status, 503, `${r.status} ${r.body}`);
  // the 503 above may be the restart's outage; a child checks siod's proof
  // when it reconnects, which a request (after the link's backoff) causes
  await waitFor(async () => {
    const again = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }));
    assert.equal(again.status, 503, `${again.status} ${again.body}`);
    return /does not prove the relay secret/.test(inst.errorLog());
  }, 10000, 'the module\'s log line', 250);
  await inst.restartSiod({ opts: { siodExtraArgs: [] } });
  await waitFor(async () => (await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }))).status === 200,
    10000, 'handshakes to work again');
});

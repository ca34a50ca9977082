// Relay links a process of httpd's uid can open without the relay secret
// are bounded: one that says nothing (or HELLO and no proof) is closed 5 s
// after it was accepted; past --max-links a connection is closed at once;
// both logged throttled; a flood of such connections logs within budget;
// the real module keeps working.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import {
  startInstance, pollHandshake, request, waitFor,
} from './harness.mjs';

const MAX_LINKS = 48;
const DEADLINE_MS = 5000;

let inst;

before(async () => {
  inst = await startInstance('relay-limits', { siodExtraArgs: [`--max-links=${MAX_LINKS}`] });
});

after(async () => {
  if (inst) await inst.stop();
});

// Runs as httpd's uid: opens COUNT connections to siod's socket at once;
// each sends nothing (MODE 'silent'), a HELLO (MODE 'hello') or a byte of
// garbage and closes (MODE 'garbage'). Reports, per connection, the ms
// from connect to siod closing it (null: still open after WAIT ms), and
// whether anything was received.
const RAW_CLIENT = `
import net from 'node:net';
import crypto from 'node:crypto';
const { SOCK, MODE, COUNT, WAIT } = process.env;
const hello = Buffer.alloc(48);
hello.writeUInt32BE(0x53494f52, 0);
hello.writeUInt16BE(2, 4);
hello.writeUInt16BE(1, 6);
hello.writeUInt32BE(process.pid, 8);
hello.writeUInt32BE(64 * 1024 * 1024, 12);
crypto.randomBytes(32).copy(hello, 16);
const head = Buffer.alloc(36);
head.writeUInt32BE(hello.length, 0);
head[4] = 1;
const results = [];
let pending = Number(COUNT);
function one(i) {
  const r = { closedAfter: null, received: 0 };
  results[i] = r;
  let t0;
  const sock = net.connect(SOCK);
  sock.on('connect', () => {
    t0 = Date.now();
    if (MODE === 'hello') sock.write(Buffer.concat([head, hello]));
    if (MODE === 'garbage') sock.end(Buffer.from([0xff]));
  });
  sock.on('data', (d) => { r.received += d.length; });
  let gaveUp = false;
  sock.on('close', () => {
    if (t0 !== undefined && !gaveUp) r.closedAfter = Date.now() - t0;
    if (--pending === 0) finish();
  });
  sock.on('error', () => {});
  setTimeout(() => { gaveUp = true; sock.destroy(); }, Number(WAIT));
}
function finish() {
  process.stdout.write(JSON.stringify({ pid: process.pid, results }));
  process.exit(0);
}
for (let i = 0; i < Number(COUNT); i++) one(i);
`;

function runUser() {
  const user = inst.paths.RUN_USER;
  if (!user) return {};
  return {
    uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' })),
    gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' })),
  };
}

/** Starts the raw client; resolves its report once every connection is closed. */
function rawClients(mode, count, waitMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', RAW_CLIENT], {
      env: { PATH: process.env.PATH, SOCK: inst.paths.SIOD_SOCKET, MODE: mode, COUNT: String(count), WAIT: String(waitMs) },
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

const siodLines = (re) => inst.siodLog().split('\n').filter((l) => re.test(l));

async function handshakeWorks() {
  await waitFor(async () => (await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }))).status === 200,
    10000, 'handshakes to work');
  const { sid } = await pollHandshake(inst);
  assert.equal(sid.length, 20);
}

test('a link that says nothing, or HELLO without a proof, is closed at the handshake deadline; logged', { timeout: 30000 }, async () => {
  await handshakeWorks();
  const [silent, hello] = await Promise.all([rawClients('silent', 1, 15000), rawClients('hello', 1, 15000)]);
  const s = silent.results[0];
  const h = hello.results[0];
  assert.ok(s.closedAfter !== null, `a silent link is still open after 15 s: ${JSON.stringify(silent)}`);
  assert.ok(h.closedAfter !== null, `a HELLO-only link is still open after 15 s: ${JSON.stringify(hello)}`);
  assert.ok(s.closedAfter >= DEADLINE_MS - 1000 && s.closedAfter <= DEADLINE_MS + 3000, `silent closed after ${s.closedAfter} ms`);
  assert.ok(h.closedAfter >= DEADLINE_MS - 1000 && h.closedAfter <= DEADLINE_MS + 3000, `HELLO-only closed after ${h.closedAfter} ms`);
  assert.equal(s.received, 0);
  assert.ok(h.received > 0, 'siod answers a HELLO (its HELLO and proof)');
  // one warning per 10 s for refusals: the other one may be counted only
  const log = siodLines(/closed: refused \(peer uid \d+, pid \d+\): no (HELLO|proof of the relay secret \(AUTH\)) within the handshake deadline \(5 s\)/);
  assert.ok(log.length >= 1, `no deadline line\n${inst.logs()}`);
  await handshakeWorks();
});

test(`past --max-links ${MAX_LINKS} a connection is closed at once, logged; the rest at the deadline; the module works again after`, { timeout: 30000 }, async () => {
  await handshakeWorks();
  const count = MAX_LINKS + 20;
  const r = await rawClients('silent', count, 15000);
  const times = r.results.map((x) => x.closedAfter);
  assert.ok(times.every((t) => t !== null), `links still open after 15 s: ${JSON.stringify(times)}`);
  const early = times.filter((t) => t < 1000).length;
  const late = times.filter((t) => t >= DEADLINE_MS - 1000).length;
  // the module holds at least one link, so at most MAX_LINKS - 1 fit
  assert.ok(early >= count - MAX_LINKS + 1, `${early} of ${count} closed at once: ${JSON.stringify(times)}`);
  assert.equal(early + late, count, JSON.stringify(times));
  assert.ok(siodLines(/ warn: refused a connection from uid \d+ \(pid \d+\): \d+ links open \(--max-links\)/).length >= 1,
    `no --max-links line\n${inst.logs()}`);
  await handshakeWorks();
});

test('a flood of relay connections that fail the handshake logs within budget', { timeout: 60000 }, async () => {
  const connected = / info: link \d+\(pid \d+\) connected \(uid \d+\)/;
  const closed = / link \d+\(pid \d+\) closed: /;
  const before = { connected: siodLines(connected).length, closed: siodLines(closed).length };
  const start = Date.now();
  let done = 0;
  while (done < 1000) {
    const r = await rawClients('garbage', 40, 10000);
    assert.ok(r.results.every((x) => x.closedAfter !== null));
    done += 40;
  }
  await waitFor(() => inst.siodLog().length > 0, 1000, 'the log');
  const secs = Math.ceil((Date.now() - start) / 1000) + 1;
  const n = { connected: siodLines(connected).length - before.connected, closed: siodLines(closed).length - before.closed };
  // 5 a second per line (the refusal warnings: one per 10 s)
  assert.ok(n.connected >= 1 && n.connected <= 5 * secs, `${n.connected} "connected" lines for ${done} connections in ${secs} s`);
  assert.ok(n.closed >= 1 && n.closed <= 5 * secs + Math.ceil(secs / 10) + 1, `${n.closed} "closed" lines for ${done} connections in ${secs} s`);
  await handshakeWorks();
});

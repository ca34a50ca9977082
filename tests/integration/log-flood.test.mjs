// Logs an attacker can flood: lines a client can repeat at will are
// throttled per call site — in siod at most 5 a second (an invalid
// Socket.IO packet, a session opening and closing), in the module at most
// 5 a second per child (a POST body over SocketIOMaxPayload) — and the next
// line let through says how many were left out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startInstance, request, pollHandshake, pollPost, sleep,
} from './harness.mjs';

const BURST = 5;            // lines a second per call site (siod and module)
const SESSIONS = 1500;      // sessions that each send an invalid packet
const POSTS = 2000;         // oversized POSTs
const MAX_PAYLOAD = 1000;

let sio;
let mod;

before(async () => {
  [sio, mod] = await Promise.all([
    startInstance('log-flood-siod', { app: 'echo', pingInterval: 20000, pingTimeout: 20000 }),
    startInstance('log-flood-mod', { logLevel: 'info', maxPayload: MAX_PAYLOAD }),
  ]);
});

after(async () => {
  await Promise.all([sio?.stop(), mod?.stop()]);
});

/** Runs job(i) for i in [0, n) with at most conc at once. */
async function pool(n, conc, job) {
  let next = 0;
  const worker = async () => {
    while (next < n) await job(next++);
  };
  await Promise.all(Array.from({ length: conc }, worker));
}

/** A session that breaks the Socket.IO protocol at once ("4" + type 9). */
async function badSession() {
  const { sid } = await pollHandshake(sio);
  const r = await pollPost(sio, sid, ['49']);
  assert.equal(r.status, 200, `${r.status} ${r.body}`);
  return sid;
}

const siodLines = (re) => sio.siodLog().split('\n').filter((l) => re.test(l));

test('siod: a flood of invalid Socket.IO packets from many sessions is logged within budget, the rest counted', { timeout: 120000 }, async () => {
  const invalid = / info: session \S+: invalid Socket\.IO packet \(/;
  const start = Date.now();
  await pool(SESSIONS, 16, badSession);
  // the invalid packets are handled after the POSTs are answered
  await sleep(300);
  // a later one carries the count of those left out
  await sleep(1100);
  await badSession();
  await sleep(300);
  const secs = Math.ceil((Date.now() - start) / 1000) + 1;
  const budget = BURST * secs;
  const lines = siodLines(invalid);
  assert.ok(lines.length >= 1, `no invalid-packet line\n${sio.logs()}`);
  assert.ok(lines.length <= budget,
    `${lines.length} invalid-packet lines for ${SESSIONS} sessions in ${secs} s (budget ${budget})`);
  for (const re of [/ info: session \S+ open: polling/, / info: session \S+ closed: /]) {
    const n = siodLines(re).length;
    assert.ok(n <= budget, `${n} lines matching ${re} (budget ${budget})`);
  }
  const counted = lines.map((l) => Number(/\((\d+) similar lines not logged\)$/.exec(l)?.[1] ?? 0));
  const total = counted.reduce((a, b) => a + b, 0);
  assert.ok(total > 0, `no line counts the ones left out:\n${lines.join('\n')}`);
  // every invalid packet is either logged or counted (the last count may
  // still be pending: lines left out after the last line let through)
  assert.ok(total + lines.length <= SESSIONS + 1, `${total} + ${lines.length}`);
  assert.ok(total + lines.length >= SESSIONS / 2, `only ${total} + ${lines.length} of ${SESSIONS + 1} accounted for`);
});

function pidOf(line) {
  const m = /\[pid (\d+)/.exec(line);
  return m ? m[1] : '?';
}

const tooLarge = () => mod.errorLogLines().filter((l) => l.includes('POST body over SocketIOMaxPayload'));

/** A POST over SocketIOMaxPayload for a session that does not exist. */
async function bigPost() {
  const r = await request('POST', mod.eioUrl({ EIO: '4', transport: 'polling', sid: 'x'.repeat(20) }), {
    body: 'a'.repeat(MAX_PAYLOAD * 2), headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
  });
  assert.equal(r.status, 413, `${r.status} ${r.body}`);
}

test('module: a flood of POST bodies over SocketIOMaxPayload is logged within budget per child, the rest counted', { timeout: 120000 }, async () => {
  const start = Date.now();
  await pool(POSTS, 8, bigPost);
  const secs = Math.ceil((Date.now() - start) / 1000) + 1;
  const lines = tooLarge();
  assert.ok(lines.length >= 1, `nothing logged\n${mod.logs()}`);
  const perPid = {};
  for (const l of lines) perPid[pidOf(l)] = (perPid[pidOf(l)] || 0) + 1;
  for (const [pid, n] of Object.entries(perPid)) {
    assert.ok(n <= BURST * secs, `child ${pid} logged ${n} lines in ${secs} s (budget ${BURST * secs}):\n${lines.slice(0, 20).join('\n')}`);
  }
  // later lines say how many were left out (a child whose budget was hit)
  const counted = () => tooLarge().some((l) => /\(\d+ similar lines not logged\)$/.test(l));
  for (let round = 0; round < 8 && !counted(); round++) {
    await sleep(1100);
    await pool(40, 4, bigPost);
  }
  assert.ok(counted(), `no line counts the ones left out:\n${tooLarge().slice(-20).join('\n')}`);
});

// Descriptor leaks: 50 pending long-polls and 50 half-done upgrades, held
// (the descriptor counts must show them), then their
// client sockets destroyed abruptly; once the sessions have timed out,
// the descriptor counts of every httpd child and of siod are back to their
// baseline within a small constant slack.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startInstance, pollHandshake, pollUrl, RawWs, request, sleep, waitFor,
} from './harness.mjs';

const N = 50;
const PING_INTERVAL = 1000;
const PING_TIMEOUT = 1000;
// Slack per process: a lazily opened relay link, a log file reopened, one
// listener-side socket in flux. A leak of the 100 abandoned clients shows
// far above it.
const SLACK = 3;

let inst;
before(async () => {
  inst = await startInstance('leaks', { pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT });
});
after(async () => { await inst?.stop(); });

function snapshot() {
  const httpd = inst.httpdFds();
  return { httpd, siod: inst.siodFds(), children: Object.keys(httpd).length };
}

/** Starts a long-poll GET on a raw socket and resolves the socket, held open. */
function heldPoll(sid) {
  return new Promise((resolve) => {
    const u = new URL(pollUrl(inst, sid));
    const s = net.connect(inst.port, '127.0.0.1', () => {
      s.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      setTimeout(() => resolve(s), 100);
    });
    s.on('error', () => resolve(s));
  });
}

/** Polling session's WebSocket upgrade request and probe, held open
 * (resolves null if the upgrade was refused). */
async function heldUpgrade(sid) {
  let ws;
  try {
    ws = await RawWs.connect(inst, { sid }, { timeout: 20000 });
  } catch {
    return null; // refused (e.g. over a WebSocket cap): nothing to leak
  }
  ws.sendText('2probe');
  await ws.next(5000).catch(() => null);
  return ws;
}

const total = (snap) => Object.values(snap.httpd).reduce((a, b) => a + b, 0);

test(`${N} abandoned long-polls and ${N} half-done upgrades leave no descriptors behind`, { timeout: 90000 }, async (t) => {
  // Warm up so every child has its relay link, then take the baseline.
  await Promise.all(Array.from({ length: 20 }, () => pollHandshake(inst)));
  await sleep(PING_INTERVAL + PING_TIMEOUT + 1000);
  const base = snapshot();
  assert.ok(base.siod > 0 && base.children > 0, 'processes found');

  const polls = await Promise.all(Array.from({ length: N }, () => pollHandshake(inst)));
  const pollSocks = await Promise.all(polls.map((p) => heldPoll(p.sid)));
  const ups = await Promise.all(Array.from({ length: N }, () => pollHandshake(inst)));
  const upgraded = await Promise.all(ups.map((p) => heldUpgrade(p.sid)));
  const during = snapshot();
  // The measurement sees the held clients (proves it can see a leak).
  assert.ok(total(during) >= total(base) + N,
    `held clients not visible in httpd's descriptors: baseline ${JSON.stringify(base)}, with clients ${JSON.stringify(during)}`);

  // Abrupt end: no close frame, no FIN handshake etiquette.
  for (const s of pollSocks) s.destroy();
  for (const w of upgraded) w?.destroy();

  // Sessions time out after pingInterval + pingTimeout; the module's own
  // I/O timeouts release the connections.
  let now;
  const bound = () => {
    now = snapshot();
    const maxBase = Math.max(...Object.values(base.httpd));
    const extraChildren = Math.max(0, now.children - base.children);
    const httpdOk = Object.entries(now.httpd).every(([pid, n]) =>
      n <= (base.httpd[pid] ?? maxBase) + SLACK);
    const siodOk = now.siod <= base.siod + extraChildren + SLACK;
    return httpdOk && siodOk;
  };
  try {
    await waitFor(bound, 30000, 'descriptor counts back to baseline', 500);
  } catch {
    assert.fail(`descriptors not back to baseline after 30 s\n baseline ${JSON.stringify(base)}\n` +
      ` during   ${JSON.stringify(during)}\n now      ${JSON.stringify(now)}\n` +
      ` upgrades accepted: ${upgraded.filter(Boolean).length}/${N}\n${inst.logs(10)}`);
  }

  t.diagnostic(`fds baseline ${JSON.stringify(base)}; with clients ${JSON.stringify(during)}; ` +
    `after ${JSON.stringify(now)}; upgrades accepted ${upgraded.filter(Boolean).length}/${N}`);

  // and the server still serves
  const r = await request('GET', inst.url('/health.txt'));
  assert.equal(r.status, 200);
  await pollHandshake(inst);
});

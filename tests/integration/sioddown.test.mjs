// siod outages: while siod is down, handshakes get a clear 503, httpd logs
// the outage once (not once per request) and keeps its children; when siod
// is back, new sessions work without restarting httpd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startInstance, request, pollHandshake, pollPost, pollGet, decodePayload, waitFor, sleep,
} from './harness.mjs';

let inst;
before(async () => { inst = await startInstance('sioddown', { pingInterval: 5000, pingTimeout: 5000 }); });
after(async () => { await inst?.stop(); });

const siodLines = () => inst.errorLogLines().filter((l) => /siod/i.test(l));

async function echoWorks() {
  const { sid } = await pollHandshake(inst);
  const p = await pollPost(inst, sid, ['4ping']);
  assert.equal(p.status, 200);
  const g = await pollGet(inst, sid, { timeout: 3000 });
  assert.deepEqual(decodePayload(g.body), ['4ping']);
}

async function outage(round) {
  // warm: every child has had the chance to open its link
  for (let i = 0; i < 8; i++) await echoWorks();
  const children = inst.httpdChildren();
  const before1 = siodLines().length;

  const code = await inst.stopSiod();
  assert.equal(code, 0, 'siod exits 0 on SIGTERM');
  await sleep(300);

  for (let i = 0; i < 20; i++) {
    const r = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }), { timeout: 10000 });
    assert.equal(r.status, 503, `round ${round}, request ${i}: ${r.status} ${r.body}`);
    assert.ok(r.body.trim().length > 0, '503 has a body');
  }
  // ordinary pages keep working meanwhile
  const page = await request('GET', inst.url('/health.txt'));
  assert.equal(page.status, 200);
  await sleep(300);

  const added = siodLines().slice(before1);
  assert.equal(added.length, 1,
    `round ${round}: expected exactly one error_log line about siod for the outage, got ${added.length}:\n${added.join('\n')}`);
  assert.deepEqual(inst.httpdChildren(), children, 'httpd children survive the outage');

  await inst.startSiod();
  await waitFor(async () => {
    const r = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }), { timeout: 3000 });
    return r.status === 200;
  }, 10000, 'handshakes to succeed again after siod restarted');
  for (let i = 0; i < 8; i++) await echoWorks();
  assert.deepEqual(inst.httpdChildren(), children, 'same httpd children after siod is back');
}

test('503 body for a handshake while siod is down is clear', { timeout: 30000 }, async () => {
  await inst.stopSiod();
  const r = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }));
  assert.equal(r.status, 503);
  assert.match(r.body, /unavailable|siod|daemon/i, `503 body: ${r.body}`);
  await inst.startSiod();
  await waitFor(async () => (await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }))).status === 200,
    10000, 'recovery');
});

test('siod down: 503, one error_log line per outage, children alive; back up: sessions work (two rounds)', { timeout: 60000 }, async () => {
  await outage(1);
  await outage(2);
});

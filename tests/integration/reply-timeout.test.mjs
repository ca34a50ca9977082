// SocketIOReplyTimeout: a request siod does not answer in time gets 504
// with a reason, after the configured time (not the 30 s default), and the
// child keeps serving once siod answers again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, request, waitFor } from './harness.mjs';

let inst;
before(async () => { inst = await startInstance('replytimeout', { replyTimeout: 1 }); });
after(async () => {
  if (inst?.siodPid) process.kill(inst.siodPid, 'SIGCONT');
  await inst?.stop();
});

const handshake = (timeout = 10000) =>
  request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }), { timeout });

test('SocketIOReplyTimeout 1: a handshake siod does not answer gets 504 after about a second', { timeout: 30000 }, async () => {
  // every child has had the chance to open its relay link (a child that
  // would open it now, with siod stopped, answers 503 instead)
  for (let i = 0; i < 10; i++) assert.equal((await handshake()).status, 200, 'siod answers first');
  process.kill(inst.siodPid, 'SIGSTOP');
  try {
    const t0 = Date.now();
    const r = await handshake();
    const ms = Date.now() - t0;
    assert.equal(r.status, 504, `${r.status} ${r.body}`);
    assert.match(r.body, /did not answer in time/);
    assert.ok(ms >= 900 && ms < 5000, `answered after ${ms} ms`);
  } finally {
    process.kill(inst.siodPid, 'SIGCONT');
  }
  await waitFor(async () => (await handshake(3000)).status === 200, 10000, 'handshakes after siod resumed');
  assert.match(inst.errorLog(), /no answer from siod within SocketIOReplyTimeout \(1 s\)/);
});

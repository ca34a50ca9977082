// Answers for the polls of sessions the server just closed (siod_closed.c):
// the packets queued before the close reach the next GET, the close packet
// the one after; an entry's memory goes back once its grace (1 s) is over,
// with no further traffic (siod -v logs what the ring holds each time its
// timer runs); and with -R the payloads kept stay within a byte bound (a
// client over it gets the close packet alone).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startInstance, pollHandshake, pollPost, pollGet, decodePayload, sleep, waitFor,
} from './harness.mjs';

const instances = [];
after(async () => {
  for (const i of instances) await i.stop();
});

/** A polling session on "/" of the testkit app, its CONNECT answer read. */
async function connected(inst) {
  const { sid } = await pollHandshake(inst);
  assert.equal((await pollPost(inst, sid, ['40'])).status, 200);
  const got = [];
  while (!got.some((p) => p.startsWith('42["welcome"'))) got.push(...decodePayload((await pollGet(inst, sid)).body));
  return sid;
}

/** The server closes sid's whole connection (kick-me) while no GET is held. */
async function kick(inst, sid) {
  assert.equal((await pollPost(inst, sid, ['421["kick-me",{"close":true}]'])).status, 200);
}

test('a closed session\'s queued packets: next GET, then the close packet; the entry is freed after its grace without traffic', { timeout: 20000 }, async () => {
  const inst = await startInstance('siod-closed', { app: 'testkit', verbose: true, pingInterval: 20000, pingTimeout: 20000 });
  instances.push(inst);
  const sid = await connected(inst);
  await kick(inst, sid);
  const first = decodePayload((await pollGet(inst, sid)).body);
  assert.deepEqual(first, ['431[true]', '41'], 'the ack and DISCONNECT queued before the close');
  assert.deepEqual(decodePayload((await pollGet(inst, sid)).body), ['1']);

  // another one that nobody polls again: its payload stays 1 s, then goes
  // (the timer may run before that for the first entry: it then still
  // reports this one's bytes)
  const other = await connected(inst);
  const mark = inst.siodLog().length;
  const t0 = Date.now();
  await kick(inst, other);
  const since = () => inst.siodLog().slice(mark);
  await waitFor(() => since().includes('closed sessions: 0 answers held, 0 bytes'), 5000,
    `the ring to be empty after the grace, with no traffic (${since().match(/closed sessions: .*/g)})`);
  assert.ok(Date.now() - t0 >= 900, `emptied ${Date.now() - t0} ms after the close, before its grace`);
  // and the expired session is simply unknown now
  const res = await pollGet(inst, other);
  assert.equal(res.status, 400, `GET after the grace: ${res.status} ${res.body}`);
});

test('-R bounds the bytes kept: over it, the next GET gets the close packet alone', { timeout: 20000 }, async () => {
  const inst = await startInstance('siod-closed-r0', { app: 'testkit', siodExtraArgs: ['-R', '0'], pingInterval: 20000, pingTimeout: 20000 });
  instances.push(inst);
  const sid = await connected(inst);
  await kick(inst, sid);
  assert.deepEqual(decodePayload((await pollGet(inst, sid)).body), ['1']);
  await waitFor(() => /queued payload\(s\) dropped to keep within -R 0 bytes/.test(inst.siodLog()), 3000, 'the warn line');
  await sleep(100);
});

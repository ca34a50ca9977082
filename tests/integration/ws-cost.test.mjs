// What a message costs the httpd child (mpm_event's reactor): a client
// message, its acked answer and a broadcast to clients that keep up must
// take no fresh memory from the system. Each used to: a read through the
// core input filter took an 8 KB buffer from the connection's allocator,
// which gives every block back at once (to keep idle clients small), so
// every read (even one that found nothing) mapped and unmapped a block;
// and a broadcast copied its frame into a chunk of at least 8 KB per
// recipient, more than the reactor keeps for reuse once a child has a few
// hundred clients. Fresh memory shows as minor page faults of the child
// (/proc/<pid>/stat), a count that does not depend on timing; a block
// reused costs none.
import fs from 'node:fs';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, sleep } from './harness.mjs';
import { SioWs, sioWsUrl, connectMany } from './scale-lib.mjs';

const SKIP = MPM !== 'event' ? 'the reactor (mpm_event) only' : false;
// Over 4 MB of 8 KB chunks per broadcast (what the reactor's allocator
// keeps): 600 recipients in one child.
const CROWD = 600;
const BCASTS = 40;
const ECHO_CLIENTS = 4;
const ECHOES = 1500;

/** Minor page faults of pid so far (field 10 of /proc/<pid>/stat). */
function minflt(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

let inst;
before(async () => {
  if (SKIP) return;
  inst = await startInstance('ws-cost', {
    app: 'testkit',
    // each client sends as fast as it is answered: no event rate limit
    siodExtraArgs: ['--event-rate=0'],
    // one child serves every client, so its counters see every message
    extraConf: 'StartServers 1\nServerLimit 1\nMaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 200\n' +
      'AsyncRequestWorkerFactor 1000',
  });
});
after(async () => { await inst?.stop(); });

test(`${MPM}: client messages and their acks take no fresh memory per message`,
  { skip: SKIP, timeout: 120000 }, async () => {
    const clients = await connectMany(sioWsUrl(inst), ECHO_CLIENTS);
    try {
      const [child] = inst.httpdChildren();
      assert.deepEqual(inst.httpdChildren(), [child], 'one child');
      // warm up: whatever the first messages set up is not per message
      await Promise.all(clients.map(async (c) => { for (let i = 0; i < 50; i++) await c.ack('echo', [i]); }));
      const f0 = minflt(child);
      await Promise.all(clients.map(async (c) => {
        for (let i = 0; i < ECHOES; i++) assert.deepEqual(await c.ack('echo', ['m' + i]), ['m' + i]);
      }));
      const faults = minflt(child) - f0;
      const n = ECHO_CLIENTS * ECHOES;
      console.log(`${MPM}: ${n} echoes in and out: ${faults} minor faults (${(faults / n).toFixed(3)} per message)`);
      assert.ok(faults < n / 20, `${faults} minor faults for ${n} messages: fresh memory per message`);
    } finally {
      for (const c of clients) c.close();
    }
  });

test(`${MPM}: a broadcast to ${CROWD} clients that keep up takes no fresh memory per recipient`,
  { skip: SKIP, timeout: 180000 }, async () => {
    const crowd = await connectMany(sioWsUrl(inst), CROWD, { concurrency: 50 });
    const sender = await SioWs.connect(sioWsUrl(inst));
    try {
      const [child] = inst.httpdChildren();
      assert.deepEqual(inst.httpdChildren(), [child], 'one child');
      const pad = 'p'.repeat(200);
      const run = async (from, count) => {
        for (let i = from; i < from + count; i++) {
          assert.deepEqual(await sender.ack('to', [{ event: 'tick', args: [i, pad] }], 20000), [true]);
          await Promise.all(crowd.map((c) => c.until(() => c.all('tick').length > i, 20000, `tick ${i}`)));
        }
      };
      await run(0, 3); // warm up
      const f0 = minflt(child);
      await run(3, BCASTS);
      const faults = minflt(child) - f0;
      const n = CROWD * BCASTS;
      console.log(`${MPM}: ${BCASTS} broadcasts to ${CROWD} clients: ${faults} minor faults ` +
        `(${(faults / n).toFixed(3)} per delivery)`);
      for (const c of crowd) {
        assert.deepEqual(c.all('tick').map((e) => e.args[0]), Array.from({ length: BCASTS + 3 }, (_, i) => i),
          'every client got every broadcast, in order');
      }
      assert.ok(faults < n / 20, `${faults} minor faults for ${n} deliveries: fresh memory per recipient`);
    } finally {
      for (const c of [...crowd, sender]) c.close();
      await sleep(200);
    }
  });

// Out of memory during a fan-out (mpm_event's reactor): a broadcast that
// the child cannot copy for its WebSocket clients must not be skipped
// silently; the client that misses it is closed with 1011 "Out of memory",
// reconnects (official socket.io-client) and gets the next broadcast, and
// the child lives on. The allocation is made to fail honestly: the child's
// address-space limit (RLIMIT_AS, set at run time with prlimit) is lowered
// so that a broadcast of T bytes can still be received from siod (peak
// 1.5 T: the receive buffer doubles from T/2 to T) but not copied into the
// shared fan-out block (2 T). glibc is told to map every block over 128 KB
// on its own (MALLOC_MMAP_THRESHOLD_) and to use one arena, so each such
// allocation and free moves the address space by exactly its size.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, sioConnect, ackOf, closeAll, withTimeout, waitFor, sleep, request } from './harness.mjs';
import { pidAlive, logLines } from './scale-lib.mjs';

process.env.MALLOC_ARENA_MAX = '1';
process.env.MALLOC_MMAP_THRESHOLD_ = '131072';

const MIB = 1024 * 1024;
// just under a power of two, so the receive buffer's last step is T/2 -> T
const PAD = 31 * MIB;
// ASan's allocator aborts the process on a failed allocation (and keeps
// its own mappings): the test needs glibc's malloc, which returns NULL
const SKIP = MPM !== 'event' ? 'the reactor (mpm_event) only'
  : process.env.SAN === '1' ? 'not under ASan (its allocator aborts instead of failing)' : false;

/** VmSize of pid in bytes. */
function vmSize(pid) {
  const m = /^VmSize:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

/**
 * Sets pid's soft RLIMIT_AS (the hard one stays, so it can be raised
 * again). As the children's user: prlimit(2) on another user's process
 * needs CAP_SYS_RESOURCE, which a container's root may lack.
 */
function setAsLimit(pid, soft) {
  const args = ['--pid', String(pid), `--as=${soft}:`];
  const user = inst.paths.RUN_USER;
  if (user) execFileSync('runuser', ['-u', user, '--', 'prlimit', ...args], { stdio: 'pipe' });
  else execFileSync('prlimit', args, { stdio: 'pipe' });
}

let inst;
before(async () => {
  if (SKIP) return;
  inst = await startInstance('mem-fanout-oom', {
    app: 'testkit', maxPayload: 40 * MIB,
    // one child: the one whose limit is lowered serves every client
    extraConf: 'StartServers 1\nServerLimit 1\nMaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 200',
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

test(`${MPM}: a broadcast the child has no memory to copy closes the client with 1011; it reconnects, ` +
  'the child lives on', { skip: SKIP, timeout: 60000 }, async () => {
  const victim = await sioConnect(inst, '/', {
    transports: ['websocket'], reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500,
  });
  // the trigger polls: its requests go through worker threads, not the reactor
  const trigger = await sioConnect(inst, '/', { transports: ['polling'] });
  try {
    const [child] = inst.httpdChildren();
    assert.deepEqual(inst.httpdChildren(), [child], 'one child');
    assert.deepEqual(await ackOf(victim, 'join', ['big']), [true]);
    const bigs = [];
    victim.on('big', (s) => bigs.push(s.length));

    // control: with memory to spare the broadcast arrives whole
    assert.deepEqual(await ackOf(trigger, 'to', [{ rooms: ['big'], event: 'big', pad: PAD }], 20000), [true]);
    await waitFor(() => bigs.length === 1, 20000, 'the first big broadcast');
    assert.deepEqual(bigs, [PAD]);
    await sleep(500); // its blocks are freed

    const firstId = victim.id;
    const gone = withTimeout(new Promise((resolve) => {
      victim.once('disconnect', (reason, details) => resolve({ reason, code: details?.context?.code }));
    }), 20000, `the victim's disconnect\n${inst.logs()}`);
    gone.catch(() => {});
    const back = withTimeout(new Promise((resolve) => victim.io.once('reconnect', resolve)), 30000,
      `the victim's reconnection\n${inst.logs()}`);
    back.catch(() => {});

    const base = vmSize(child);
    const limit = base + Math.floor(1.75 * PAD);
    setAsLimit(child, limit);
    let res;
    try {
      assert.deepEqual(await ackOf(trigger, 'to', [{ rooms: ['big'], event: 'big', pad: PAD }], 20000), [true]);
      res = await gone;
    } finally {
      setAsLimit(child, 'unlimited');
    }
    console.log(`${MPM}: VmSize ${base >> 20} MiB, limit +${(limit - base) >> 20} MiB: disconnect ${JSON.stringify(res)}`);
    assert.equal(res.code, 1011, `close code 1011 (got ${JSON.stringify(res)})`);
    assert.equal(res.reason, 'transport close');
    assert.deepEqual(bigs, [PAD], 'the second broadcast did not arrive');

    await back;
    await waitFor(() => victim.connected, 10000, 'the victim connected again');
    assert.notEqual(victim.id, firstId, 'a new session');
    assert.deepEqual(await ackOf(victim, 'join', ['big']), [true]);
    assert.deepEqual(await ackOf(trigger, 'to', [{ rooms: ['big'], event: 'big', pad: 1000 }], 20000), [true]);
    await waitFor(() => bigs.length === 2, 10000, 'a broadcast after the reconnection');
    assert.deepEqual(bigs, [PAD, 1000]);

    assert.ok(pidAlive(child), 'the child lives on');
    assert.deepEqual(inst.httpdChildren(), [child], 'no other child took over');
    const page = await request('GET', inst.url('/index.html'));
    assert.equal(page.status, 200, 'the same child serves a static page');
    assert.equal(logLines(inst, /could not be queued \(out of memory\); closing the client \(1011\)/).length, 1,
      `the drop is logged\n${inst.logs()}`);
    assert.deepEqual(logLines(inst, /Ran out of memory|exit signal|segfault|\[socketio:(error|crit|alert|emerg)\]/), [],
      'no other failure');
  } finally {
    closeAll(victim, trigger);
  }
});

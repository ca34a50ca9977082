// SocketIOPollThreads: at most CAP worker threads (per child where children
// have threads, across the server under prefork) hold long-polling GETs;
// a GET over the cap is answered at once with what siod has queued for
// the session, or a noop, and under prefork and worker its connection is
// closed. Under mpm_event GETs are parked without a thread instead, so
// none is over the cap: all are held. The threaded MPMs run one child
// here, so which GETs are held is known. Raw Engine.IO polling shows which GETs were held and for how
// long; the official client (polling only) shows that sessions beyond the
// cap keep working (a broadcast, an acked echo) while a page stays fast.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  MPM, startInstance, request, pollHandshake, pollGet, pollPost, decodePayload, sioConnect, ackOf, closeAll,
  withTimeout, sleep,
} from './harness.mjs';
import { logLines, timedGets, summary } from './scale-lib.mjs';

const CAP = 2;
const OVER = 3;                 // GETs (clients) beyond the cap
const threaded = MPM !== 'prefork';
// mpm_event parks GETs (no thread): the cap does not apply
const parks = MPM === 'event';
const HELD = parks ? CAP + OVER - 1 : CAP;   // the last session is kept for later

let inst;
before(async () => {
  inst = await startInstance('poll-cap', {
    app: 'bench', pingInterval: 20000, pingTimeout: 20000,
    extraConf: [
      `SocketIOPollThreads ${CAP}`,
      // one child: the per-child cap is the whole server's
      ...(threaded ? ['ServerLimit 1', 'StartServers 1', 'MaxRequestWorkers 25'] : []),
    ].join('\n'),
  });
});
after(async () => { await inst?.stop(); });

/** A GET started now; .res resolves with the response and .ms its time. */
function timedGet(sid) {
  const t = { t0: Date.now(), done: false };
  // asks for keep-alive, so the answer says whether the server closes
  t.p = pollGet(inst, sid, { timeout: 30000, headers: { Connection: 'keep-alive' } }).then((res) => {
    t.ms = Date.now() - t.t0;
    t.done = true;
    return res;
  });
  return t;
}

test(`${MPM}: ${HELD} GETs are held` + (parks ? ' (parked, no cap)' : `, the ${OVER} over ` +
  `SocketIOPollThreads ${CAP} are answered at once (with what is queued, or a noop)`),
{ timeout: 30000 }, async () => {
  const sids = [];
  for (let i = 0; i < CAP + OVER; i++) sids.push((await pollHandshake(inst)).sid);
  // Socket.IO CONNECT for every session but the last: its answer waits in
  // siod's queue.
  for (const sid of sids.slice(0, -1)) assert.equal((await pollPost(inst, sid, ['40'])).body, 'ok');
  // drain those answers, so every GET below finds nothing queued
  for (const sid of sids.slice(0, -1)) assert.match((await pollGet(inst, sid)).body, /^40\{/);

  const gets = [];
  for (const sid of sids.slice(0, -1)) {
    gets.push(timedGet(sid));
    await sleep(300);            // held (or answered) before the next one
  }
  await sleep(1000);
  const held = gets.filter((g) => !g.done);
  assert.equal(held.length, HELD, `${HELD} GETs held, got ${held.length}\n${inst.logs()}`);
  for (let i = 0; i < HELD; i++) assert.equal(gets[i].done, false, `GET ${i} is held`);
  for (const g of gets.slice(HELD)) {
    const res = await g.p;
    assert.equal(res.status, 200);
    assert.equal(res.body, '6', 'a noop');
    assert.ok(g.ms < 1000, `answered at once (${g.ms} ms)`);
    // prefork and worker: an idle kept-alive connection would pin a thread
    if (MPM === 'event') assert.notEqual(res.headers.connection, 'close');
    else assert.equal(res.headers.connection, 'close');
  }

  // Over the cap (or parked) with packets queued: the GET gets them at once.
  const last = sids[sids.length - 1];
  assert.equal((await pollPost(inst, last, ['40'])).body, 'ok');
  const t0 = Date.now();
  const res = await pollGet(inst, last, { timeout: 5000 });
  assert.equal(res.status, 200);
  assert.match(res.body, /^40\{"sid":/, 'the queued CONNECT answer');
  assert.ok(Date.now() - t0 < 1000, `answered at once (${Date.now() - t0} ms)`);

  // The held GETs still work: a message for each is answered on its GET.
  for (let i = 0; i < HELD; i++) {
    assert.equal((await pollPost(inst, sids[i], ['421["echo","held"]'])).body, 'ok');
    const r = await withTimeout(gets[i].p, 5000, `held GET ${i}`);
    assert.deepEqual(decodePayload(r.body), ['431["held"]']);
  }
  const capLines = logLines(inst, /long-poll answered at once instead of held: \d+ of SocketIOPollThreads 2 /);
  if (parks) assert.deepEqual(capLines, [], 'no GET over the cap');
  else assert.ok(capLines.length >= 1, `the cap is logged\n${inst.logs()}`);
  for (const sid of sids) await pollPost(inst, sid, ['1']);
});

test(`${MPM}: ${CAP + OVER} polling-only clients with SocketIOPollThreads ${CAP}: each gets a broadcast ` +
  'and an ack, a page stays fast', { timeout: 60000 }, async () => {
  const socks = [];
  try {
    for (let i = 0; i < CAP + OVER; i++) {
      socks.push(await sioConnect(inst, '/', { transports: ['polling'] }));
    }
    await sleep(500);             // every client polling: some held, some answered at once
    socks[0].emit('bcast', 7);
    await Promise.all(socks.map((s, i) => withTimeout(s.rec.count('tick', 1, 10000), 11000,
      `client ${i}: the broadcast\n${inst.logs()}`)));
    for (const [i, s] of socks.entries()) {
      assert.deepEqual(await ackOf(s, 'echo', [i], 10000), [i], `client ${i}: its ack`);
    }
    const pages = await timedGets(inst.url('/index.html'), 20, { gapMs: 20 });
    const st = summary(pages.ms);
    console.log(`${MPM}: page while ${OVER} clients poll over the cap: ${JSON.stringify(st)}`);
    assert.deepEqual(pages.errors, []);
    assert.deepEqual(pages.statuses, { 200: 20 });
    assert.ok(st.p50 < 200, `page p50 ${st.p50} ms`);
    for (const [i, s] of socks.entries()) {
      assert.equal(s.connected, true, `client ${i}: still connected`);
      assert.equal(s.io.engine.transport.name, 'polling');
    }
    const res = await request('GET', inst.url('/health.txt'));
    assert.equal(res.status, 200);
  } finally {
    closeAll(socks);
  }
  assert.deepEqual(logLines(inst, /\[socketio:(error|crit|alert|emerg)\]|segfault|exit signal/), []);
});

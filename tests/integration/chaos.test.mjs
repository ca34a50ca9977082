// Chaos: official socket.io-client sockets (some on WebSocket, some kept
// on long-polling) exchange acked events and receive a numbered broadcast
// (the emit API, to a room) while the server is disrupted again and again.
// With connection state recovery, every reconnection must be a recovery
// (same id, room kept), every broadcast siod accepted must reach every
// client exactly once and in order, every acked event must be answered,
// and no httpd child may die of a signal.
//   - one node, recovery in siod's memory: graceful restarts of httpd
//     (WebSockets closed 1001, children replaced), children recycled by
//     MaxConnectionsPerChild, clean restarts of the managed siod (kill
//     -TERM: its state file carries the sessions);
//   - with Redis (recovery's state in Redis): the same, plus siod killed
//     (SIGKILL: nothing written at the end) and redis-server restarted.
// A broadcast is accepted when the emit API answers 200 without
// "logged": false (with recovery in Redis, 200 comes once Redis has it in
// recovery's log: docs/emit-api.md), so a siod killed right after the
// answer loses none. CI runs a short variant of both (each disruption
// once or twice); `make chaos` runs CHAOS_SECONDS (300 by default) of
// both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startInstance, sioSocket, sioConnected, closeAll, sleep, waitFor, request, MPM,
} from './harness.mjs';
import { RedisServer } from './redis-lib.mjs';

const SECONDS = Number(process.env.CHAOS_SECONDS || 0);   // 0: the short variant
const CLIENTS = SECONDS ? 40 : 12;
const WINDOW = 30000;
const VERBOSE = process.env.CHAOS_VERBOSE ? ['-v'] : [];   // siod's debug log
const ROOM = 'chaos';
const cleanups = [];
after(async () => {
  await sleep(200);
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** A client of inst: every "seq" number in arrival order, its connections and recoveries. */
function client(inst, i) {
  const polling = i % 3 === 0;
  const s = sioSocket(inst, '/', {
    transports: polling ? ['polling'] : ['polling', 'websocket'],
    reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000,
    randomizationFactor: 0.5, ackTimeout: 4000, retries: 20,
  });
  const c = {
    s, polling, seqs: [], connects: 0, recovered: 0, fresh: 0, acked: 0, ackErrors: [], ids: [], freshAt: [],
  };
  s.on('seq', (n) => { c.seqs.push(n); });
  s.on('connect', () => {
    c.connects++;
    const before = c.ids.at(-1);
    if (s.id !== before) c.ids.push(s.id);
    if (c.connects === 1) return;
    if (s.recovered) {
      c.recovered++;
    } else {
      c.fresh++;
      c.freshAt.push(`${new Date().toISOString().slice(11, 23)} ${before} -> ${s.id}`);
    }
  });
  return c;
}

const graceful = async (inst) => {
  const before = inst.errorLogLines().length;
  process.kill(inst.httpdPid, 'SIGUSR1');
  await waitFor(() => inst.errorLogLines().slice(before).some((l) => /resuming normal operations/.test(l)),
    15000, 'graceful restart');
};
/**
 * siod stopped with signal; the managed siod is started again by httpd.
 * Not before it has run 10 s: httpd delays the restart of a siod that
 * keeps exiting sooner (doubling), past the recovery window in a long run.
 */
const siodStarted = new Map();   // inst -> when its siod last started
const siodKilledBy = (signal) => async (inst) => {
  const since = Date.now() - (siodStarted.get(inst) ?? 0);
  if (since < 10500) await sleep(10500 - since);
  const pid = inst.siodPid;
  process.kill(pid, signal);
  let next;
  await waitFor(() => (next = inst.siodPid) && next !== pid, 20000, 'the managed siod started again');
  siodStarted.set(inst, Date.now());
};

/**
 * What the clients that missed `last` look like, beside what siod says of
 * the room (fetchSockets through the emit API): id, transport, the last
 * number received, connections and recoveries, whether siod has it in ROOM.
 */
async function stragglers(inst, clients, last) {
  const res = await request('POST', inst.url('/emit'), {
    body: JSON.stringify({ op: 'fetchSockets', nsp: '/', rooms: [ROOM] }),
    headers: { 'Content-Type': 'application/json' }, timeout: 5000,
  }).catch((e) => ({ status: 0, body: e.message }));
  let inRoom = null;
  try {
    inRoom = new Set(JSON.parse(res.body).sockets.map((x) => x.id));
  } catch {
    /* shown below as unknown */
  }
  const lines = clients.map((c, i) => {
    if (c.seqs.includes(last)) return null;
    const t = c.s.io.engine?.transport?.name ?? '-';
    const room = inRoom === null ? `room ? (${res.status})` : inRoom.has(c.s.id) ? 'in room' : 'NOT in room';
    return `  client ${i} ${c.s.id} ${c.s.connected ? 'connected' : 'disconnected'} ${t}: ` +
      `last ${c.seqs.at(-1)} (${c.seqs.length} received), connects ${c.connects}, ` +
      `recovered ${c.recovered}, fresh ${c.fresh} ${c.freshAt.join(', ')}, acked ${c.acked}, ${room}`;
  }).filter(Boolean);
  return `${lines.length} of ${clients.length}; siod's room has ${inRoom?.size ?? '?'}\n${lines.join('\n')}`;
}

/**
 * The run: CLIENTS clients join ROOM, talk and receive the broadcast while
 * the disruptions take turns (each after 2.5 s) for SECONDS (once each in
 * the short variant); then the checks.
 */
async function chaos(t, inst, disruptions) {
  const clients = Array.from({ length: CLIENTS }, (_, i) => client(inst, i));
  try {
    await Promise.all(clients.map((c) => sioConnected(inst, c.s, 15000)));
    await Promise.all(clients.map(async (c) => {
      assert.equal(await c.s.emitWithAck('join', ROOM), true);
    }));

    // the broadcaster: numbers in order, each POSTed once; 200 is
    // accepted, unless Redis had not logged it yet ("logged": false)
    const accepted = [];
    let stop = false;
    const broadcaster = (async () => {
      for (let n = 1; !stop; n++) {
        const res = await request('POST', inst.url('/emit'), {
          body: JSON.stringify({ nsp: '/', event: 'seq', args: [n], rooms: [ROOM] }),
          headers: { 'Content-Type': 'application/json' }, timeout: 3000,
        }).catch((e) => ({ status: 0, body: e.message }));
        if (res.status === 200 && !/"logged":false/.test(res.body)) accepted.push(n);
        await sleep(40);
      }
    })();
    // every client: acked echoes, one at a time
    const talkers = clients.map(async (c, i) => {
      for (let k = 0; !stop; k++) {
        try {
          const back = await c.s.emitWithAck('echo', `${i}:${k}`);
          if (back === `${i}:${k}`) c.acked++; else c.ackErrors.push(`echo ${i}:${k} answered ${back}`);
        } catch (e) {
          c.ackErrors.push(`echo ${i}:${k}: ${e.message}`);
        }
        await sleep(150);
      }
    });

    const until = Date.now() + SECONDS * 1000;
    let done = 0;
    do {
      for (const d of disruptions) {
        await sleep(2500);
        await d(inst);
        done++;
      }
    } while (Date.now() < until);
    await sleep(3000);
    stop = true;
    await broadcaster;
    await Promise.all(talkers);
    // everyone back and the last broadcasts delivered
    await waitFor(() => clients.every((c) => c.s.connected), 20000, 'every client connected');
    const last = accepted[accepted.length - 1];
    try {
      await waitFor(() => clients.every((c) => c.seqs.includes(last)), 15000, 'the last broadcast everywhere');
    } catch (e) {
      throw new Error(`the last broadcast (${last}) not everywhere within 15 s:\n${await stragglers(inst, clients, last)}`);
    }

    assert.ok(accepted.length >= 20, `broadcasts accepted: ${accepted.length}`);
    for (const [i, c] of clients.entries()) {
      const who = `client ${i} (${c.polling ? 'polling' : 'websocket'})`;
      assert.equal(c.fresh, 0, `${who}: ${c.fresh} reconnections not recovered (${c.recovered} were)`);
      // exactly once, in order
      for (let k = 1; k < c.seqs.length; k++) {
        assert.ok(c.seqs[k] > c.seqs[k - 1], `${who}: ${c.seqs[k]} after ${c.seqs[k - 1]}`);
      }
      const got = new Set(c.seqs);
      const missing = accepted.filter((n) => !got.has(n));
      assert.deepEqual(missing, [], `${who}: accepted broadcasts missing`);
      assert.deepEqual(c.ackErrors, [], `${who}: acks`);
      assert.ok(c.acked > 0, `${who}: acked echoes`);
    }
    // the WebSocket clients were cut and came back recovered
    const wsRecovered = clients.filter((c) => !c.polling).reduce((a, c) => a + c.recovered, 0);
    assert.ok(wsRecovered >= clients.filter((c) => !c.polling).length,
      `WebSocket clients recovered ${wsRecovered} times over ${done} disruptions`);
    // no httpd child died of a signal
    const killed = inst.errorLogLines().filter((l) => /AH00052|exit signal/.test(l));
    assert.deepEqual(killed, [], 'no httpd child died of a signal');
    const sum = (k) => clients.reduce((a, c) => a + c[k], 0);
    t.diagnostic(`${done} disruptions; ${accepted.length} broadcasts accepted, each received once and in order ` +
      `by all ${clients.length} clients; ${sum('recovered')} reconnections, all recovered; ${sum('acked')} acked echoes`);
  } finally {
    closeAll(clients.map((c) => c.s));
  }
}

test(`${MPM}: ${CLIENTS} clients through graceful restarts, recycled children and siod restarts: ` +
  'every reconnection recovered, every accepted broadcast once and in order, every ack answered, no child killed',
{ timeout: (SECONDS + 120) * 1000 }, async (t) => {
  const inst = await startInstance('chaos', {
    managed: true, app: 'testkit', pingInterval: 2000, pingTimeout: 3000,
    siodExtraArgs: [`--recovery=${WINDOW}`, '--event-rate=0', ...VERBOSE],
    // children come and go on their own too
    extraConf: 'MaxConnectionsPerChild 300',
  });
  cleanups.push(() => inst.stop());
  await chaos(t, inst, [graceful, siodKilledBy('SIGTERM'), graceful, siodKilledBy('SIGTERM')]);
});

test(`${MPM}: with Redis: ${CLIENTS} clients through graceful restarts, siod killed (SIGKILL) and stopped, ` +
  'redis-server restarted: every reconnection recovered, every accepted broadcast once and in order',
{ timeout: (SECONDS + 150) * 1000 }, async (t) => {
  // Redis keeps what it was told across its restart (append-only file,
  // every write synced), as a production Redis holding recovery's state
  // would
  const redis = await new RedisServer(['--appendonly', 'yes', '--appendfsync', 'always']).start();
  cleanups.push(() => redis.destroy());
  const inst = await startInstance('chaos-redis', {
    managed: true, app: 'testkit', pingInterval: 2000, pingTimeout: 3000, redis: redis.url,
    siodExtraArgs: [`--recovery=${WINDOW}`, '--event-rate=0', ...VERBOSE],
    extraConf: 'MaxConnectionsPerChild 300',
  });
  cleanups.push(() => inst.stop());
  const redisRestart = async () => {
    await redis.stop();
    await sleep(500);
    await redis.start();
  };
  await chaos(t, inst, [graceful, siodKilledBy('SIGKILL'), redisRestart, siodKilledBy('SIGTERM'),
    siodKilledBy('SIGKILL')]);
});

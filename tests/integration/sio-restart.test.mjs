// Sessions across a clean restart of siod (--recovery with --state-file;
// recoverykit app) with the official socket.io-client: siod stopped with
// SIGTERM closes WebSockets with 1012 and answers held polls, writes its
// recovery state (0600) and exits; the next siod reads and removes the
// file, and a client that comes back gets its socket (same id, rooms,
// data) and the events emitted while siod was away (through the HTTP emit
// API), in order, exactly once. A corrupt file, another program's file or
// one older than the window is refused with one log line and siod starts
// empty. The module's hand-over of WebSockets is off here
// (SocketIOHandoverTimeout 0: the reconnection path; ws-handover.test.mjs
// has the hand-over).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startInstance, sioConnect, closeAll, ackOf, withTimeout, waitFor, sleep, request,
} from './harness.mjs';

const WINDOW = 15000;
// the client comes back after this: siod is up again and the events are emitted by then
const BACK_MS = 2500;
const RECONNECT = { reconnection: true, reconnectionDelay: BACK_MS, reconnectionDelayMax: BACK_MS, randomizationFactor: 0 };

let inst;
let stateFile;
before(async () => {
  inst = await startInstance('sio-restart', {
    app: 'recoverykit', pingInterval: 5000, pingTimeout: 5000, extraConf: 'SocketIOHandoverTimeout 0',
  });
  stateFile = path.join(inst.rundir, 'run', 'siod.state');
  // the options from now on: the first siod had none, a restart takes them
  await inst.restartSiod({ opts: { siodExtraArgs: [`--recovery=${WINDOW}`, `--state-file=${stateFile}`] } });
});
after(async () => { await sleep(200); await inst?.stop(); });

/** Emits through the API; a child whose link to the new siod is not up yet answers 503 (nothing emitted): again. */
const emit = async (body) => {
  let res;
  for (let i = 0; i < 40; i++) {
    res = await request('POST', inst.url('/emit'), {
      body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' },
    });
    if (res.status !== 503) break;
    await sleep(50);
  }
  assert.equal(res.status, 200, `emit: ${res.body}\n${inst.logs(10)}`);
};

/** Resolves with [reason, details] of s's next disconnect. */
const disconnected = (s) => withTimeout(new Promise((resolve) => s.once('disconnect', (...a) => resolve(a))),
  10000, `disconnect\n${inst.logs(10)}`);
const reconnected = (s) => withTimeout(new Promise((resolve) => s.once('connect', resolve)),
  20000, `reconnect\n${inst.logs(10)}`);

/** The siod log lines that speak of the state file. */
const stateLines = () => inst.siodLog().split('\n').filter((l) => /state file/.test(l));

/** A client in room r1 with data, that has had its welcome (an offset). */
async function client(transports) {
  const s = await sioConnect(inst, '/', { ...RECONNECT, transports });
  const [w] = await s.rec.next('welcome');
  assert.equal(w.recovered, false);
  assert.deepEqual(await ackOf(s, 'join', ['r1']), [true]);
  assert.deepEqual(await ackOf(s, 'set-data', [{ user: 'ann' }]), [true]);
  return s;
}

for (const transports of [['websocket'], ['polling']]) {
  test(`${transports[0]}: siod stopped cleanly and started again: recovered, same id, rooms, data, the events ` +
    'emitted while it was away in order, exactly once', { timeout: 40000 }, async () => {
    const s = await client(transports);
    try {
      const id = s.id;
      // a polling client's next GET is held by siod by now
      await sleep(300);
      const gone = disconnected(s);
      const pid = inst.siodPid;
      assert.equal(await inst.stopSiod(), 0, 'siod exits 0');
      const [reason, details] = await gone;
      // a held poll is answered with a close packet, a WebSocket closed: the client reconnects by itself
      assert.equal(reason, 'transport close');
      if (transports[0] === 'websocket') {
        assert.equal(details?.context?.code, 1012, 'closed with 1012 (service restart)');
      }
      const st = fs.statSync(stateFile);
      assert.equal(st.mode & 0o777, 0o600, 'the state file is 0600');
      assert.equal(st.uid, process.getuid(), 'owned by siod\'s user');
      assert.ok(stateLines().some((l) => /1 kept sockets .* written for the next siod/.test(l)), stateLines().join('\n'));

      const back = reconnected(s);
      await inst.startSiod();
      assert.notEqual(inst.siodPid, pid);
      assert.ok(!fs.existsSync(stateFile), 'the new siod removed the file it read');
      assert.ok(stateLines().some((l) => /1 kept sockets and \d+ logged packets restored/.test(l)), stateLines().join('\n'));
      // emitted by the new siod before the client is back
      await emit({ event: 'news', args: [0], rooms: 'r1' });
      await emit({ event: 'direct', args: [0], rooms: id });
      await emit({ event: 'news', args: [1], rooms: 'r1' });
      await emit({ event: 'direct', args: [1], rooms: id });
      await emit({ event: 'no', args: [0], rooms: 'elsewhere' });
      assert.equal(s.connected, false, 'the emits came before the client was back');
      await back;
      await sleep(300);
      assert.equal(s.recovered, true, `recovered\n${inst.logs(10)}`);
      assert.equal(s.id, id, 'the same id');
      const [who] = await ackOf(s, 'whoami');
      assert.equal(who.recovered, true);
      assert.deepEqual(who.rooms.sort(), [id, 'r1'].sort(), 'the same rooms');
      assert.deepEqual(who.data, { user: 'ann' }, 'the same data');
      const missed = s.rec.log.filter((e) => ['news', 'direct', 'no'].includes(e.event))
        .map((e) => `${e.event}${e.args[0]}`);
      assert.deepEqual(missed, ['news0', 'direct0', 'news1', 'direct1'], 'missed events in order, once each');
      assert.equal(s.rec.all('welcome').length, 2);
      // offsets go on after the restored ones: a later event, then a second cut, recovers again
      await emit({ event: 'after', args: [1], rooms: 'r1' });
      await s.rec.next('after');
      const again = reconnected(s);
      s.io.engine.close();
      await again;
      assert.equal(s.recovered, true, 'recovered again on the new siod');
      assert.equal(s.id, id);
    } finally {
      closeAll(s);
    }
  });
}

test('restarted in place (SIGUSR2): the same pid and socket path, the client back recovered with what was emitted meanwhile',
  { timeout: 40000 }, async () => {
    const s = await client(['websocket']);
    try {
      const id = s.id;
      const pid = inst.siodPid;
      const restored = () => stateLines().filter((l) => /restored/.test(l)).length;
      const before = restored();
      const gone = disconnected(s);
      const back = reconnected(s);
      process.kill(pid, 'SIGUSR2');
      const [, details] = await gone;
      assert.equal(details?.context?.code, 1012, 'closed with 1012 (service restart)');
      await waitFor(() => restored() > before, 10000, 'the next image to read the state file');
      assert.equal(inst.siodPid, pid, 'the same process');
      assert.match(inst.siodLog(), /restarting in place: exec /);
      await emit({ event: 'news', args: [7], rooms: 'r1' });
      assert.equal(s.connected, false, 'emitted before the client was back');
      await back;
      await sleep(300);
      assert.equal(s.recovered, true, `recovered\n${inst.logs(10)}`);
      assert.equal(s.id, id, 'the same id');
      assert.deepEqual(s.rec.all('news').map((a) => a[0]).filter((n) => n === 7), [7], 'what was emitted meanwhile, once');
    } finally {
      closeAll(s);
    }
  });

test('SIGUSR2 then at once SIGTERM: the stop is not lost, the next image stops cleanly', { timeout: 30000 }, async () => {
  const child = inst.siod;
  const pid = child.pid;
  const gone = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const before = inst.siodLog().length;
  process.kill(pid, 'SIGUSR2');
  process.kill(pid, 'SIGTERM');
  assert.equal(await withTimeout(gone, 10000, `siod to exit\n${inst.logs(10)}`), 0);
  const log = inst.siodLog().slice(before);
  // whichever came first, siod ends: at once, or its next image at its start
  assert.match(log, /siod exiting \(0\)\s*$/);
  if (/restarting in place: exec/.test(log)) {
    assert.match(log.slice(log.lastIndexOf('restarting in place: exec')), /Terminated: closing/);
  }
  await inst.startSiod();
});

test('a polling session between two polls while no httpd child holds a link: siod stopped cleanly keeps its socket too',
  { timeout: 60000 }, async () => {
    // a raw polling client: open, CONNECT, its answer, then no GET held
    const poll = (method, q, body) => request(method, inst.url(`/socket.io/?EIO=4&transport=polling${q}`), body ? {
      body, headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
    } : {});
    // a siod with nothing kept from the tests before
    await inst.stopSiod();
    fs.rmSync(stateFile, { force: true });
    await inst.startSiod();
    let open;
    await waitFor(async () => (open = await poll('GET', '')).status === 200, 5000, () => `a session\n${open?.body}`);
    const { sid } = JSON.parse(open.body.slice(1));
    assert.equal((await poll('POST', `&sid=${sid}`, '40')).status, 200);
    const ans = await poll('GET', `&sid=${sid}`);
    assert.match(ans.body, /^40\{"sid":"[^"]+","pid":"[^"]+"\}/, ans.body);
    // httpd goes: every link closes; the session, with nothing held, stays
    const h = inst.httpd;
    const down = new Promise((resolve) => h.once('exit', resolve));
    const before = stateLines().length;
    // the log of the siod running now
    const current = () => { const l = inst.siodLog(); return l.slice(l.lastIndexOf('siod started')); };
    try {
      h.kill('SIGTERM');
      await withTimeout(down, 15000, 'httpd to stop');
      await waitFor(() => (current().match(/link \d+\(pid \d+\) closed/g) || []).length >=
        (current().match(/link \d+\(pid \d+\) ready/g) || []).length, 5000, 'every link closed');
      assert.equal(await inst.stopSiod(), 0, 'siod exits 0');
      assert.match(inst.siodLog(), /closing 1 sessions on 0 links/);
      // with no link the loop stops at once; the socket is kept all the same
      const written = stateLines().slice(before);
      assert.ok(written.some((l) => /1 kept sockets .* written for the next siod/.test(l)), written.join('\n'));
    } finally {
      if (!inst.siodPid) await inst.startSiod();
      if (h.exitCode !== null || h.signalCode !== null) await inst.startHttpd();
    }
    assert.ok(stateLines().some((l) => /1 kept sockets and \d+ logged packets restored/.test(l)), stateLines().join('\n'));
  });

test('a corrupt state file: one log line, siod starts empty, the client gets a new socket', { timeout: 40000 }, async () => {
  const s = await client(['websocket']);
  try {
    const id = s.id;
    const gone = disconnected(s);
    await inst.stopSiod();
    await gone;
    const buf = fs.readFileSync(stateFile);
    buf[Math.floor(buf.length / 2)] ^= 0x55;
    fs.writeFileSync(stateFile, buf);
    const before = stateLines().length;
    const back = reconnected(s);
    await inst.startSiod();
    await back;
    assert.equal(s.recovered, false);
    assert.notEqual(s.id, id);
    const lines = stateLines().slice(before);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /refused: corrupt .*sessions start empty/);
    assert.ok(!fs.existsSync(stateFile), 'removed');
    const [who] = await ackOf(s, 'whoami');
    assert.deepEqual(who.rooms, [s.id]);
  } finally {
    closeAll(s);
  }
});

test('a state file older than the window is ignored; another program\'s file is left alone and not overwritten',
  { timeout: 40000 }, async () => {
    const s = await client(['websocket']);
    try {
      const id = s.id;
      await inst.stopSiod();
      assert.ok(fs.existsSync(stateFile));
      // the next siod's window is shorter than the time the file waits
      await sleep(1200);
      let before = stateLines().length;
      const back = reconnected(s);
      inst.opts = { ...inst.opts, siodExtraArgs: ['--recovery=1000', `--state-file=${stateFile}`] };
      await inst.startSiod();
      await back;
      assert.equal(s.recovered, false);
      assert.notEqual(s.id, id);
      let lines = stateLines().slice(before);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0], /refused: written \d+ ms ago, past the window of 1000 ms/);

      // not a state file: left as it is, and the stop does not replace it
      await inst.stopSiod();
      fs.writeFileSync(stateFile, 'not a state file\n', { mode: 0o600 });
      before = stateLines().length;
      await inst.startSiod();
      lines = stateLines().slice(before);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0], /not a siod state file; left as it is/);
      await inst.stopSiod();
      assert.equal(fs.readFileSync(stateFile, 'utf8'), 'not a state file\n');
      fs.unlinkSync(stateFile);
      await inst.startSiod();
    } finally {
      closeAll(s);
    }
  });

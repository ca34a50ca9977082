// Sessions across a restart of a managed siod (SocketIODaemon managed,
// siod --recovery; recoverykit app), with no state file set: httpd gives
// siod <socket>.state, so a kill -TERM of siod (httpd starts it again) and
// a graceful restart of httpd that replaces siod (its command line
// changed) both bring the official socket.io-client back recovered, with
// the same id, rooms and data and the events emitted meanwhile, once each.
// A kill -USR2 restarts siod in place: the same pid, httpd sees no exit.
// The module's hand-over of WebSockets is off here (SocketIOHandoverTimeout
// 0: the reconnection path; ws-handover.test.mjs has the hand-over).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  startInstance, sioConnect, closeAll, ackOf, withTimeout, waitFor, sleep, request,
} from './harness.mjs';

const WINDOW = 20000;
const RECONNECT = { reconnection: true, reconnectionDelay: 2500, reconnectionDelayMax: 2500, randomizationFactor: 0 };

let inst;
before(async () => {
  inst = await startInstance('sio-restart-managed', {
    managed: true, app: 'recoverykit', pingInterval: 5000, pingTimeout: 5000,
    siodExtraArgs: [`--recovery=${WINDOW}`], extraConf: 'SocketIOHandoverTimeout 0',
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

const cmdline = (pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
const post = (body) => request('POST', inst.url('/emit'), {
  body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' },
});
/** Emits through the API once siod answers (503, nothing emitted, while it or a child's link to it is away). */
async function emitWhenUp(body) {
  let last;
  await waitFor(async () => (last = await post(body)).status !== 503, 15000, () => `siod back\n${inst.logs(10)}`);
  assert.equal(last.status, 200, last.body);
}
const reconnected = (s) => withTimeout(new Promise((resolve) => s.once('connect', resolve)),
  20000, `reconnect\n${inst.logs(10)}`);
const graceful = async () => {
  const before = inst.errorLogLines().length;
  process.kill(inst.httpdPid, 'SIGUSR1');
  await waitFor(() => inst.errorLogLines().slice(before).some((l) => /resuming normal operations/.test(l)),
    15000, 'graceful restart');
};

/** A WebSocket client that has had its welcome (an offset), in room r1 with data. */
async function client() {
  const s = await sioConnect(inst, '/', { ...RECONNECT, transports: ['websocket'] });
  await s.rec.next('welcome');
  assert.deepEqual(await ackOf(s, 'join', ['r1']), [true]);
  assert.deepEqual(await ackOf(s, 'set-data', [{ user: 'bo' }]), [true]);
  return s;
}

/** s comes back recovered as id, in room r1 with its data, and got the events named, in order, once. */
async function checkRecovered(s, id, events) {
  await sleep(300);
  assert.equal(s.recovered, true, `recovered\n${inst.logs(10)}`);
  assert.equal(s.id, id, 'the same id');
  const [who] = await ackOf(s, 'whoami');
  assert.deepEqual(who.rooms.sort(), [id, 'r1'].sort());
  assert.deepEqual(who.data, { user: 'bo' });
  await s.rec.count('news', events.length);
  assert.deepEqual(s.rec.all('news').map((a) => a[0]), events, 'each event once, in order');
}

test('managed siod: a kill -TERM and a graceful restart that replaces it keep the sessions (default state file)',
  { timeout: 90000 }, async () => {
    let pid;
    await waitFor(() => (pid = inst.siodPid), 5000, 'siod under httpd');
    const stateFile = `${inst.paths.SIOD_SOCKET}.state`;
    assert.ok(cmdline(pid).includes(`--state-file=${stateFile}`), cmdline(pid).join(' '));

    const s = await client();
    try {
      const id = s.id;

      // kill -TERM: httpd starts siod again, which reads the state file
      let back = reconnected(s);
      process.kill(pid, 'SIGTERM');
      let pid2;
      await waitFor(() => (pid2 = inst.siodPid) && pid2 !== pid, 15000, 'a new siod');
      await emitWhenUp({ event: 'news', args: [0], rooms: 'r1' });
      await emitWhenUp({ event: 'news', args: [1], rooms: id });
      await back;
      await checkRecovered(s, id, [0, 1]);
      assert.match(inst.siodLog(), /state file .*siod\.sock\.state: 1 kept sockets and \d+ logged packets restored/);
      assert.ok(!fs.existsSync(stateFile), 'read once');
      assert.ok(inst.errorLogLines().some((l) => /siod .* ended \(exit status or signal 0\)/.test(l)), inst.logs());

      // a changed command line: httpd stops the old siod and starts a new one
      back = reconnected(s);
      const conf = fs.readFileSync(inst.paths.CONF, 'utf8');
      fs.writeFileSync(inst.paths.CONF, conf.replace(/^SocketIODaemonArgs (.*)$/m, 'SocketIODaemonArgs $1 -c 30000'));
      await graceful();
      let pid3;
      await waitFor(() => (pid3 = inst.siodPid) && pid3 !== pid2, 15000, 'a siod with the new options');
      assert.ok(cmdline(pid3).includes('30000'));
      await emitWhenUp({ event: 'news', args: [2], rooms: 'r1' });
      await back;
      await checkRecovered(s, id, [0, 1, 2]);
      assert.equal((inst.siodLog().match(/kept sockets and \d+ logged packets restored/g) || []).length, 2);
    } finally {
      closeAll(s);
    }
  });

test('managed siod: kill -USR2 restarts it in place: the same pid, no exit for httpd to notice, the client back recovered',
  { timeout: 60000 }, async () => {
    let pid;
    await waitFor(() => (pid = inst.siodPid), 5000, 'siod under httpd');
    const s = await client();
    try {
      const id = s.id;
      const ended = () => inst.errorLogLines().filter((l) => /siod .* ended/.test(l)).length;
      const endedBefore = ended();
      const restored = () => (inst.siodLog().match(/kept sockets and \d+ logged packets restored/g) || []).length;
      const restoredBefore = restored();
      const back = reconnected(s);
      process.kill(pid, 'SIGUSR2');
      await waitFor(() => restored() > restoredBefore, 10000, 'the next image to read the state file');
      await emitWhenUp({ event: 'news', args: [5], rooms: 'r1' });
      await back;
      await sleep(300);
      assert.equal(s.recovered, true, `recovered\n${inst.logs(10)}`);
      assert.equal(s.id, id, 'the same id');
      assert.ok(s.rec.all('news').some((a) => a[0] === 5), 'the event emitted meanwhile');
      assert.equal(inst.siodPid, pid, 'the same pid');
      assert.equal(ended(), endedBefore, 'httpd saw no exit');
    } finally {
      closeAll(s);
    }
  });

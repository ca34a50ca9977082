// siod's per-link output cap (--max-link-output): an httpd child that stops
// reading its relay link (SIGSTOP) while another client floods broadcasts.
// siod pauses that link's input at half the cap and closes the link over
// it, logged; its memory stays bounded; a client on another child receives
// every broadcast, in order; once the child runs again, new clients work.
// A child stopped only until its link is paused catches up afterwards: its
// client gets every broadcast and its link is read again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  MPM, startInstance, sioConnect, once, closeAll, ackOf, waitFor, sleep,
} from './harness.mjs';

const CAP = 1024 * 1024;          // the smallest siod takes
const PAD = 200 * 1024;           // one broadcast
const FLOOD = 150;                // 30 MB in all: far past the cap and the socket buffers
const RSS_GROWTH_MAX = 12 * 1024 * 1024;

let inst;
before(async () => {
  inst = await startInstance('siod-linkcap', {
    app: 'testkit', pingInterval: 20000, pingTimeout: 20000,
    // -v: session open lines past the log throttle (5 a second) are still
    // written, at debug; linkPidOf reads them
    verbose: true,
    siodExtraArgs: [`--max-link-output=${CAP}`],
    // under ASan freed buffers wait in a quarantine (256 MB by default),
    // which would hide what siod really keeps: a small one here
    siodEnv: process.env.SAN === '1'
      ? { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'quarantine_size_mb=1'].filter(Boolean).join(':') } : {},
  });
});
after(async () => { await sleep(200); await inst?.stop(); });

function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

/** The pid of the httpd child whose link carries engine session sid (from siod's log). */
function linkPidOf(sid) {
  const m = new RegExp(`session ${sid} open: websocket, link \\d+\\(pid (\\d+)\\)`).exec(inst.siodLog());
  assert.ok(m, `no open line for ${sid}\n${inst.logs()}`);
  return Number(m[1]);
}

/**
 * Connects WebSocket clients until one (the victim) is on a child that two
 * others (sender, bystander) are not on, all before any child is stopped (a
 * stopped child may hold an accept wakeup). The rest are closed.
 */
async function placeClients() {
  const socks = [];
  for (let i = 0; i < 30; i++) {
    const s = await sioConnect(inst, '/', { transports: ['websocket'] });
    s.linkPid = linkPidOf(s.io.engine.id);
    socks.push(s);
    for (const victim of socks) {
      const others = socks.filter((o) => o.linkPid !== victim.linkPid);
      if (others.length >= 2) {
        const [sender, bystander] = others;
        const rest = socks.filter((o) => o !== victim && o !== sender && o !== bystander);
        const gone = rest.map((o) => once(o, 'disconnect'));
        closeAll(rest);
        await Promise.all(gone);
        return { victim, sender, bystander };
      }
    }
  }
  closeAll(socks);
  throw new Error(`30 clients all on one child\n${inst.logs()}`);
}

test(`${MPM}: a child that stops reading its link is cut off at --max-link-output; siod stays bounded, others get everything`,
  { timeout: 90000 }, async () => {
    const { victim, sender, bystander } = await placeClients();
    const pid = victim.linkPid;
    assert.ok(inst.httpdChildren().includes(pid), `link pid ${pid} is an httpd child`);
    const victimGone = once(victim, 'disconnect', 60000);
    process.kill(pid, 'SIGSTOP');
    try {
      const rss0 = rssBytes(inst.siodPid);
      let peak = rss0;
      const pad = 'p'.repeat(PAD);
      for (let i = 0; i < FLOOD; i++) {
        assert.deepEqual(await ackOf(sender, 'bcast-except-me', [{ event: 'big', args: [i, pad] }], 10000), [true]);
        peak = Math.max(peak, rssBytes(inst.siodPid));
      }
      // the bystander gets every broadcast, in order, untouched
      const got = await bystander.rec.count('big', FLOOD, 30000);
      assert.deepEqual(got.map((a) => a[0]), Array.from({ length: FLOOD }, (_, i) => i));
      assert.ok(got.every((a) => a[1] === pad), 'every payload intact');
      peak = Math.max(peak, rssBytes(inst.siodPid));
      assert.ok(peak - rss0 < RSS_GROWTH_MAX,
        `siod grew by ${((peak - rss0) / 1048576).toFixed(1)} MB for ${FLOOD * PAD / 1048576} MB sent to a stopped child`);

      const log = inst.siodLog();
      assert.match(log, new RegExp(`link \\d+\\(pid ${pid}\\): output backlog of \\d+ bytes over half of --max-link-output; input paused`));
      assert.match(log, new RegExp(`link \\d+\\(pid ${pid}\\) closed: output backlog of \\d+ bytes over --max-link-output ${CAP} \\(module not reading\\); its sessions close`));
      assert.equal(inst.siodPid !== null, true, 'siod alive');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    try {
      // the child runs again: its link is gone, so its WebSocket closes
      const [reason] = await victimGone;
      assert.match(reason, /^transport (close|error)$/);
      // and every child serves new clients (the stopped one reconnects its link)
      const again = await Promise.all(Array.from({ length: 4 }, () => sioConnect(inst, '/', { transports: ['websocket'] })));
      for (const s of again) assert.deepEqual(await ackOf(s, 'echo', ['ok']), ['ok']);
      closeAll(again);
      assert.ok(inst.httpdChildren().includes(pid), 'the stopped child lives on');
    } finally {
      closeAll(victim, sender, bystander);
    }
  });

test(`${MPM}: a child that falls behind has its input paused past half of --max-link-output and resumed once it catches up; nothing lost`,
  { timeout: 60000 }, async () => {
    const { victim, sender, bystander } = await placeClients();
    const pid = victim.linkPid;
    const paused = new RegExp(`link \\d+\\(pid ${pid}\\): output backlog of \\d+ bytes over half of --max-link-output; input paused`);
    const from = inst.siodLog().length;
    const newLog = () => inst.siodLog().slice(from);
    const pad = 'q'.repeat(100 * 1024);
    let sent = 0;
    process.kill(pid, 'SIGSTOP');
    try {
      // past half the cap, not past all of it: one broadcast at a time
      while (!paused.test(newLog())) {
        assert.ok(sent < 40, `no pause logged after ${sent} broadcasts\n${inst.logs()}`);
        assert.deepEqual(await ackOf(sender, 'bcast-except-me', [{ event: 'mid', args: [sent, pad] }], 10000), [true]);
        sent++;
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    try {
      // the child catches up: every broadcast arrives, in order, and its
      // link is read again (the victim's own events are answered)
      for (const s of [victim, bystander]) {
        const got = await s.rec.count('mid', sent, 20000);
        assert.deepEqual(got.map((a) => a[0]), Array.from({ length: sent }, (_, i) => i));
        assert.ok(got.every((a) => a[1] === pad), 'every payload intact');
      }
      assert.deepEqual(await ackOf(victim, 'echo', ['after'], 10000), ['after']);
      assert.ok(victim.connected);
      assert.doesNotMatch(newLog(), new RegExp(`pid ${pid}\\) closed`));
    } finally {
      closeAll(victim, sender, bystander);
    }
  });

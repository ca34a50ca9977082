// The lifetime of a WebSocket's connection pool after the hand-off. Under
// mpm_event the worker thread hands the upgraded connection to the reactor
// from the suspend_connection hook, and the MPM still stores to the
// connection's memory after the hooks return: the reactor may free that
// memory only once the worker has provably left, whatever the scheduling.
// - A burst of WebSockets opened and closed at once (a close frame right
//   after the 101, an abort without one, an abort before the 101), from a
//   few concurrent clients: no sanitizer report, no crashed child; under
//   mpm_event every adopted connection's pool is freed or set aside as soon
//   as it closes, and at most one per worker thread waits for its thread.
// - The same burst across a graceful restart: the old children exit
//   promptly (a pool waiting for an idle worker must not keep the MPM's
//   connection count up), with no crash.
// - SAN builds (fault injection): every worker stalls 1.5 s right after the
//   hand-off, then stores to the connection as the MPM does. A fixed delay
//   (the former 1 s) frees the pool under it: ASan reports the use after
//   free. Freeing only once the worker has moved on must not.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import WebSocket from 'ws';
import { MPM, startInstance, sleep, waitFor, request } from './harness.mjs';
import { logLines, graceful, pidAlive } from './scale-lib.mjs';

const CLIENTS = 4;
const PER_CLIENT = 100;
const THREADS_PER_CHILD = 25; // scripts/httpd-conf.sh (worker, event)
const STALL_MS = 1500;

const ADOPTED = /\[socketio:trace2\].*reactor: adopted a WebSocket/;
const FREED = /\[socketio:trace2\].*reactor: pool freed/;
const PARKED = /\[socketio:trace2\].*reactor: pool set aside/;
const PARKED_FREED = /\[socketio:trace2\].*reactor: set-aside pool freed/;
const STOPPED = /\[socketio:trace2\].*reactor: stopped$/;
const CRASH = /exit signal|segfault|still did not exit|AddressSanitizer|\[socketio:(error|crit|alert|emerg)\]/;

const insts = [];
after(async () => {
  for (const i of insts) await i.stop();
});

/** One WebSocket: opened, then closed at once in the given way; resolves
 * when the client side is over (whatever the server did). */
function oneWebSocket(inst, mode) {
  return new Promise((resolve) => {
    if (mode === 'early') {
      // the upgrade request, then gone before (or as) the 101 arrives
      const s = net.connect(inst.port, '127.0.0.1', () => {
        s.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n' +
          `Host: 127.0.0.1:${inst.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
        setImmediate(() => { s.destroy(); resolve(false); });
      });
      s.on('error', () => resolve(false));
      return;
    }
    const ws = new WebSocket(inst.wsUrl());
    let opened = false;
    ws.on('open', () => {
      opened = true;
      if (mode === 'close') ws.close(1000); else ws.terminate();
    });
    ws.on('error', () => {});
    ws.on('close', () => resolve(opened));
  });
}

/** Per httpd child: pools set aside and set-aside pools freed (which
 * child left some behind, if any did). */
function perPid(inst) {
  const tally = new Map();
  for (const [re, k] of [[PARKED, 'aside'], [PARKED_FREED, 'freed'], [STOPPED, 'stopped']]) {
    for (const l of logLines(inst, re)) {
      const pid = (/\[pid (\d+)/.exec(l) || [])[1] || '?';
      const t = tally.get(pid) || { aside: 0, freed: 0, stopped: 0 };
      t[k]++;
      tally.set(pid, t);
    }
  }
  return [...tally].map(([pid, t]) => `pid ${pid}: ${t.aside} set aside, ${t.freed} freed, ` +
    `${t.stopped ? 'its reactor stopped' : 'no reactor stop logged'}`).join('\n');
}

async function burst(inst) {
  const modes = ['close', 'abort', 'early'];
  let opened = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = 0; i < PER_CLIENT; i++) {
      if (await oneWebSocket(inst, modes[(i + c) % modes.length])) opened++;
    }
  }));
  return opened;
}

test(`${MPM}: ${CLIENTS * PER_CLIENT} WebSockets closed or aborted right after the upgrade: no crash, pools freed promptly`,
  { timeout: 120000 }, async () => {
    const inst = await startInstance('pool-life', { logLevel: 'warn socketio:trace2' });
    insts.push(inst);
    const opened = await burst(inst);
    assert.ok(opened >= CLIENTS * PER_CLIENT / 2, `only ${opened} WebSockets opened\n${inst.logs()}`);
    // the server still serves
    assert.equal((await request('GET', inst.url('/health.txt'))).status, 200);
    if (MPM === 'event') {
      const children = inst.httpdChildren().length;
      // every adopted connection is over: its pool freed, or set aside
      // (its memory only: counts settled) until its worker moves on
      await waitFor(() => logLines(inst, ADOPTED).length ===
        logLines(inst, FREED).length + logLines(inst, PARKED).length, 5000,
      'every adopted connection\'s pool freed or set aside').catch(() => {});
      const adopted = logLines(inst, ADOPTED).length;
      const freed = logLines(inst, FREED).length;
      const parked = logLines(inst, PARKED).length;
      const waiting = parked - logLines(inst, PARKED_FREED).length;
      assert.ok(adopted >= opened, `${adopted} adopted, ${opened} opened`);
      assert.equal(freed + parked, adopted,
        `${adopted} adopted, ${freed} freed, ${parked} set aside\n${inst.logs()}`);
      assert.ok(waiting <= THREADS_PER_CHILD * children,
        `${waiting} set-aside pools still wait, more than one per worker thread (${children} children)`);
    }
    assert.deepEqual(logLines(inst, CRASH), [], 'no crashed child, no error');
    inst.checkSanitizers();
    // stopping frees what still waits
    await inst.stop();
    insts.splice(insts.indexOf(inst), 1);
    assert.deepEqual(logLines(inst, CRASH), [], 'no child crashed while stopping');
    if (MPM === 'event') {
      assert.equal(logLines(inst, PARKED_FREED).length, logLines(inst, PARKED).length,
        `every set-aside pool freed by the time the child exits\n${perPid(inst)}`);
    }
  });

test(`${MPM}: a graceful restart in the middle of the burst: old children exit promptly, no crash`,
  { timeout: 120000 }, async () => {
    const inst = await startInstance('pool-life-graceful', { logLevel: 'warn socketio:trace2' });
    insts.push(inst);
    const old = inst.httpdChildren();
    const b = burst(inst);
    await sleep(500);
    graceful(inst);
    await b;
    await waitFor(() => old.every((p) => !pidAlive(p)), 15000, 'the old children to exit');
    await waitFor(() => inst.httpdChildren().length > 0, 5000, 'a new generation of children');
    assert.equal((await request('GET', inst.url('/health.txt'))).status, 200);
    assert.ok(await burst(inst) > 0, 'the new generation takes WebSockets');
    assert.deepEqual(logLines(inst, CRASH), [], 'no crashed child, no error');
    inst.checkSanitizers();
  });

test(`${MPM}: a worker that stalls after the hand-off keeps its connection's memory alive`,
  { timeout: 60000, skip: MPM !== 'event' || process.env.SAN !== '1' ? 'mpm_event, SAN=1 builds (fault injection) only' : false },
  async () => {
    const inst = await startInstance('pool-life-stall', {
      logLevel: 'warn socketio:trace2',
      httpdEnv: { SOCKETIO_FI_HANDOFF_DELAY_MS: String(STALL_MS) },
    });
    insts.push(inst);
    const results = await Promise.all(['close', 'abort', 'close', 'abort', 'abort', 'close']
      .map((m) => oneWebSocket(inst, m)));
    assert.ok(results.every(Boolean), 'every WebSocket opened');
    // closed long before the workers go on: past the stall, then other work
    // for the workers
    await sleep(STALL_MS + 1000);
    for (let i = 0; i < 40; i++) {
      assert.equal((await request('GET', inst.url('/health.txt'))).status, 200);
    }
    await sleep(500);
    inst.checkSanitizers();
    assert.deepEqual(logLines(inst, CRASH), [], 'no crashed child, no error');
    await inst.stop();
    insts.splice(insts.indexOf(inst), 1);
    assert.equal(logLines(inst, PARKED_FREED).length, logLines(inst, PARKED).length,
      'every set-aside pool freed by the time the child exits');
    assert.equal(logLines(inst, FREED).length + logLines(inst, PARKED).length,
      logLines(inst, ADOPTED).length, 'every adopted pool freed');
  });

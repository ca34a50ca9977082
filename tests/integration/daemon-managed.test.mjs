// siod started and supervised by httpd (SocketIODaemon managed): httpd's
// parent runs it with the configured options, restarts it when it dies
// (one log line each time, with a growing delay when it keeps exiting
// quickly), keeps it and its sessions across graceful restarts, replaces
// it when SocketIODaemonArgs changes, runs none while the configuration
// has no SocketIO On, and stops it when httpd stops.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  startInstance, sioConnect, closeAll, ackOf, sleep, waitFor, request, pollHandshake,
  pollGet, procName,
} from './harness.mjs';

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const cmdline = (pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
const graceful = async (inst) => {
  const before = inst.errorLogLines().length;
  process.kill(inst.httpdPid, 'SIGUSR1');
  await waitFor(() => inst.errorLogLines().slice(before).some((l) => /resuming normal operations/.test(l)),
    10000, 'graceful restart');
  await waitFor(async () => (await request('GET', inst.url('/health.txt'), { timeout: 1000 })).status === 200,
    10000, 'httpd after the restart');
};

let inst;
after(async () => { await inst?.stop(); });

test('httpd starts siod, restarts it when killed, keeps it across graceful restarts, stops it with httpd', { timeout: 90000 }, async () => {
  inst = await startInstance('daemon-managed', { managed: true, app: 'testkit', pingInterval: 5000 });
  let pid;
  await waitFor(() => (pid = inst.siodPid), 5000, 'siod under httpd');
  const argv = cmdline(pid);
  assert.equal(procName(pid), 'siod');
  assert.ok(argv.includes('-s') && argv.includes(inst.paths.SIOD_SOCKET), argv.join(' '));
  assert.ok(argv.includes('-a') && argv.includes('testkit'), 'SocketIODaemonArgs reach siod');
  // httpd gave siod time to listen before its children started
  const first = await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }));
  assert.equal(first.status, 200, `the first handshake: ${first.body}`);
  let s = await sioConnect(inst, '/');
  assert.deepEqual(await ackOf(s, 'echo', [1]), [1]);
  closeAll(s);

  // a crash: restarted at once, one line in the error log
  process.kill(pid, 'SIGKILL');
  let pid2;
  await waitFor(() => (pid2 = inst.siodPid) && pid2 !== pid, 15000, 'a new siod');
  // (a killed siod leaves its socket file: wait for an answer instead)
  await waitFor(async () => (await request('GET', inst.eioUrl({ EIO: '4', transport: 'polling' }))).status === 200,
    10000, 'the new siod to answer');
  s = await sioConnect(inst, '/');
  assert.deepEqual(await ackOf(s, 'echo', [2]), [2]);
  closeAll(s);
  const deaths = inst.errorLogLines().filter((l) => /siod .* ended \(exit status or signal 9\)/.test(l));
  assert.equal(deaths.length, 1, inst.logs());
  assert.match(deaths[0], /starting it again/);

  // a graceful restart keeps siod, and a session it holds
  const { sid } = await pollHandshake(inst);
  await graceful(inst);
  assert.equal(inst.siodPid, pid2, 'the same siod after a graceful restart');
  const res = await pollGet(inst, sid, { timeout: 30000 });
  assert.equal(res.status, 200, `the session lives on: ${res.body}`);

  // a changed command line replaces it
  const conf = fs.readFileSync(inst.paths.CONF, 'utf8');
  fs.writeFileSync(inst.paths.CONF, conf.replace(/^SocketIODaemonArgs (.*)$/m, 'SocketIODaemonArgs $1 -i 21000'));
  await graceful(inst);
  let pid3;
  await waitFor(() => (pid3 = inst.siodPid) && pid3 !== pid2, 15000, 'a siod with the new options');
  assert.ok(cmdline(pid3).includes('21000'));
  assert.ok(!alive(pid2), 'the old siod is gone');

  // no SocketIO On left (the module loaded, not used): siod is stopped
  // and not started again
  const withOn = fs.readFileSync(inst.paths.CONF, 'utf8');
  assert.match(withOn, /^\s*SocketIO On\s*$/m);
  fs.writeFileSync(inst.paths.CONF, withOn.replace(/^(\s*)SocketIO On\s*$/gm, '$1SocketIO Off'));
  await graceful(inst);
  await waitFor(() => !alive(pid3), 15000, 'siod stopped once no SocketIO On is left');
  await sleep(1500);
  assert.equal(inst.siodPid, null, 'no siod started without SocketIO On');
  // used again: started again
  fs.writeFileSync(inst.paths.CONF, withOn);
  await graceful(inst);
  let pid4;
  await waitFor(() => (pid4 = inst.siodPid) && pid4 !== pid3, 15000, 'siod started with SocketIO On back');

  // httpd stops: so does siod
  const parent = inst.httpdPid;
  process.kill(parent, 'SIGTERM');
  await waitFor(() => !alive(parent), 15000, 'httpd to stop');
  assert.ok(!alive(pid4), 'siod stopped with httpd');
  assert.match(inst.errorLog(), /stopping siod .*httpd is stopping/);
});

test('a siod that keeps exiting is started again with a growing delay; pages stay up', { timeout: 60000 }, async () => {
  // a log file siod cannot open: its options pass the configuration
  // check (siod --check does not open the log), the start fails
  const bad = await startInstance('daemon-managed-bad', { managed: true, siodExtraArgs: ['-l', '/nonexistent/dir/siod.log'] });
  try {
    await sleep(6000);
    const exits = bad.errorLogLines().filter((l) => /siod .* ended/.test(l));
    assert.ok(exits.length >= 2, `it was restarted at least once:\n${bad.logs()}`);
    assert.ok(exits.length <= 3, `no tight loop: ${exits.length} exits in 6 s\n${exits.join('\n')}`);
    assert.ok(exits.some((l) => /starting it again in \d+ s \(it keeps exiting quickly\)/.test(l)), exits.join('\n'));
    assert.equal((await request('GET', bad.url('/health.txt'))).status, 200);
    const hs = await request('GET', bad.eioUrl({ EIO: '4', transport: 'polling' }));
    assert.equal(hs.status, 503, 'Socket.IO answers 503 while siod is down');
  } finally {
    await bad.stop();
  }
});

test('make serve (scripts/serve.sh) runs siod under httpd and leaves nothing behind', { timeout: 60000 }, async () => {
  const { spawn } = await import('node:child_process');
  const path = await import('node:path');
  const { freePort, REPO, BUILD } = await import('./harness.mjs');
  const port = await freePort();
  const rundir = path.join(BUILD, 'itest', `serve-managed-${process.env.SIO_MPM || 'event'}`);
  fs.rmSync(rundir, { recursive: true, force: true });
  const sh = spawn(path.join(REPO, 'scripts', 'serve.sh'), [], {
    env: { ...process.env, PORT: String(port), RUNDIR: rundir, BUILD, APP: 'chat', LOGLEVEL: 'warn',
      MPM: process.env.SIO_MPM || 'event' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  sh.stdout.on('data', (d) => { out += d; });
  sh.stderr.on('data', (d) => { out += d; });
  try {
    await waitFor(() => /serve: ready/.test(out), 30000, `serve.sh ready\n${out}`);
    const httpd = Number(fs.readFileSync(path.join(rundir, 'run', 'httpd.pid'), 'utf8'));
    const siod = Number(fs.readFileSync(path.join(rundir, 'run', 'siod.pid'), 'utf8'));
    const ppid = Number(fs.readFileSync(`/proc/${siod}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    assert.equal(ppid, httpd, 'siod is httpd\'s child');
    assert.match(fs.readFileSync(path.join(rundir, 'httpd.conf'), 'utf8'), /^SocketIODaemon managed$/m);
    const res = await request('GET', `http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`);
    assert.equal(res.status, 200, res.body);
    sh.kill('SIGTERM');
    await waitFor(() => sh.exitCode !== null || sh.signalCode !== null, 20000, 'serve.sh to stop');
    await waitFor(() => !alive(httpd) && !alive(siod), 15000, 'httpd and siod gone');
    assert.match(out, /serve: stopped/);
  } finally {
    if (sh.exitCode === null) sh.kill('SIGKILL');
  }
});

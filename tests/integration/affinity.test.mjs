// SocketIOPinChildren: under a threaded MPM every thread of a child runs
// on one CPU, the children spread over the CPUs (by scoreboard slot), and
// WebSockets work as before; prefork children, and every child without
// the directive, keep the CPUs they were given.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { MPM, startInstance, sioConnect, closeAll, ackOf, waitFor } from './harness.mjs';

const insts = [];
after(async () => { for (const i of insts) await i.stop(); });

/** The CPUs a task may use, from /proc (e.g. "0-1", "1"). */
const cpusOf = (pid, tid = pid) =>
  /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))[1];
/** Every thread's CPU list of a child. */
const threadCpus = (pid) => fs.readdirSync(`/proc/${pid}/task`).map((t) => cpusOf(pid, t));
const mine = cpusOf(process.pid);
const many = mine !== '0' && /[-,]/.test(mine);

test(`${MPM}: SocketIOPinChildren On: ${MPM === 'prefork' ? 'prefork children are left as they are'
  : 'each child\'s threads on one CPU, the children spread'}; a WebSocket works`, { timeout: 30000 }, async () => {
  const inst = await startInstance('affinity', {
    app: 'testkit', extraConf: 'SocketIOPinChildren On', logLevel: 'warn socketio:debug',
  });
  insts.push(inst);
  const s = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    assert.deepEqual(await ackOf(s, 'echo', ['x']), ['x']);
    await waitFor(() => inst.httpdChildren().length >= 2, 5000, 'two children');
    const kids = inst.httpdChildren();
    const per = kids.map((p) => [...new Set(threadCpus(p))]);
    if (MPM === 'prefork' || !many) {
      for (const cpus of per) assert.deepEqual(cpus, [mine], `left as they are: ${JSON.stringify(per)}`);
      return;
    }
    for (const cpus of per) {
      assert.equal(cpus.length, 1, `one CPU list for all of a child's threads: ${JSON.stringify(per)}`);
      assert.match(cpus[0], /^\d+$/, `a single CPU: ${JSON.stringify(per)}`);
    }
    assert.ok(new Set(per.map((c) => c[0])).size >= 2, `the children spread: ${JSON.stringify(per)}`);
    assert.ok(inst.errorLogLines().some((l) => /this child \(slot \d+\) runs on CPU \d+ of \d+/.test(l)), inst.logs());
  } finally {
    closeAll(s);
  }
});

test(`${MPM}: without SocketIOPinChildren the children keep every CPU`, { timeout: 30000 }, async () => {
  const inst = await startInstance('affinity-off', { app: 'testkit' });
  insts.push(inst);
  for (const p of inst.httpdChildren()) {
    assert.deepEqual([...new Set(threadCpus(p))], [mine]);
  }
});

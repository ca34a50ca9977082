// Memory of httpd's children from /proc, for the tests that bound what a
// client can make a child hold: resident memory (VmRSS) and the private
// data the process has mapped (VmData), in KiB, per child and summed.
import fs from 'node:fs';

/** {rss, data} of pid in KiB (0 when it is gone). */
export function memOf(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name) => Number((new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(s) || [0, 0])[1]);
    return { rss: field('VmRSS'), data: field('VmData') };
  } catch {
    return { rss: 0, data: 0 };
  }
}

/** {pid: {rss, data}} for every httpd child of inst, and their sums. */
export function httpdMem(inst) {
  const per = {};
  let rss = 0;
  let data = 0;
  for (const p of inst.httpdChildren()) {
    per[p] = memOf(p);
    rss += per[p].rss;
    data += per[p].data;
  }
  return { per, rss, data };
}

/**
 * How much the children grew since `before` (a httpdMem reading): per
 * child, what it holds now minus what it held then (a child born since
 * counts from the smallest child of `before`); summed, in KiB.
 */
export function memGrowth(inst, before) {
  const now = httpdMem(inst);
  const base = Object.values(before.per);
  const floor = { rss: Math.min(...base.map((m) => m.rss)), data: Math.min(...base.map((m) => m.data)) };
  let rss = 0;
  let data = 0;
  for (const [pid, m] of Object.entries(now.per)) {
    const b = before.per[pid] || floor;
    rss += Math.max(0, m.rss - b.rss);
    data += Math.max(0, m.data - b.data);
  }
  return { rss, data, now };
}

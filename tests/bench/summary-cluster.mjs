// Turns the JSON lines of one `make bench-cluster` run
// (scripts/bench-cluster.sh) into a text summary on stdout and in
// OUTDIR/summary.txt, and a Markdown section in OUTDIR/results.md:
// broadcast deliveries per second across two nodes, the Redis hop's
// latency, CPU per delivery. Usage: node summary-cluster.mjs RESULTS.jsonl OUTDIR
import { f0, f1, f2, machineLine, ratio, readRecords, runArgs, table, writeSummary } from "./summary-lib.mjs";

const [inFile, outDir] = runArgs("summary-cluster.mjs");
const recs = readRecords(inFile);
const meta = recs.find((r) => r.scenario === "meta") || {};
const st = meta.settings || {};
const targets = ["event", "node"].filter((t) => recs.some((r) => r.target === t));
const label = { event: "ours (2 × httpd + siod)", node: "node (2 × socket.io)" };

// median(LIST, KEY): the median of KEY over the rounds
const median = (list, key) => {
  const b = list.map((r) => r[key]).filter((v) => typeof v === "number").sort((x, y) => x - y);
  if (!b.length) return undefined;
  return b.length % 2 ? b[(b.length - 1) / 2] : (b[b.length / 2 - 1] + b[b.length / 2]) / 2;
};
const of = (sc, t) => recs.filter((r) => r.scenario === sc && r.target === t);
// cpu(LIST, PREFIX): µs per delivery of the --cpu targets named PREFIX<n>
// (or PREFIX itself) added up, median over the rounds
const cpu = (list, prefix) => median(list.map((r) => {
  const e = Object.entries(r.cpu_us_per_op || {}).filter(([k]) => k === prefix || k.match(new RegExp(`^${prefix}\\d+$`)));
  return { v: e.length && e.every(([, v]) => v >= 0) ? e.reduce((a, [, v]) => a + v, 0) : undefined };
}), "v");
const lostOf = (list) => list.reduce((a, r) => a + (r.lost || 0) + (r.failed || 0) + (r.dropped || 0), 0);

const sections = [];
const bc = Object.fromEntries(targets.map((t) => [t, of("bcast", t)]));
if (targets.some((t) => bc[t].length)) {
  const nd = median(bc.node || [], "deliveries_per_s");
  const rows = targets.filter((t) => bc[t].length).map((t) => {
    const l = bc[t], dps = median(l, "deliveries_per_s");
    const server = t === "node" ? cpu(l, "node") + cpu(l, "redis")
      : cpu(l, "httpd") + cpu(l, "siod") + cpu(l, "redis");
    return [label[t], f0(median(l, "connected")), f0(dps), f0(lostOf(l)),
      `${f2(median(l, "p50_ms"))} / ${f2(median(l, "p99_ms"))}`,
      `${f2(median(l, "sender_url_p50_ms"))} / ${f2(median(l, "other_url_p50_ms"))}`,
      t === "node" ? "–" : f1(cpu(l, "httpd")), t === "node" ? "–" : f1(cpu(l, "siod")),
      f1(cpu(l, "redis")), t === "node" ? f1(cpu(l, "node")) : "–", f1(server),
      t !== "node" && nd ? `${ratio(dps, nd)}${dps >= 3 * nd ? " ✓" : " ✗"}` : ""];
  });
  sections.push([`Broadcast across two nodes: ${f0(st.bcast_clients)} clients, half on each, ` +
    `window ${st.bcast_window}, ${st.bcast_seconds} s`,
    table(["target", "connected", "deliveries/s", "lost+failed", "tick p50 / p99 ms",
      "p50 emitting / other node ms", "httpd µs", "siod µs", "redis µs", "node µs",
      "server µs/delivery", "vs node (target ≥ 3×)"], rows),
    "One client of node 1 emits `bcast` back to back with the window's broadcasts in " +
    "flight; every client of both nodes gets each `tick`, the other node's through Redis. " +
    "deliveries/s: ticks received in the window / its length. CPU: utime + stime over the " +
    "window from /proc per delivery, each node's httpd (parent and children) and siod, " +
    "redis-server, node; both nodes added up. Median of the rounds."]);
}

const hop = Object.fromEntries(targets.map((t) => [t, of("hop", t)]));
if (targets.some((t) => hop[t].length)) {
  const rows = targets.filter((t) => hop[t].length).map((t) => {
    const l = hop[t];
    const s50 = median(l, "sender_url_p50_ms"), s99 = median(l, "sender_url_p99_ms");
    const o50 = median(l, "other_url_p50_ms"), o99 = median(l, "other_url_p99_ms");
    const d50 = o50 - s50;
    return [label[t], f0(median(l, "bcasts")), f0(lostOf(l)), `${f2(s50)} / ${f2(s99)}`,
      `${f2(o50)} / ${f2(o99)}`, `${f2(d50)}${t === "node" ? "" : d50 <= 1 ? " ✓" : " ✗"}`,
      f2(o99 - s99)];
  });
  sections.push([`The Redis hop: ${f0(st.hop_clients)} clients, half on each node, ` +
    `${st.hop_rate} broadcasts/s one at a time, ${st.hop_seconds} s`,
    table(["target", "broadcasts", "lost+failed", "emitting node p50 / p99 ms",
      "other node p50 / p99 ms", "hop p50 ms (target ≤ 1)", "hop p99 ms"], rows),
    "Latency from the emit to each client's receipt (siobench's monotonic clock), split " +
    "by the node the receiving client is on: the emitting node delivers itself, the other " +
    "gets the broadcast through Redis. hop: other minus emitting. A light, paced load, so " +
    "that the figures show the path, not a queue. Median of the rounds."]);
}

const header = [
  `Run ${meta.date ?? "?"}, commit ${meta.commit ?? "?"}.`,
  `Machine: ${machineLine(meta)}; servers, redis-server and siobench share the cores ` +
    `(load average at start ${meta.load1_start ?? "?"}).`,
  `Software: ${meta.httpd ?? "httpd ?"}; Node.js ${meta.node ?? "?"} with socket.io ` +
    `${meta.socketio ?? "?"} and @socket.io/redis-adapter; redis-server ${st.redis ?? "?"}.`,
  `Settings: pingInterval ${st.ping_interval} ms, pingTimeout ${st.ping_timeout} ms; ` +
    `clients opened at ${st.connect_rate}/s by siobench (${st.procs} processes, alternately ` +
    `on node 1 and node 2); ours: ${st.worker}.`,
];
writeSummary(outDir, header, sections);

// Turns the JSON lines of one `make bench-php` run (scripts/bench-php.sh)
// into a text summary on stdout and in OUTDIR/summary.txt, and a Markdown
// section in OUTDIR/results.md: acked echoes answered by PHP through HTTP
// callbacks beside the C bench application, at each fixed rate.
// Usage: node summary-php.mjs RESULTS.jsonl OUTDIR
import { f0, f1, f2, machineLine, ratio, readRecords, runArgs, table, writeSummary } from "./summary-lib.mjs";

const [inFile, outDir] = runArgs("summary-php.mjs");
const recs = readRecords(inFile);
const meta = recs.find((r) => r.scenario === "meta") || {};
const st = meta.settings || {};
const runs = recs.filter((r) => r.scenario === "ack-rate");
const targets = ["php", "c"].filter((t) => runs.some((r) => r.target === t));
const label = { php: "PHP (callbacks, php-fpm)", c: "C (siod -a bench)" };
const rates = [...new Set(runs.map((r) => r.rate))].sort((a, b) => a - b);

const median = (list, f) => {
  const b = list.map(f).filter((v) => typeof v === "number" && v >= 0).sort((x, y) => x - y);
  if (!b.length) return undefined;
  return b.length % 2 ? b[(b.length - 1) / 2] : (b[b.length / 2 - 1] + b[b.length / 2]) / 2;
};
const us = (name) => (r) => r.cpu_us_per_op?.[name];
const sum = (list, k) => list.reduce((a, r) => a + (r[k] || 0), 0);

// the issue's target: at least 1,000 acks/s with p99 under 20 ms, none lost
const meets = (aps, p99, lost) => aps >= 990 && p99 < 20 && lost === 0;

const rows = [];
for (const rate of rates) {
  const c = runs.filter((r) => r.rate === rate && r.target === "c");
  for (const t of targets) {
    const l = runs.filter((r) => r.rate === rate && r.target === t);
    if (!l.length) continue;
    const aps = median(l, (r) => r.acks_per_s), p99 = median(l, (r) => r.p99_ms);
    const lost = sum(l, "ack_lost") + sum(l, "failed") + sum(l, "dropped");
    const server = median(l, (r) => (us("httpd")(r) ?? NaN) + (us("siod")(r) ?? NaN) +
      (t === "php" ? us("php-fpm")(r) ?? NaN : 0));
    const cServer = median(c, (r) => us("httpd")(r) + us("siod")(r));
    rows.push([f0(rate), label[t], f0(aps), f2(median(l, (r) => r.p50_ms)), f2(p99),
      f2(median(l, (r) => r.max_ms)), `${f0(lost)}${sum(l, "skipped") ? ` (${f0(sum(l, "skipped"))} skipped)` : ""}`,
      f1(median(l, us("httpd"))), f1(median(l, us("siod"))),
      t === "php" ? f1(median(l, us("php-fpm"))) : "–", f1(server),
      t === "php" && cServer ? ratio(server, cServer) : "",
      t === "php" && rate >= 1000 ? (meets(aps, p99, lost) ? "✓" : "✗") : ""]);
  }
}

const sections = [[
  `Event → PHP → ack: ${f0(st.clients)} clients, ${st.seconds} s at each rate` +
    `${st.rounds > 1 ? ` (median of ${st.rounds} rounds)` : ""}`,
  table(["echoes/s asked", "target", "acks/s", "p50 ms", "p99 ms", "max ms", "lost",
    "httpd µs", "siod µs", "php-fpm µs", "server µs/ack", "PHP / C", "≥ 1,000/s, p99 < 20 ms"], rows),
  "siobench sends `echo` with an ack at the fixed rate whatever the answers (open loop, " +
  "round-robin over the clients); a round trip counts from the echo's scheduled send. " +
  "PHP: siod POSTs each event to conf/php/bench.php (the same httpd, mod_proxy_fcgi, " +
  `php-fpm pm = static with ${st.fpm_children} children, opcache ${st.opcache || "?"}; ` +
  `siod --callback-requests=${st.callback_requests}), whose answer acks it; C: siod's ` +
  "bench application acks it itself. CPU: utime + stime over the window from /proc per " +
  "ack received; httpd's share under PHP includes serving the callbacks. lost: acks not " +
  "received within the timeout, plus clients failed or dropped.",
]];

const header = [
  `Run ${meta.date ?? "?"}, commit ${meta.commit ?? "?"}.`,
  `Machine: ${machineLine(meta)}; httpd, siod, php-fpm and siobench share the cores ` +
    `(load average at start ${meta.load1_start ?? "?"}).`,
  `Software: ${meta.httpd ?? "httpd ?"}; ${st.fpm ?? "php-fpm"}.`,
  `Settings: pingInterval ${st.ping_interval} ms, pingTimeout ${st.ping_timeout} ms; ` +
    `echoes of ${st.size} bytes, an ack later than ${st.timeout} s lost; ours: ${st.worker}.`,
];
writeSummary(outDir, header, sections);

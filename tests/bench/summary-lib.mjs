// Helpers shared by the benchmark summaries (summary.mjs for `make bench`,
// summary-cluster.mjs, summary-php.mjs): reading a run's JSON lines,
// number formats, tables in Markdown and aligned text, the machine line
// and writing results.md and summary.txt.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// runArgs(NAME): [RESULTS.jsonl, OUTDIR] from the command line of summary
// script NAME; exits with its usage otherwise.
export function runArgs(name) {
  const argv = process.argv.slice(2);
  if (argv.length !== 2) {
    console.error(`usage: node ${name} RESULTS.jsonl OUTDIR`);
    process.exit(2);
  }
  return argv;
}

// readRecords(FILE): the JSON objects of FILE, one a line (a line that is
// not JSON is reported on stderr and skipped).
export function readRecords(file) {
  return readFileSync(file, "utf8").split("\n").filter((l) => l.trim())
    .map((l, i) => {
      try { return JSON.parse(l); } catch { console.error(`summary: line ${i + 1} is not JSON`); return null; }
    }).filter(Boolean);
}

const missing = (v) => v === undefined || v === null || Number.isNaN(v);
// f0, f1, f2: a number rounded (with thousands separators) or to 1 or 2
// decimals; "–" when there is none.
export const f0 = (v) => (missing(v) ? "–" : Math.round(v).toLocaleString("en-US"));
export const f1 = (v) => (missing(v) ? "–" : v.toFixed(1));
export const f2 = (v) => (missing(v) ? "–" : v.toFixed(2));
// ratio(a, b): "a/b×", or "–" unless both are positive.
export const ratio = (a, b) => (a > 0 && b > 0 ? `${(a / b).toFixed(2)}×` : "–");

// table(HEAD, ROWS): {md, txt}: a Markdown table and, for the terminal,
// the same with aligned columns.
export function table(head, rows) {
  const md = [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(w[i])).join("  ").trimEnd();
  const txt = [line(head), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n");
  return { md, txt };
}

// machineLine(META): the machine of a run's meta record, in one line.
export function machineLine(meta) {
  return `${meta.cpu ?? "?"}, ${meta.cores ?? "?"} cores, ` +
    `${meta.mem_mb ? (meta.mem_mb / 1024).toFixed(0) : "?"} GB RAM, Linux ${meta.kernel ?? "?"}, ` +
    `${meta.nofile ?? "?"} open files per process`;
}

// writeSummary(OUTDIR, HEADER, SECTIONS, MDTAIL): HEADER (lines) and
// SECTIONS ([title, {md, txt}, note]) into OUTDIR/results.md (MDTAIL, e.g.
// the plots' images, after them) and OUTDIR/summary.txt, and the text on
// stdout.
export function writeSummary(outDir, header, sections, mdTail = "") {
  let md = header.join("\n") + "\n";
  let txt = header.join("\n") + "\n";
  for (const [title, t, note] of sections) {
    md += `\n### ${title}\n\n${t.md}\n${note ? `\n${note}\n` : ""}`;
    txt += `\n== ${title}\n${t.txt}\n${note ? `${note}\n` : ""}`;
  }
  writeFileSync(join(outDir, "results.md"), md + mdTail);
  writeFileSync(join(outDir, "summary.txt"), txt);
  process.stdout.write(txt);
}

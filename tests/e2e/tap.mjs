// The browser checks' small TAP reporter (demo.mjs, admin-ui.mjs,
// ws-h2.mjs): numbered ok / not ok lines, a check that runs one step and
// reports it, and the closing count that sets the exit code.
let passed = 0;
let failed = 0;

/** Reports a step that passed. */
export function ok(name) { passed++; console.log(`ok ${passed + failed} - ${name}`); }

/** Reports a step that failed, with its error as comment lines. */
export function fail(name, err) {
  failed++;
  console.log(`not ok ${passed + failed} - ${name}`);
  console.log(String(err && err.stack ? err.stack : err).replace(/^/gm, '  # '));
}

/** Runs fn and reports it as name. */
export async function check(name, fn) {
  try { await fn(); ok(name); } catch (err) { fail(name, err); }
}

/** Throws msg unless cond. */
export function assert(cond, msg) { if (!cond) throw new Error(msg); }

/** Prints "<prefix>N passed, M failed" and sets the exit code. */
export function finish(prefix = '# ') {
  console.log(`${prefix}${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

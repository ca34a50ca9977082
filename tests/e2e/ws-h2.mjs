// Browser check of WebSockets over HTTP/2 (`make e2e`): httpd with mod_ssl
// and mod_http2 (H2WebSockets On, a self-signed certificate,
// permessage-deflate on), siod's testkit application; Debian's chromium
// loads a page over HTTPS that takes the official socket.io client bundle
// from the module
// (/socket.io/socket.io.js). (1) WebSocket-only clients: events with acks
// and a broadcast, the WebSockets logged by the server as HTTP/2.0; (2) the
// default upgrade from long-polling over HTTP/2 to a WebSocket over HTTP/2;
// (3) with SocketIOWebSocketThreads 1 a second client's WebSocket is
// refused (503) and it stays on long-polling. Under prefork mod_http2 is
// inactive: the checks are skipped. Prints TAP-like lines; exits 1 on a
// failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 10000;
// the integration suite's instances (httpd-conf.sh with TLS_PORT and H2)
process.env.SIO_MPM = process.env.SIO_MPM || process.env.MPM || 'event';
const SITE = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-e2e-h2-'));
fs.writeFileSync(path.join(SITE, 'h2ws.html'),
  '<!doctype html><title>WebSockets over HTTP/2</title><script src="/socket.io/socket.io.js"></script>\n');
process.env.SITE_DIR = SITE;
process.env.CLIENT_SCRIPT = path.join(REPO, 'tests', 'node_modules', 'socket.io-client', 'dist', 'socket.io.js');
const { startInstance, MPM } = await import('../integration/harness.mjs');

import { ok, fail, check, assert, finish } from './tap.mjs';

const accessLines = (inst) => fs.readFileSync(inst.paths.ACCESS_LOG, 'utf8').split('\n');
async function waitLog(inst, test, what) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const lines = accessLines(inst).filter(test);
    if (lines.length) return lines;
    assert(Date.now() < deadline, `access log: no ${what}:\n${accessLines(inst).slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// In the page: opens a client (opts for io()) under name, resolves its
// engine's id and transport once connected.
function connect(page, name, opts) {
  return page.evaluate(([n, o]) => new Promise((resolve, reject) => {
    const s = window.io({ forceNew: true, reconnection: false, ...o });
    window.clients = window.clients || {};
    window.clients[n] = s;
    s.received = [];
    s.onAny((ev, ...args) => s.received.push([ev, ...args]));
    s.once('connect', () => resolve({ sid: s.io.engine.id, transport: s.io.engine.transport.name }));
    s.once('connect_error', (e) => reject(new Error(`connect_error: ${e.message}`)));
  }), [name, opts]);
}

const emitAck = (page, name, ev, arg) => page.evaluate(([n, e, a]) =>
  window.clients[n].timeout(5000).emitWithAck(e, a), [name, ev, arg]);

async function main() {
  if (MPM === 'prefork') {
    console.log('# WebSockets over HTTP/2: skipped under prefork (mod_http2 is inactive there)');
    return;
  }
  assert(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: run scripts/setup.sh --browser`);
  let inst = null;
  let capped = null;
  let browser = null;
  try {
    inst = await startInstance('e2e-h2', { tls: true, h2: true, app: 'testkit', wsDeflate: true });
    capped = await startInstance('e2e-h2-cap', {
      tls: true, h2: true, app: 'testkit', extraConf: 'SocketIOWebSocketThreads 1',
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--ignore-certificate-errors',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const open = async (p, i) => {
      const res = await p.goto(i.tlsUrl('/h2ws.html'));
      assert(res.status() === 200, `page: ${res.status()}`);
      assert(await p.evaluate(() => typeof window.io) === 'function', 'the module served socket.io.js');
    };

    await check('the page and the client bundle come over HTTP/2', async () => {
      await open(page, inst);
      await waitLog(inst, (l) => l.includes('"GET /socket.io/socket.io.js HTTP/2.0" 200'), 'socket.io.js over HTTP/2.0');
    });

    await check('WebSocket-only over HTTP/2: events with acks, a broadcast; the server logs HTTP/2.0', async () => {
      const a = await connect(page, 'a', { transports: ['websocket'] });
      const b = await connect(page, 'b', { transports: ['websocket'] });
      assert(a.transport === 'websocket' && b.transport === 'websocket', `${a.transport} ${b.transport}`);
      const echoed = await emitAck(page, 'a', 'echo', { n: 1, text: 'é€😀' });
      assert(JSON.stringify(echoed) === JSON.stringify({ n: 1, text: 'é€😀' }), `ack: ${JSON.stringify(echoed)}`);
      const big = 'compressible '.repeat(5000);
      assert(await emitAck(page, 'b', 'echo', big) === big, 'a big message (compressed) echoed');
      const sent = await emitAck(page, 'a', 'to', { event: 'news', args: ['over h2'] });
      assert(sent === true, `broadcast ack: ${JSON.stringify(sent)}`);
      await page.waitForFunction(() => ['a', 'b'].every((n) =>
        window.clients[n].received.some(([ev, arg]) => ev === 'news' && arg === 'over h2')), null, { timeout: WAIT_MS });
      await page.evaluate(() => { window.clients.a.disconnect(); window.clients.b.disconnect(); });
      for (const { sid } of [a, b]) {
        await waitLog(inst, (l) => l.includes('transport=websocket HTTP/2.0" 101 '), `WebSocket ${sid} as HTTP/2.0 101`);
      }
      const ws = accessLines(inst).filter((l) => l.includes('transport=websocket'));
      assert(ws.length === 2 && ws.every((l) => l.includes('HTTP/2.0" 101 ')), `WebSocket requests:\n${ws.join('\n')}`);
    });

    await check('the default client upgrades from polling over HTTP/2 to a WebSocket over HTTP/2', async () => {
      const c = await connect(page, 'c', {});
      await page.waitForFunction(() => window.clients.c.io.engine.transport.name === 'websocket', null,
        { timeout: WAIT_MS });
      const echoed = await emitAck(page, 'c', 'echo', 'after upgrade');
      assert(echoed === 'after upgrade', `ack: ${JSON.stringify(echoed)}`);
      await page.evaluate(() => window.clients.c.disconnect());
      await waitLog(inst, (l) => /transport=polling&.*sid=/.test(l) && l.includes(`sid=${c.sid} HTTP/2.0"`),
        'its polling over HTTP/2.0');
      await waitLog(inst, (l) => l.includes(`transport=websocket&sid=${c.sid} HTTP/2.0" 101 `),
        'its upgrade as HTTP/2.0 101');
    });

    await check('SocketIOWebSocketThreads 1: a second client stays on polling (its WebSocket refused 503)', async () => {
      const p2 = await context.newPage();
      p2.on('pageerror', (e) => errors.push(e.message));
      await open(p2, capped);
      const first = await connect(p2, 'first', { transports: ['websocket'] });
      assert(first.transport === 'websocket', first.transport);
      const second = await connect(p2, 'second', {});
      await waitLog(capped, (l) => l.includes(`transport=websocket&sid=${second.sid} HTTP/2.0" 503 `),
        'the refused upgrade (503 over HTTP/2.0)');
      await p2.waitForTimeout(500);
      const transport = await p2.evaluate(() => window.clients.second.io.engine.transport.name);
      assert(transport === 'polling', `second client on ${transport}`);
      const echoed = await emitAck(p2, 'second', 'echo', 'on polling');
      assert(echoed === 'on polling', `ack: ${JSON.stringify(echoed)}`);
      const still = await emitAck(p2, 'first', 'echo', 'on the WebSocket');
      assert(still === 'on the WebSocket', `ack: ${JSON.stringify(still)}`);
      await p2.evaluate(() => { window.clients.first.disconnect(); window.clients.second.disconnect(); });
      await p2.close();
    });

    await check('no script errors in the pages', async () => {
      assert(errors.length === 0, errors.join('\n'));
    });
  } catch (err) {
    fail('setup', err);
  } finally {
    if (browser) await browser.close().catch(() => {});
    await inst?.stop().catch((e) => fail('stop', e));
    await capped?.stop().catch((e) => fail('stop', e));
    fs.rmSync(SITE, { recursive: true, force: true });
  }
}

await main();
finish('# ');

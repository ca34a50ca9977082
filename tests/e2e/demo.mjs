// Browser check of the demo `make run` serves (run by `make e2e`): starts
// the same instance on a free port (scripts/serve.sh with the chat app and
// conf/demo), opens two tabs of Debian's chromium through playwright-core and
// checks chat, rooms, the typing indicator and the pages beside Socket.IO.
// Leaves a screenshot in $BUILD/e2e/demo.png. Exits nonzero on any failure.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BUILD = path.resolve(process.env.BUILD || path.join(REPO, 'build'));
const OUT = path.join(BUILD, 'e2e');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 10000;

// Debian's chromium on a machine without network: no sandbox (root), no
// GPU, and none of the background connections that would be refused.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

import { ok, fail, check, assert, finish } from './tap.mjs';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Starts scripts/serve.sh the way `make run` does; resolves once it says
// "ready". The child stays in our process group, so a Ctrl-C reaches it.
function startServer(port) {
  const env = {
    ...process.env,
    BUILD,
    PORT: String(port),
    RUNDIR: path.join(OUT, 'run'),
    APP: 'chat',
    CGI: '1',
    // HANDLERS=php: the chat answered by conf/php/chat.php (make run HANDLERS=php)
    HANDLERS: process.env.HANDLERS || '',
    // the demo, and the PHP chat's login page its script calls first
    SITE_DIR: [path.join(REPO, 'conf', 'demo'), path.join(REPO, 'conf', 'php', 'public')].join(':'),
    CLIENT_SCRIPT: path.join(REPO, 'tests', 'node_modules', 'socket.io-client', 'dist', 'socket.io.js'),
    LOGLEVEL: 'warn',
  };
  const child = spawn('bash', [path.join(REPO, 'scripts', 'serve.sh')], {
    env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = fs.createWriteStream(path.join(OUT, 'serve.log'), { flags: 'a' });
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve.sh not ready in 30 s:\n${text}`)), 30000);
    const onData = (d) => {
      log.write(d);
      text += d;
      if (/^serve: ready: /m.test(text)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      log.end();
      reject(new Error(`serve.sh exited (${code}) before ready:\n${text}`));
    });
  });
}

// Stops serve.sh (it stops httpd and siod) and waits for it to leave.
function stopServer(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    child.kill('SIGTERM');
  });
}

async function openTab(context, url, nick, errors) {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`${nick}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${nick}: console: ${m.text()}`); });
  await page.goto(url);
  await page.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
  await page.fill('#nick', nick);
  await page.click('#nick-form button');
  return page;
}

// Resolves with the .msg element whose text part is exactly text.
function messageLocator(page, text) {
  return page.locator('#messages .msg', { has: page.locator('.text', { hasText: text }) });
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  fs.rmSync(path.join(OUT, 'serve.log'), { force: true });
  assert(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: run scripts/setup.sh --browser`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/`;
  let server = null;
  let context = null;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-e2e-chromium-'));
  const stop = async () => {
    if (context) await context.close().catch(() => {});
    context = null;
    await stopServer(server);
    server = null;
    fs.rmSync(profile, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => { stop().finally(() => process.exit(130)); });
  }

  try {
    server = await startServer(port);
    console.log(`# demo on ${base} (log ${path.join(OUT, 'serve.log')})`);

    await check('static page and PHP page answer beside Socket.IO', async () => {
      const s = await fetch(base + 'static.html');
      assert(s.status === 200, `static.html: ${s.status}`);
      assert((await s.text()).includes('This static page is served by Apache httpd'), 'static.html text');
      const p = await fetch(base + 'info.php');
      assert(p.status === 200, `info.php: ${p.status}`);
      const body = await p.text();
      assert(body.includes('PHP is working') && /PHP version<\/dt><dd>\d+\.\d+/.test(body),
        `info.php text: ${body.slice(0, 200)}`);
      const c = await fetch(base + 'socket.io/socket.io.js');
      assert(c.status === 200 && (await c.text()).includes('Socket.IO v'), `socket.io.js: ${c.status}`);
    });

    // A persistent context gives chromium the fresh --user-data-dir; its
    // pages are tabs of one browser window, as a person would open them.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1100, height: 720 },
    });
    const errors = [];
    const a = await openTab(context, base, 'alice', errors);
    const b = await openTab(context, base, 'bob', errors);
    ok('two tabs connected (alice, bob)');

    await check('a message from tab A reaches tab B', async () => {
      await a.fill('#text', 'hello from alice');
      await a.press('#text', 'Enter');
      const m = messageLocator(b, 'hello from alice');
      await m.waitFor({ timeout: WAIT_MS });
      assert((await m.locator('.who').textContent()) === 'alice', 'sender shown as alice');
      await messageLocator(a, 'hello from alice').and(a.locator('.mine')).waitFor({ timeout: WAIT_MS });
    });

    await check('tab B replies, tab A sees it', async () => {
      await b.fill('#text', 'hi alice, bob here');
      await b.press('#text', 'Enter');
      const m = messageLocator(a, 'hi alice, bob here');
      await m.waitFor({ timeout: WAIT_MS });
      assert((await m.locator('.who').textContent()) === 'bob', 'sender shown as bob');
    });

    await check('both tabs upgrade to WebSocket', async () => {
      for (const p of [a, b]) {
        await p.waitForSelector('#status[data-transport="websocket"]', { timeout: WAIT_MS });
      }
    });

    await check('typing in tab A shows an indicator in tab B that fades', async () => {
      await a.locator('#text').pressSequentially('wri', { delay: 50 });
      await b.waitForSelector('#typing.on', { timeout: WAIT_MS });
      const t = await b.textContent('#typing');
      assert(t === 'alice is typing…', `indicator text: ${t}`);
      assert(!(await a.locator('#typing.on').count()), 'no indicator for oneself');
      await b.waitForSelector('#typing:not(.on)', { timeout: 5000 });
      await a.fill('#text', '');
    });

    await check('both tabs join room "lobby"; a room message reaches both, tagged', async () => {
      for (const p of [a, b]) {
        await p.fill('#room', 'lobby');
        await p.click('#room-form button');
        await p.locator('#rooms li', { hasText: '#lobby' }).waitFor({ timeout: WAIT_MS });
      }
      assert((await a.inputValue('#target')) === 'lobby', 'joining selects the room as target');
      await a.fill('#text', 'welcome to the lobby');
      await a.press('#text', 'Enter');
      for (const p of [a, b]) {
        const m = messageLocator(p, 'welcome to the lobby');
        await m.waitFor({ timeout: WAIT_MS });
        assert((await m.getAttribute('data-room')) === 'lobby', 'room recorded');
        assert((await m.locator('.tag').textContent()) === '#lobby', 'room tag shown');
      }
    });

    await check('after tab B leaves the room, its messages no longer reach B', async () => {
      await b.getByRole('button', { name: 'Leave room lobby' }).click();
      await b.locator('#rooms li').first().waitFor({ state: 'detached', timeout: WAIT_MS });
      await a.fill('#text', 'just for the lobby');
      await a.press('#text', 'Enter');
      await messageLocator(a, 'just for the lobby').waitFor({ timeout: WAIT_MS });
      // B joins again; if the earlier message had reached it, it would show by now.
      await b.fill('#room', 'lobby');
      await b.click('#room-form button');
      await b.locator('#rooms li', { hasText: '#lobby' }).waitFor({ timeout: WAIT_MS });
      assert((await messageLocator(b, 'just for the lobby').count()) === 0, 'B got a message of a room it had left');
      await a.selectOption('#target', '');
      await a.fill('#text', 'back to everyone');
      await a.press('#text', 'Enter');
      await messageLocator(b, 'back to everyone').waitFor({ timeout: WAIT_MS });
    });

    await check('after a server restart both tabs reconnect and rejoin their rooms', async () => {
      const errorsBefore = errors.length;
      await stopServer(server);
      server = null;
      for (const p of [a, b]) {
        await p.waitForSelector('#status[data-state="reconnecting"]', { timeout: WAIT_MS });
      }
      server = await startServer(port);
      for (const p of [a, b]) {
        await p.waitForSelector('#status[data-state="connected"]', { timeout: 20000 });
      }
      // Refused connections while the server was down are expected.
      const during = errors.splice(errorsBefore);
      const other = during.filter((e) => !e.includes('net::ERR_CONNECTION_REFUSED'));
      assert(other.length === 0, other.join('\n'));
      await a.selectOption('#target', 'lobby');
      // The rejoin is acknowledged asynchronously: retry until it has landed.
      for (let i = 0; ; i++) {
        const text = `lobby again ${i}`;
        await a.fill('#text', text);
        await a.press('#text', 'Enter');
        try {
          await messageLocator(b, text).waitFor({ timeout: 1000 });
          break;
        } catch (err) {
          if (i >= 5) throw err;
        }
      }
    });

    await check('screenshot of tab B while alice types', async () => {
      await b.bringToFront();
      await a.locator('#text').pressSequentially('one more', { delay: 30 });
      await b.waitForSelector('#typing.on', { timeout: WAIT_MS });
      await b.waitForTimeout(500); // the fade-in transition
      const file = path.join(OUT, 'demo.png');
      await b.screenshot({ path: file });
      await a.screenshot({ path: path.join(OUT, 'demo-a.png') });
      await a.emulateMedia({ colorScheme: 'dark' });
      await a.screenshot({ path: path.join(OUT, 'demo-dark.png') });
      await a.emulateMedia({ colorScheme: 'light' });
      console.log(`# screenshots: ${file}, demo-a.png and demo-dark.png beside it`);
    });

    await check('the links to the other pages work in the browser', async () => {
      await b.click('a[href="info.php"]');
      await b.waitForSelector('h1:text("PHP is working")', { timeout: WAIT_MS });
      await b.screenshot({ path: path.join(OUT, 'info.png') });
      await b.goBack();
      await b.click('a[href="static.html"]');
      await b.waitForSelector('h1:text("A static page")', { timeout: WAIT_MS });
    });

    await check('no script errors in either tab', async () => {
      assert(errors.length === 0, errors.join('\n'));
    });
  } catch (err) {
    fail('demo run', err);
  } finally {
    await stop();
  }
  finish('e2e: ');
}

main();

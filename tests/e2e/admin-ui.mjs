// Browser check of the Socket.IO Admin UI (`make e2e`, after the demo):
// scripts/serve.sh with ADMIN_UI=1 and the chat application; Debian's
// chromium, logged in with Basic auth, fills the UI's connection form as a
// person would (server URL, advanced options: path /admin-ui/socket.io),
// then the dashboard shows the namespaces, the Sockets page lists a client
// connected from here, and the UI's disconnect button disconnects it.
// Screenshot in $BUILD/e2e/admin-ui.png. Prints TAP-like lines; exits 1 on
// a failure.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BUILD = path.resolve(process.env.BUILD || path.join(REPO, 'build'));
const OUT = path.join(BUILD, 'e2e');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 10000;
const USER = 'admin';
const PASSWORD = 'e2e admin pass';
// the tests' socket.io-client, as a client of the watched server
const { io } = await import(path.join(REPO, 'tests', 'node_modules', 'socket.io-client',
  'build', 'esm', 'index.js'));

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

// scripts/serve.sh as `make serve ADMIN_UI=1 APP=chat` runs it; resolves
// once it says "ready".
function startServer(port) {
  const env = {
    ...process.env, BUILD, PORT: String(port), RUNDIR: path.join(OUT, 'admin-run'),
    APP: 'chat', ADMIN_UI: '1', ADMIN_USER: USER, ADMIN_PASSWORD: PASSWORD, LOGLEVEL: 'warn',
  };
  const child = spawn('bash', [path.join(REPO, 'scripts', 'serve.sh')], {
    env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = fs.createWriteStream(path.join(OUT, 'admin-serve.log'), { flags: 'a' });
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

function stopServer(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    child.kill('SIGTERM');
  });
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  fs.rmSync(path.join(OUT, 'admin-serve.log'), { force: true });
  assert(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: run scripts/setup.sh --browser`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let server = null;
  let browser = null;
  let peer = null;
  const stop = async () => {
    peer?.close();
    if (browser) await browser.close().catch(() => {});
    browser = null;
    await stopServer(server);
    server = null;
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => { stop().finally(() => process.exit(130)); });
  }

  try {
    server = await startServer(port);
    console.log(`# Admin UI on ${base}/admin-ui/ (log ${path.join(OUT, 'admin-serve.log')})`);

    await check("the UI's pages ask for credentials (401 without)", async () => {
      const r = await fetch(`${base}/admin-ui/`);
      assert(r.status === 401, `without credentials: ${r.status}`);
    });

    peer = io(`${base}/`, { transports: ['websocket'], reconnection: false });
    await new Promise((resolve, reject) => {
      peer.once('connect', resolve);
      peer.once('connect_error', reject);
    });
    const peerId = peer.id;

    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({
      httpCredentials: { username: USER, password: PASSWORD },
      viewport: { width: 1300, height: 800 },
    });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const elsewhere = [];
    page.on('request', (r) => { if (!r.url().startsWith(base)) elsewhere.push(r.url()); });

    await check('the connection form connects to /admin through /admin-ui/socket.io', async () => {
      await page.goto(`${base}/admin-ui/`);
      const form = page.locator('form');
      await form.waitFor({ timeout: WAIT_MS });
      const fields = form.locator('input[type="text"]');
      await fields.nth(0).fill(base);                 // server URL
      await form.locator('.v-input--switch').first().click(); // advanced options
      await page.waitForTimeout(300);
      // server URL, username, then the advanced ones: namespace, path
      assert(await fields.nth(2).inputValue() === '/admin', 'default namespace /admin');
      await fields.nth(3).fill('/admin-ui/socket.io');
      await form.locator('button[type="submit"]').click();
      await page.getByText(/^\s*connected\s*$/i).first().waitFor({ timeout: WAIT_MS });
    });

    await check('the dashboard lists the namespaces from server_stats', async () => {
      const table = page.locator('table', { hasText: '# of sockets' });
      await table.locator('code', { hasText: /^\/$/ }).waitFor({ timeout: WAIT_MS });
      await table.locator('code', { hasText: '/admin' }).waitFor({ timeout: WAIT_MS });
    });

    await check('the Sockets page lists a client of /', async () => {
      await page.goto(`${base}/admin-ui/#/sockets/`);
      await page.locator('tr', { hasText: peerId }).waitFor({ timeout: WAIT_MS });
      await page.screenshot({ path: path.join(OUT, 'admin-ui.png') });
    });

    await check('its disconnect button disconnects that client', async () => {
      const gone = new Promise((resolve) => peer.once('disconnect', resolve));
      await page.locator('tr', { hasText: peerId }).locator('button').click();
      const reason = await Promise.race([gone,
        new Promise((resolve) => setTimeout(() => resolve('no disconnect within 10 s'), WAIT_MS))]);
      assert(reason === 'io server disconnect', `client: ${reason}`);
      // (the click also opened the socket's page) the list drops it on
      // socket_disconnected
      await page.goto(`${base}/admin-ui/#/sockets/`);
      const deadline = Date.now() + WAIT_MS;
      while (await page.locator('tr', { hasText: peerId }).count() > 0) {
        assert(Date.now() < deadline, 'still listed');
        await page.waitForTimeout(100);
      }
    });

    await check('no script errors in the page, no request to another site (icons served here)', async () => {
      assert(errors.length === 0, errors.join('\n'));
      assert(elsewhere.length === 0, elsewhere.join('\n'));
    });
  } catch (err) {
    fail('setup', err);
  } finally {
    await stop();
  }
  finish('# ');
}

await main();

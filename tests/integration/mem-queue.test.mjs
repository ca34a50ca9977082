// SocketIOWebSocketQueue bounds memory, not payload: clients that never
// read are sent many small messages (echoes of 150 bytes); each used to
// pin a bucket and an 8 KB block per message while only its bytes were
// counted, 50x the bound. The httpd children must grow by no more than a
// small multiple of (clients x bound), and each client is dropped at its
// bound with the reason logged, under every MPM (the reactor's queue under
// mpm_event, the relay waiter's with a thread per WebSocket).
import { spawn } from 'node:child_process';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, waitFor, sleep } from './harness.mjs';
import { logLines } from './scale-lib.mjs';
import { httpdMem, memGrowth } from './mem-lib.mjs';

process.env.MALLOC_ARENA_MAX = '1';

const QUEUE = 200000;
const CLIENTS = 4;
const MSG = 150;
// the clients shrink their receive buffers (SO_RCVBUF) and httpd its send
// buffers (SendBufferSize), so what the kernel holds is small beside the
// bound: 20000 echoes (3 MB) per client are far past both
const COUNT = 20000;

// A client that never reads, with a small receive buffer (Node cannot
// set SO_RCVBUF): completes the handshake, sends COUNT Engine.IO messages
// and then waits, printing its local port first.
const PY = `
import socket, sys, os, time
port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
s.connect(("127.0.0.1", port))
s.sendall(("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\\r\\nHost: x\\r\\n"
  "Upgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n"
  "Sec-WebSocket-Version: 13\\r\\n\\r\\n").encode())
head = b""
while b"\\r\\n\\r\\n" not in head:
    c = s.recv(1)
    if not c:
        sys.exit("connection closed during the handshake: %r" % head)
    head += c
assert b" 101 " in head.split(b"\\r\\n")[0], head
print(s.getsockname()[1], flush=True)
payload = b"4" + b"y" * (size - 1)
frame = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + b"\\0\\0\\0\\0" + payload
s.sendall(frame * count)
print("sent", flush=True)
time.sleep(600)
`;

/** Starts one such client; resolves {child, port} once it is upgraded. */
function stubborn(port) {
  const child = spawn('python3', ['-c', PY, String(port), String(COUNT), String(MSG)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), out: () => out });
    });
    child.on('exit', (code) => reject(new Error(`client exited (${code}) before its handshake: ${out}`)));
  });
}

let inst;
before(async () => {
  inst = await startInstance('mem-queue', {
    maxPayload: 100000,
    logLevel: 'warn socketio:debug',
    // the drop is what the test waits for: no heartbeat may end it first
    pingInterval: 60000, pingTimeout: 60000,
    extraConf: [
      `SocketIOWebSocketQueue ${QUEUE}`,
      'SendBufferSize 16384',
      // prefork: the children that will serve the clients exist before the
      // baseline, so that what is measured is their queues, not new processes
      MPM === 'prefork' ? `StartServers ${CLIENTS + 4}\nMinSpareServers ${CLIENTS + 4}\nMaxSpareServers ${CLIENTS + 8}`
        : 'StartServers 1\nServerLimit 1\nMaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 50',
      MPM === 'event' ? '' : `SocketIOWebSocketThreads ${CLIENTS + 2}`,
    ].join('\n'),
  });
});
after(async () => { await inst?.stop(); });

test(`${MPM}: ${CLIENTS} clients that never read, sent ${COUNT} echoes of ${MSG} B each, cost a small multiple of SocketIOWebSocketQueue`,
  { timeout: 120000 }, async () => {
    const clients = [];
    try {
      await sleep(300);
      const base = httpdMem(inst);
      let peak = { rss: 0, data: 0 };
      const sample = setInterval(() => {
        const g = memGrowth(inst, base);
        if (g.rss > peak.rss) peak = { rss: g.rss, data: g.data };
      }, 100);
      for (let i = 0; i < CLIENTS; i++) clients.push(await stubborn(inst.port));
      const ports = clients.map((c) => c.port);
      // with a thread per WebSocket the write deadline may come first: also a bound
      const reason = /\[socketio:(warn|debug)\].*(SocketIOWebSocketQueue|queue overflow|SocketIOWebSocketWriteTimeout)/;
      const dropped = () => ports.filter((p) => logLines(inst, reason).some((l) => l.includes(`127.0.0.1:${p}]`)));
      await waitFor(() => dropped().length === CLIENTS, 40000, 'every client dropped at its bound').catch(() => {});
      clearInterval(sample);
      const bound = Math.round((CLIENTS * QUEUE) / 1024);
      console.log(`${MPM}: children grew by at most ${peak.rss} KiB resident (${peak.data} KiB data); ` +
        `${CLIENTS} x SocketIOWebSocketQueue = ${bound} KiB; dropped: ${dropped().length}`);
      assert.equal(dropped().length, CLIENTS, `every client is dropped at its bound, logged\n${inst.logs()}`);
      // what a non-reading client pins is its bound; allow twice that, and
      // 1 MiB per child for what any child touches serving its first
      // requests. With a thread per WebSocket (worker, prefork) siod's
      // frames wait in the relay waiter, small ones packed into shared
      // 16 KB chunks and counted at what they take there.
      const children = inst.httpdChildren().length;
      const allowed = 2 * bound + 1024 * children;
      assert.ok(peak.rss < allowed,
        `resident growth ${peak.rss} KiB stays under 2 x ${bound} KiB + 1 MiB x ${children} children = ${allowed} KiB`);
    } finally {
      for (const c of clients) c.child.kill('SIGKILL');
    }
  });

// Input memory follows the bytes that arrive, not the lengths clients
// declare: many WebSocket clients each announce a frame of nearly
// SocketIOMaxPayload and send a few bytes of it; the httpd children must
// not grow by the declared sizes (each such client once cost a buffer of
// the whole declared length), and every client is still served once its
// frame is complete.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MPM, startInstance, RawWs, sleep } from './harness.mjs';
import { httpdMem, memGrowth } from './mem-lib.mjs';

// glibc gives each thread that allocates an arena of its own (64 MiB of
// VmData reserved at once): keep that noise out of the measurement
process.env.MALLOC_ARENA_MAX = '1';

const MAX_PAYLOAD = 1000000;
const DECLARED = 900000;
const SENT = 200;
const N = MPM === 'event' ? 120 : MPM === 'worker' ? 18 : 10;

let inst;
before(async () => {
  inst = await startInstance('mem-input', {
    maxPayload: MAX_PAYLOAD,
    extraConf: [
      MPM === 'prefork' ? '' : 'StartServers 1\nServerLimit 1\nMaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 50',
      MPM === 'event' ? '' : `SocketIOWebSocketThreads ${N + 2}`,
    ].join('\n'),
  });
});
after(async () => { await inst?.stop(); });

/** The header of a masked text frame declaring len payload bytes. */
function header(len) {
  const h = Buffer.alloc(14);
  h[0] = 0x81;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(len), 2);
  Buffer.from([1, 2, 3, 4]).copy(h, 10);
  return h;
}

test(`${MPM}: ${N} clients declaring ${DECLARED}-byte frames and sending ${SENT} bytes cost the child little`,
  { timeout: 90000 }, async () => {
    const clients = [];
    try {
      for (let i = 0; i < N; i++) {
        const ws = await RawWs.connect(inst);
        assert.match(await ws.nextText(), /^0\{/, 'the Engine.IO open packet');
        clients.push(ws);
      }
      await sleep(500);
      const base = httpdMem(inst);
      const part = Buffer.alloc(SENT, 0x41);
      for (const ws of clients) ws.write(Buffer.concat([header(DECLARED), part]));
      await sleep(1500);
      const grown = memGrowth(inst, base);
      const declaredKiB = Math.round((N * DECLARED) / 1024);
      console.log(`${MPM}: ${N} partial frames: children grew by ${grown.data} KiB data, ` +
        `${grown.rss} KiB resident (declared ${declaredKiB} KiB)`);
      // a few KiB per client is the honest cost; the declared sizes are ~880 KiB each
      assert.ok(grown.data < declaredKiB / 4,
        `data grew by ${grown.data} KiB for ${N} partial frames: under a quarter of the ${declaredKiB} KiB they declare`);

      // each frame, once complete, is still taken (echoed by the Engine.IO echo)
      const rest = Buffer.alloc(DECLARED - SENT, 0x41);
      const ws = clients[0];
      // the payload is masked with key 1,2,3,4: send the masked bytes of "4AAA..."
      const key = [1, 2, 3, 4];
      const plain = Buffer.concat([part, rest]);
      plain[0] = 0x34; // "4": an Engine.IO message
      const masked = Buffer.from(plain.map((b, i) => b ^ key[i & 3]));
      clients[0] = null;
      ws.destroy();
      const fresh = await RawWs.connect(inst);
      assert.match(await fresh.nextText(), /^0\{/);
      fresh.write(header(DECLARED));
      for (let off = 0; off < masked.length; off += 65536) {
        fresh.write(masked.subarray(off, off + 65536));
        await sleep(5);
      }
      const echo = await fresh.nextText(15000);
      assert.equal(echo.length, DECLARED, 'the whole message came back');
      assert.equal(echo[0], '4');
      fresh.destroy();
    } finally {
      for (const c of clients) c?.destroy();
    }
  });

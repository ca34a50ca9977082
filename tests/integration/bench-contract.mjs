// The bench application contract (docs/benchmarks.md), asserted once for
// every server that serves it: siod's C application (sio-apps.test.mjs)
// and its PHP twin through HTTP callbacks (bench-tools.test.mjs).
// connect(transports) resolves with a connected socket.io-client socket
// on the namespace served (its Recorder as .rec).
import assert from 'node:assert/strict';
import { closeAll, ackOf } from './harness.mjs';

/** "bcast" n -> "tick" n to every client (the sender too); "echo" acks its arguments. */
export async function benchContract(connect) {
  const socks = await Promise.all([['polling'], ['websocket'], ['websocket']].map((t) => connect(t)));
  try {
    socks[1].emit('bcast', 42);
    for (const s of socks) assert.deepEqual(await s.rec.next('tick'), [42]);
    socks[0].emit('bcast');
    for (const s of socks) assert.deepEqual(await s.rec.next('tick'), [null]);
    const args = [1, 'two', { three: [3] }, Buffer.from([0, 1, 2]), null];
    for (const s of socks) assert.deepEqual(await ackOf(s, 'echo', args), args);
  } finally {
    closeAll(socks);
  }
}

// The chat contract (siod/apps/chat.c), asserted once for every server that
// serves it: the C application (sio-apps.test.mjs) and its PHP twin through
// HTTP callbacks (callbacks-chat.test.mjs). connect(transports) resolves
// with a connected socket.io-client socket on "/" (its Recorder as .rec).
import assert from 'node:assert/strict';
import { closeAll, ackOf, sleep } from './harness.mjs';

/** "chat message" reaches everyone (the sender too) as {id, text, ts}. */
export async function chatMessageContract(connect) {
  const socks = await Promise.all([['polling'], ['websocket'], undefined].map((t) => connect(t)));
  const [A] = socks;
  try {
    const t0 = Date.now();
    A.emit('chat message', 'hello, wörld 😀');
    for (const s of socks) {
      const [m] = await s.rec.next('chat message');
      assert.deepEqual(Object.keys(m).sort(), ['id', 'text', 'ts']);
      assert.equal(m.id, A.id);
      assert.equal(m.text, 'hello, wörld 😀');
      assert.ok(Number.isInteger(m.ts) && m.ts >= t0 - 2000 && m.ts <= Date.now() + 2000, `ts ${m.ts}`);
    }
    // a non-string message is ignored
    A.emit('chat message', { not: 'text' });
    A.emit('chat message', 'second');
    for (const s of socks) assert.equal((await s.rec.next('chat message'))[0].text, 'second');
  } finally {
    closeAll(socks);
  }
}

/** join/leave ack true, "room message" only to room members, "typing" to everyone else. */
export async function chatRoomsContract(connect) {
  const [A, B, C] = await Promise.all([['websocket'], ['polling'], ['websocket']].map((t) => connect(t)));
  try {
    assert.deepEqual(await ackOf(B, 'join', ['lobby']), [true]);
    assert.deepEqual(await ackOf(C, 'join', ['lobby']), [true]);
    assert.deepEqual(await ackOf(A, 'join', [{ not: 'a room' }]), [false]);

    // A is not a member and still may speak to the room
    A.emit('room message', { room: 'lobby', text: 'yo' });
    for (const s of [B, C]) {
      const [m] = await s.rec.next('room message');
      assert.deepEqual({ ...m, ts: 0 }, { id: A.id, room: 'lobby', text: 'yo', ts: 0 });
      assert.ok(Number.isInteger(m.ts));
    }
    B.emit('typing');
    assert.deepEqual((await A.rec.next('typing'))[0], { id: B.id });
    assert.deepEqual((await C.rec.next('typing'))[0], { id: B.id });

    assert.deepEqual(await ackOf(C, 'leave', ['lobby']), [true]);
    A.emit('room message', { room: 'lobby', text: 'after' });
    assert.equal((await B.rec.next('room message'))[0].text, 'after');
    // C left: a marker through "chat message" (to everyone) comes after
    A.emit('chat message', 'marker');
    await C.rec.next('chat message');
    await A.rec.next('chat message');
    await sleep(50);
    assert.equal(C.rec.all('room message').length, 1, 'C got a room message after leaving');
    assert.equal(A.rec.all('room message').length, 0, 'A got a room message without joining');
    assert.equal(B.rec.all('typing').length, 0, 'the typist got its own typing event');
  } finally {
    closeAll(A, B, C);
  }
}

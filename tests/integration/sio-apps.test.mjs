// The contracts of the applications siod ships, through httpd +
// mod_socketio + siod with the official socket.io-client: `chat` on "/"
// (as deployed by `make run`) and `bench` on "/bench" (-n /bench=bench).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, sioConnect, closeAll, ackOf, sleep } from './harness.mjs';

let inst;
before(async () => {
  inst = await startInstance('sio-apps', {
    app: 'chat', nsps: ['/bench=bench'], pingInterval: 5000, pingTimeout: 5000,
  });
});
// a moment for the clients' last requests (close packets) to finish first
after(async () => { await sleep(200); await inst?.stop(); });

test('chat: "chat message" reaches everyone (the sender too) as {id, text, ts}', { timeout: 20000 }, async () => {
  const socks = await Promise.all([['polling'], ['websocket'], undefined].map((t) => sioConnect(inst, '/', { transports: t })));
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
});

test('chat: join/leave ack true, "room message" only to room members, "typing" to everyone else', { timeout: 20000 }, async () => {
  const [A, B, C] = await Promise.all([['websocket'], ['polling'], ['websocket']].map((t) => sioConnect(inst, '/', { transports: t })));
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
});

test('bench on /bench: "bcast" n → "tick" n to every client; "echo" acks its arguments', { timeout: 20000 }, async () => {
  const socks = await Promise.all([['polling'], ['websocket'], ['websocket']].map((t) => sioConnect(inst, '/bench', { transports: t })));
  const chat = await sioConnect(inst, '/');
  try {
    socks[1].emit('bcast', 42);
    for (const s of socks) assert.deepEqual(await s.rec.next('tick'), [42]);
    socks[0].emit('bcast');
    for (const s of socks) assert.deepEqual(await s.rec.next('tick'), [null]);
    const args = [1, 'two', { three: [3] }, Buffer.from([0, 1, 2]), null];
    for (const s of socks) assert.deepEqual(await ackOf(s, 'echo', args), args);
    await sleep(50);
    assert.equal(chat.rec.all('tick').length, 0, '"/" got a /bench tick');
  } finally {
    closeAll(socks, chat);
  }
});

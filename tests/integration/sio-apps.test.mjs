// The contracts of the applications siod ships, through httpd +
// mod_socketio + siod with the official socket.io-client: `chat` on "/"
// (as deployed by `make run`) and `bench` on "/bench" (-n /bench=bench).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, sioConnect, closeAll, sleep } from './harness.mjs';
import { chatMessageContract, chatRoomsContract } from './chat-contract.mjs';
import { benchContract } from './bench-contract.mjs';

let inst;
before(async () => {
  inst = await startInstance('sio-apps', {
    app: 'chat', nsps: ['/bench=bench'], pingInterval: 5000, pingTimeout: 5000,
  });
});
// a moment for the clients' last requests (close packets) to finish first
after(async () => { await sleep(200); await inst?.stop(); });

const chatSocket = (t) => sioConnect(inst, '/', { transports: t });

test('chat: "chat message" reaches everyone (the sender too) as {id, text, ts}', { timeout: 20000 }, () => chatMessageContract(chatSocket));

test('chat: join/leave ack true, "room message" only to room members, "typing" to everyone else', { timeout: 20000 }, () => chatRoomsContract(chatSocket));

test('bench on /bench: "bcast" n → "tick" n to every client; "echo" acks its arguments', { timeout: 20000 }, async () => {
  const chat = await sioConnect(inst, '/');
  try {
    await benchContract((t) => sioConnect(inst, '/bench', { transports: t }));
    await sleep(50);
    assert.equal(chat.rec.all('tick').length, 0, '"/" got a /bench tick');
  } finally {
    closeAll(chat);
  }
});

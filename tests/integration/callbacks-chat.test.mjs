// The chat contract served by PHP (conf/php/chat.php) through siod's HTTP
// callbacks, as `make serve APP=chat HANDLERS=php` runs it: a real httpd
// with PHP in a private php-fpm pool, siod --callback for "/", and the
// official socket.io-client. The same assertions as the C application's
// (chat-contract.mjs); a browser is let in by its PHP session cookie.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, sioConnect, sioSocket, once, closeAll, request, sleep } from './harness.mjs';
import { chatMessageContract, chatRoomsContract } from './chat-contract.mjs';

let inst, cookie;
before(async () => {
  inst = await startInstance('callbacks-chat', {
    app: 'chat', fpm: true, handlers: ['conf/php'],
    callbacks: ['/,connect,chat.php', '/,event,chat.php', '/,disconnect,chat.php'],
  });
  // the login page of HANDLERS=php: a PHP session
  const r = await request('POST', inst.url('/session.php'));
  assert.equal(r.status, 200, r.body);
  cookie = String(r.headers['set-cookie']).split(';')[0];
  assert.match(cookie, /^PHPSESSID=/);
});
after(async () => { await sleep(200); await inst?.stop(); });

const chatSocket = (t) => sioConnect(inst, '/', { transports: t, extraHeaders: { cookie } });

test('PHP chat: "chat message" reaches everyone (the sender too) as {id, text, ts}', { timeout: 30000 }, () => chatMessageContract(chatSocket));

test('PHP chat: join/leave ack true, "room message" only to room members, "typing" to everyone else', { timeout: 30000 }, () => chatRoomsContract(chatSocket));

test('PHP chat: a client without the PHP session is refused with the handler\'s CONNECT_ERROR', { timeout: 20000 }, async () => {
  for (const headers of [{}, { cookie: 'PHPSESSID=nosuchsession0123456789' }]) {
    const s = sioSocket(inst, '/', { extraHeaders: headers });
    try {
      const [err] = await once(s, 'connect_error', 10000);
      assert.equal(err.message, 'not logged in');
      assert.deepEqual(err.data, { login: '/session.php' });
      assert.equal(s.connected, false);
    } finally {
      closeAll(s);
    }
  }
});

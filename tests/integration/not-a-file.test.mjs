// A URL under a <Location> with SocketIO On names no file: mod_socketio keeps
// it out of the filesystem walk (no <Directory> section or .htaccess applies,
// and no stat call is made), as mod_proxy does for what it proxies; access
// control for the endpoint goes in its <Location>, which still applies. A
// SocketIO On set in a <Directory> section keeps the usual walk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, request, pollHandshake } from './harness.mjs';

let inst;
before(async () => {
  inst = await startInstance('not-a-file', {
    extraConf: [
      // would refuse the default /socket.io/ if it were walked as a file
      '<DirectoryMatch "/(socket\\.io|denied-sio)">', '    Require all denied', '</DirectoryMatch>',
      '<Location /denied-sio/>', '    SocketIO On', '    Require all denied', '</Location>',
    ].join('\n'),
  });
});
after(async () => { await inst?.stop(); });

test('a <Directory> section does not apply to the Engine.IO endpoint; its <Location> does', async () => {
  const { sid } = await pollHandshake(inst);
  assert.equal(sid.length, 20);
  const eio = '?EIO=4&transport=polling';
  const denied = await request('GET', inst.url(`/denied-sio/${eio}`));
  assert.equal(denied.status, 403);
});

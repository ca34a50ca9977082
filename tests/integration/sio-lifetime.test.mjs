// Object lifetimes while a write closes the connection: a polling client
// fills its session's queue (each "40/nope," queues a CONNECT_ERROR) so
// that the very next packet siod writes for it overflows the queue and
// closes the session — from inside a namespace connect, a connect
// middleware's refusal or resume, an ack, an emit in on_connection or a
// disconnect an event handler asks for. siod must survive each (under
// SAN=1 the harness also fails the file on any AddressSanitizer report in
// siod's output) and keep answering handshakes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startInstance, pollHandshake, pollPost, pollGet, decodePayload, waitSessionGone, sleep,
  sioConnect, closeAll,
} from './harness.mjs';

// siod's polling queue holds at most this many packets (siod_poll.c)
const QUEUE_MAX_PACKETS = 4096;

let inst;
let survivor;
before(async () => {
  // testkit on "/", "/a", "/b" (a connect middleware); chat, which has
  // none, on "/chat"
  inst = await startInstance('sio-lifetime', {
    app: 'testkit', nsps: ['/chat=chat'], pingInterval: 20000, pingTimeout: 20000,
  });
  survivor = await sioConnect(inst, '/', { transports: ['websocket'] });
});
after(async () => {
  closeAll(survivor);
  await sleep(200);
  await inst?.stop();
});

/** n packets that each make siod queue one CONNECT_ERROR. */
const fillers = (n) => Array.from({ length: n }, () => '40/nope,');

/** A polling session connected to namespace nsp (CONNECT and welcome read). */
async function connectedPolling(nsp = '/') {
  const { sid } = await pollHandshake(inst);
  const prefix = nsp === '/' ? '' : `${nsp},`;
  assert.equal((await pollPost(inst, sid, [`40${prefix}`])).status, 200);
  const got = [];
  while (!got.some((p) => p.startsWith('42'))) {
    const res = await pollGet(inst, sid);
    assert.equal(res.status, 200);
    got.push(...decodePayload(res.body));
  }
  assert.match(got[0], /^40/);
  return sid;
}

/** siod is alive, answers a new handshake, and the other client still works. */
async function siodAlive(label) {
  assert.ok(inst.siodPid, `${label}: siod is gone\n${inst.logs()}`);
  const { sid } = await pollHandshake(inst);
  assert.match(sid, /^[A-Za-z0-9_-]{20}$/, `${label}: handshake after the overflow`);
  assert.equal(survivor.connected, true, `${label}: the other client was disconnected`);
  assert.equal(await survivor.timeout(5000).emitWithAck('echo', label), label);
  inst.checkSanitizers();
}

/** The session is gone (its queue overflowed); the POST itself was answered. */
async function overflowed(sid, post, label) {
  assert.ok([200, 400].includes(post.status), `${label}: POST → ${post.status} ${post.body}`);
  const { res } = await waitSessionGone(inst, sid, 5000);
  assert.equal(res.status, 400, `${label}: session still answers`);
}

test('the CONNECT that overflows the polling queue (namespace without middleware)', { timeout: 20000 }, async () => {
  const { sid } = await pollHandshake(inst);
  const post = await pollPost(inst, sid, [...fillers(QUEUE_MAX_PACKETS), '40/chat,']);
  await overflowed(sid, post, 'connect /chat');
  await siodAlive('connect /chat');
});

test('the CONNECT that overflows the polling queue (middleware accepts)', { timeout: 20000 }, async () => {
  const { sid } = await pollHandshake(inst);
  const post = await pollPost(inst, sid, [...fillers(QUEUE_MAX_PACKETS), '40']);
  await overflowed(sid, post, 'connect /');
  await siodAlive('connect /');
});

test('the CONNECT_ERROR of a refusing connect middleware overflows the queue', { timeout: 20000 }, async () => {
  const { sid } = await pollHandshake(inst);
  const post = await pollPost(inst, sid, [...fillers(QUEUE_MAX_PACKETS), '40{"token":"bad"}']);
  await overflowed(sid, post, 'refused');
  await siodAlive('refused');
});

test('the welcome emitted from on_connection overflows the queue', { timeout: 20000 }, async () => {
  const { sid } = await pollHandshake(inst);
  const post = await pollPost(inst, sid, [...fillers(QUEUE_MAX_PACKETS - 1), '40']);
  await overflowed(sid, post, 'welcome');
  await siodAlive('welcome');
});

for (const reject of [false, true]) {
  test(`a pending connect middleware resumes (${reject ? 'refusal' : 'accept'}) into a full queue`, { timeout: 20000 }, async () => {
    const { sid } = await pollHandshake(inst);
    const auth = JSON.stringify({ delay: 300, reject });
    const post = await pollPost(inst, sid, [`40${auth}`, ...fillers(QUEUE_MAX_PACKETS)]);
    assert.equal(post.status, 200);
    await sleep(500);
    await overflowed(sid, post, 'resume');
    await siodAlive(`resume ${reject}`);
  });
}

for (const [label, fill] of [['the ack', QUEUE_MAX_PACKETS], ['the DISCONNECT', QUEUE_MAX_PACKETS - 1]]) {
  test(`kick-me {close}: ${label} overflows the queue inside the event handler`, { timeout: 20000 }, async () => {
    const sid = await connectedPolling('/');
    const post = await pollPost(inst, sid, [...fillers(fill), '421["kick-me",{"close":true}]']);
    await overflowed(sid, post, label);
    await siodAlive(`kick-me ${label}`);
  });
}

test('an event handler broadcasts to a room while a member session overflows', { timeout: 20000 }, async () => {
  const a = await connectedPolling('/');
  const b = await connectedPolling('/');
  for (const sid of [a, b]) {
    assert.equal((await pollPost(inst, sid, ['421["join","r1"]'])).status, 200);
    const res = await pollGet(inst, sid);
    assert.deepEqual(decodePayload(res.body), ['431[true]']);
  }
  // b's queue is full: the broadcast closes b while the adapter sends
  assert.equal((await pollPost(inst, b, fillers(QUEUE_MAX_PACKETS))).status, 200);
  const post = await pollPost(inst, a, ['422["to",{"rooms":"r1","event":"x","args":[1]}]']);
  assert.equal(post.status, 200);
  await waitSessionGone(inst, b, 5000);
  const got = decodePayload((await pollGet(inst, a)).body);
  assert.ok(got.includes('42["x",1]') && got.includes('432[true]'), `a got ${JSON.stringify(got)}`);
  await siodAlive('room broadcast');
});

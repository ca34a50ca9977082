// Payload schemas (siod --schemas=DIR) with the official socket.io-client
// against real httpd + siod: an event whose arguments pass its schema is
// delivered; one that fails is delivered to no handler and its ack gets an
// error object naming the failing path; binary arguments validate as the
// type "binary" (maxLength in bytes); an event name that is not a safe
// file name is found through its %XX escape; events without a schema are
// not checked; a bad schema makes siod refuse to start, naming the file
// and the JSON pointer of the problem.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  BUILD, MPM, startInstance, sioConnect, closeAll, ackOf, sleep,
} from './harness.mjs';

const dir = path.join(BUILD, 'itest', `guard-schemas-files-${MPM}`);

const ECHO = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'array',
  prefixItems: [
    {
      type: 'object',
      properties: { text: { type: 'string', maxLength: 10, pattern: '^[a-z ]+$' } },
      required: ['text'],
      additionalProperties: false,
    },
    { type: 'binary', maxLength: 4 },
  ],
  items: false,
  minItems: 1,
};
const CHAT = { type: 'array', prefixItems: [{ type: 'string', enum: ['hi', 'bye'] }], minItems: 1, maxItems: 1 };

let inst;
before(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'echo.json'), JSON.stringify(ECHO));
  fs.writeFileSync(path.join(dir, 'chat%20message.json'), JSON.stringify(CHAT));
  inst = await startInstance('guard-schemas', {
    app: 'testkit', pingInterval: 10000, pingTimeout: 10000,
    siodExtraArgs: [`--schemas=${dir}`],
  });
});
after(async () => {
  await sleep(200);
  await inst?.stop();
});

/** testkit's count of events its catch-all handler saw on this socket. */
async function seen(s) {
  return (await ackOf(s, 'count'))[0].any;
}

test('an event whose arguments pass its schema is delivered', { timeout: 20000 }, async () => {
  const s = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    assert.deepEqual(await ackOf(s, 'echo', [{ text: 'hello' }]), [{ text: 'hello' }]);
    const [obj, bin] = await ackOf(s, 'echo', [{ text: 'a b' }, Buffer.from([1, 2, 3, 4])]);
    assert.deepEqual(obj, { text: 'a b' });
    assert.deepEqual([...Buffer.from(bin)], [1, 2, 3, 4]);
    assert.match(inst.siodLog(), /schemas: 2 events from /);
  } finally {
    closeAll(s);
  }
});

test('an event that fails its schema gets an error object naming the path in its ack', { timeout: 20000 }, async () => {
  const s = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    const cases = [
      [[{ text: 'far too long text' }], '/0/text', /maxLength/],
      [[{ text: 'UPPER' }], '/0/text', /does not match pattern/],
      [[{ text: 'ok', extra: 1 }], '/0/extra', /additionalProperties/],
      [[{}], '/0', /"text" is missing/],
      [[], '', /fewer than 1 items/],
      [['text'], '/0', /expected object, got string/],
      [[{ text: 'ok' }, Buffer.alloc(5)], '/1', /binary longer than 4 bytes/],
      [[{ text: 'ok' }, 'not binary'], '/1', /expected binary, got string/],
      [[{ text: 'ok' }, Buffer.alloc(1), 3], '/2', /items/],
    ];
    for (const [args, where, why] of cases) {
      const res = await ackOf(s, 'echo', args);
      assert.equal(res.length, 1, JSON.stringify(res));
      assert.equal(res[0].error, 'invalid payload', JSON.stringify(res));
      assert.equal(res[0].path, where, JSON.stringify(res));
      assert.match(res[0].message, why);
    }
    assert.ok(s.connected);
    assert.match(inst.siodLog(), /event "echo" refused by its schema: \/0\/text: string longer than 10 characters \(maxLength\)/);
  } finally {
    closeAll(s);
  }
});

test('over long-polling too: a refused event gets the error object, a valid one is answered', { timeout: 20000 }, async () => {
  const s = await sioConnect(inst, '/', { transports: ['polling'] });
  try {
    assert.deepEqual(await ackOf(s, 'echo', [{ text: 'fine' }]), [{ text: 'fine' }]);
    const [res] = await ackOf(s, 'echo', [{ text: 42 }]);
    assert.deepEqual(res, { error: 'invalid payload', path: '/0/text', message: 'expected string, got integer (type)' });
  } finally {
    closeAll(s);
  }
});

test('a refused event reaches no handler; a valid one does; an escaped event name is found', { timeout: 20000 }, async () => {
  const s = await sioConnect(inst, '/', { transports: ['websocket'] });
  try {
    const before = await seen(s);
    s.emit('chat message', 'hello');          // not in the enum
    s.emit('chat message', 'hi', 'two');      // more than maxItems
    s.emit('echo', { text: 'NO' });           // fails echo's pattern
    s.emit('chat message', 'hi');             // valid
    s.emit('no schema', { anything: [1] });   // no schema: not checked
    // "count" itself is one more event the handler sees
    assert.equal(await seen(s), before + 3);
    // "echo" without an ack and invalid sends nothing back
    await sleep(200);
    assert.deepEqual(s.rec.all('echo'), []);
  } finally {
    closeAll(s);
  }
});

/** Runs siod with --schemas=d; resolves {status, out}. */
function siodWith(d) {
  const sock = path.join(d, '..', `siod-${path.basename(d)}.sock`);
  const r = spawnSync(path.join(BUILD, 'siod'), ['-s', sock, `--schemas=${d}`], { encoding: 'utf8', timeout: 10000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('a bad schema makes siod refuse to start, naming the file and the JSON pointer', { timeout: 20000 }, async () => {
  const bad = path.join(BUILD, 'itest', `guard-schemas-bad-${MPM}`);
  fs.rmSync(bad, { recursive: true, force: true });
  fs.mkdirSync(bad, { recursive: true });
  try {
    fs.writeFileSync(path.join(bad, 'ok.json'), JSON.stringify(CHAT));
    fs.writeFileSync(path.join(bad, 'move.json'),
      JSON.stringify({ type: 'array', prefixItems: [{ type: 'object', properties: { x: { type: 'float' } } }] }));
    let r = siodWith(bad);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, new RegExp(`error: --schemas: ${bad}/move\\.json: /prefixItems/0/properties/x/type: expected a type name`));
    assert.match(r.out, /siod exiting \(1\)/);
    assert.doesNotMatch(r.out, /listening on/);

    fs.writeFileSync(path.join(bad, 'move.json'), '{"type": "array",');
    r = siodWith(bad);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /move\.json: \(root\): not JSON/);

    fs.writeFileSync(path.join(bad, 'move.json'), JSON.stringify({ items: { pattern: '([a-z]' } }));
    r = siodWith(bad);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /move\.json: \/items\/pattern: not a POSIX extended regular expression/);

    fs.writeFileSync(path.join(bad, 'move.json'), JSON.stringify({ items: { $ref: '#/x' } }));
    r = siodWith(bad);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /move\.json: \/items\/\$ref: unknown keyword/);

    fs.rmSync(path.join(bad, 'move.json'));
    fs.writeFileSync(path.join(bad, 'bad%2.json'), 'true');
    r = siodWith(bad);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /bad%2\.json: not an event name/);

    r = siodWith(path.join(bad, 'absent'));
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /--schemas: .*absent: No such file or directory/);
  } finally {
    fs.rmSync(bad, { recursive: true, force: true });
  }
});

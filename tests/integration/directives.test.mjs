// Directive parsing: httpd's configtest (httpd -t) on the generated
// configuration plus a few lines per case. Every directive given a value
// below or above its range, no number, no argument, or the wrong context
// must fail with exactly its message of today, on the right line; one
// configuration with every directive at both ends of its range must pass.
// Nothing is started: no siod, no listening httpd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, BUILD, MPM } from './harness.mjs';

const HTTPD = process.env.HTTPD || '/usr/sbin/apache2';
const rundir = path.join(BUILD, 'itest', `directives-${MPM}`);
const caseFile = path.join(rundir, 'case.conf');
let conf;
const env = { ...process.env };

const MAX_BODY = 64 * 1024 * 1024;            // SIO_RELAY_MAX_BODY
const LONG = 'x'.repeat(5000);                // over PATH_MAX: no path

before(() => {
  fs.rmSync(rundir, { recursive: true, force: true });
  fs.mkdirSync(rundir, { recursive: true });
  // The port is never bound: configtest only reads the files.
  const out = execFileSync(path.join(REPO, 'scripts', 'httpd-conf.sh'), [], {
    env: { ...process.env, RUNDIR: rundir, PORT: '9', MPM, BUILD },
    encoding: 'utf8',
  });
  conf = /^CONF='(.*)'$/m.exec(out)[1];
  if (process.env.SAN === '1') {
    env.LD_PRELOAD = execFileSync(process.env.CC || 'gcc', ['-print-file-name=libasan.so'],
      { encoding: 'utf8' }).trim();
    env.ASAN_OPTIONS = 'detect_leaks=0';
  }
});

after(() => {
  const www = path.join(rundir, '.wwwdir');
  if (fs.existsSync(www)) {
    fs.rmSync(fs.readFileSync(www, 'utf8').trim(), { recursive: true, force: true });
  }
});

/** Runs httpd -t on the configuration plus lines; resolves {code, stderr}. */
function configtest(lines) {
  fs.writeFileSync(caseFile, [`Include "${conf}"`, ...lines, ''].join('\n'));
  return new Promise((resolve) => {
    execFile(HTTPD, ['-t', '-f', caseFile], { env, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stderr: stdout + stderr });
    });
  });
}

const loc = (line) => ['<Location /t/>', line, '</Location>'];
const vhost = (line) => ['<VirtualHost 127.0.0.1:9>', line, '</VirtualHost>'];
const top = (line) => [line];
/** How a case's name says where its line stands. */
const where = (wrap) => (wrap === loc ? ' in <Location>' : wrap === vhost ? ' in <VirtualHost>' : '');

/**
 * The cases: [what, lines, message]. The message is httpd's whole error;
 * it must be reported for the first line that opens no section.
 */
const bad = [];
function number(name, wrap, values, expected) {
  for (const v of values) {
    bad.push([`${name} ${v}${where(wrap)}`, wrap(`${name} ${v}`), `${name}: expected ${expected}, got '${v}'`]);
  }
}
function takesOne(name, help, wrap = top) {
  bad.push([`${name} without a value${where(wrap)}`, wrap(name), `${name} takes one argument, ${help}`]);
}
function notIn(name, value, wrap) {
  if (wrap === loc) {
    bad.push([`${name} ${value} in <Location>`, loc(`${name} ${value}`), `${name} not allowed in <Location> context`]);
  } else {
    bad.push([`${name} ${value} in <VirtualHost>`, vhost(`${name} ${value}`),
      `${name} cannot occur within <VirtualHost> section`]);
  }
}

// SocketIO On|Off: per directory only.
bad.push(['SocketIO maybe', loc('SocketIO maybe'), 'SocketIO must be On or Off']);
bad.push(['SocketIO at server level', ['SocketIO On'], 'SocketIO not allowed here']);
for (const name of ['SocketIOAllowUpgrades', 'SocketIOCorsCredentials', 'SocketIOServeClient',
  'SocketIOWebSocketCompression']) {
  bad.push([`${name} maybe`, loc(`${name} maybe`), `${name} must be On or Off`]);
  bad.push([`${name} yes (server)`, [`${name} yes`], `${name} must be On or Off`]);
}

// Paths.
bad.push(['SocketIODaemonSocket too long (absolute)', [`SocketIODaemonSocket /tmp/${'s'.repeat(200)}`],
  `SocketIODaemonSocket: path longer than 107 bytes: /tmp/${'s'.repeat(200)}`]);
bad.push(['SocketIODaemonSocket too long (under the runtime directory)', [`SocketIODaemonSocket ${'s'.repeat(120)}`],
  `SocketIODaemonSocket: path longer than 107 bytes: ${rundir}/run/${'s'.repeat(120)}`]);
for (const name of ['SocketIODaemonSocket', 'SocketIODaemonSecret', 'SocketIOClientScript']) {
  bad.push([`${name} beyond PATH_MAX`, [`${name} ${LONG}`], `${name}: invalid path ${LONG}`]);
  bad.push([`${name} beyond PATH_MAX (absolute)`, [`${name} /${LONG}`], `${name}: invalid path /${LONG}`]);
  notIn(name, 'x', loc);
}
takesOne('SocketIODaemonSocket', 'Unix socket of the Socket.IO daemon (siod)');
takesOne('SocketIODaemonSecret', 'File holding the secret httpd proves to siod '
  + '(default: the daemon socket\'s path + .secret)');
takesOne('SocketIOClientScript', 'The socket.io.js file to serve; its siblings '
  + '(socket.io.min.js, .map) are served from its directory');
bad.push(['SocketIODaemonSocket ""', ['SocketIODaemonSocket ""'],
  'SocketIODaemonSocket takes one argument, Unix socket of the Socket.IO daemon (siod)']);

// Lists.
bad.push(['SocketIOTransports carrier-pigeon', loc('SocketIOTransports polling carrier-pigeon'),
  "SocketIOTransports: unknown transport 'carrier-pigeon' (polling, websocket)"]);
bad.push(['SocketIOTransports without a value', ['SocketIOTransports'],
  'SocketIOTransports: name at least one transport']);
bad.push(['SocketIOCorsOrigin without a value', loc('SocketIOCorsOrigin'),
  "SocketIOCorsOrigin: name '*' or at least one origin"]);
bad.push(['SocketIOCorsOrigin * and a list', ['SocketIOCorsOrigin * https://a.example'],
  "SocketIOCorsOrigin: '*' allows every origin; list no others"]);
bad.push(['SocketIOCorsOrigin with a space', loc('SocketIOCorsOrigin "https://a .example"'),
  "SocketIOCorsOrigin: invalid origin 'https://a .example'"]);
bad.push(['SocketIOCorsOrigin with a comma', ['SocketIOCorsOrigin https://a.example,https://b.example'],
  "SocketIOCorsOrigin: invalid origin 'https://a.example,https://b.example'"]);
bad.push(['SocketIOCorsOrigin without a scheme', ['SocketIOCorsOrigin a.example'],
  "SocketIOCorsOrigin: 'a.example' is not an origin (scheme://host[:port])"]);
bad.push(['SocketIOCorsOrigin with a trailing slash', ['SocketIOCorsOrigin https://a.example/'],
  "SocketIOCorsOrigin: 'https://a.example/' must not end with '/'"]);

// Numbers per directory (server level or <Location>).
number('SocketIOMaxPayload', top, ['0', String(MAX_BODY + 1), 'abc', '1k', '-1', '0x10'],
  `a number of bytes from 1 to ${MAX_BODY}`);
number('SocketIOMaxPayload', loc, ['0', '99999999999999999999'], `a number of bytes from 1 to ${MAX_BODY}`);
takesOne('SocketIOMaxPayload', 'Largest POST body / WebSocket message in bytes', loc);
number('SocketIOWebSocketQueue', top, ['1023', String(4 * MAX_BODY + 1), 'abc', '-1'],
  `a number of bytes from 1024 to ${4 * MAX_BODY}`);
number('SocketIOWebSocketQueue', loc, ['0'], `a number of bytes from 1024 to ${4 * MAX_BODY}`);
takesOne('SocketIOWebSocketQueue', 'Bytes a WebSocket may have waiting to be sent before its client is dropped');

// Numbers per server.
for (const name of ['SocketIOReplyTimeout', 'SocketIOWebSocketWriteTimeout']) {
  number(name, top, ['0', '3601', 'abc', '5s', '-1', '1.5'], 'seconds from 1 to 3600');
  number(name, vhost, ['0'], 'seconds from 1 to 3600');
  notIn(name, '5', loc);
}
takesOne('SocketIOReplyTimeout', "Seconds a request waits for siod's answer");
takesOne('SocketIOWebSocketWriteTimeout', 'Seconds a WebSocket client holding a worker thread '
  + '(prefork, worker) gets to take one batch of messages');
number('SocketIOPollReleaseTimeout', top, ['9ms', '0', '61', '60001ms', '2min', 'abc', '5x', '-1'],
  'a time from 10ms to 60 (seconds)');
number('SocketIOPollReleaseTimeout', vhost, ['9ms'], 'a time from 10ms to 60 (seconds)');
notIn('SocketIOPollReleaseTimeout', '1', loc);
takesOne('SocketIOPollReleaseTimeout', 'How long a held long-poll GET that a stopping child ends '
  + "waits for siod's answer (seconds, or e.g. 500ms)");
number('SocketIOWebSocketThreads', top, ['-1', '1000001', 'abc'], 'a number of threads from 0 to 1000000');
notIn('SocketIOWebSocketThreads', '5', vhost);
// The context is checked before the value.
notIn('SocketIOWebSocketThreads', 'abc', vhost);
notIn('SocketIOWebSocketThreads', '5', loc);
takesOne('SocketIOWebSocketThreads', 'Most worker threads WebSockets may hold where '
  + 'connections cannot be suspended (0: none)');
number('SocketIOPollThreads', top, ['-1', '1000001', 'abc', '1.5'], 'a number of threads from 0 to 1000000');
notIn('SocketIOPollThreads', '5', vhost);
notIn('SocketIOPollThreads', '5', loc);
takesOne('SocketIOPollThreads', 'Most worker threads of a child (prefork: of the server) '
  + 'long-polling GETs may hold while they wait (0: none)');
number('SocketIORelayQueue', top, ['262143', '1073741825', 'abc', '1M'], 'a number of bytes from 262144 to 1073741824');
notIn('SocketIORelayQueue', '1048576', vhost);
notIn('SocketIORelayQueue', '0', vhost);
notIn('SocketIORelayQueue', '1048576', loc);
takesOne('SocketIORelayQueue', 'Bytes of WebSocket messages a child may hold '
  + 'for siod before it stops reading the senders (mpm_event)');
number('SocketIOHandoverTimeout', top, ['-1', '3601', 'abc', '1.5', '10s'], 'seconds from 0 to 3600');
notIn('SocketIOHandoverTimeout', '10', vhost);
notIn('SocketIOHandoverTimeout', '10', loc);
takesOne('SocketIOHandoverTimeout', 'Seconds a WebSocket is held open across a restart of siod '
  + 'for the next siod to take it back (0: off)');
number('SocketIODescriptorReserve', top, ['-1', '1048577', 'abc', '1.5', '1k'],
  'a number of descriptors from 0 to 1048576');
notIn('SocketIODescriptorReserve', '128', vhost);
notIn('SocketIODescriptorReserve', '128', loc);
takesOne('SocketIODescriptorReserve', 'Descriptors a child keeps free under its ulimit -n: '
  + 'past that line it refuses WebSockets (503) and keeps no connection alive, instead of '
  + 'failing (default: the largest of 128, 4 x ThreadsPerChild and 1/32 of the limit; 0: off)');

// The managed daemon and compression.
bad.push(['SocketIODaemon sometimes', ['SocketIODaemon sometimes'],
  "SocketIODaemon: expected managed or external, got 'sometimes'"]);
notIn('SocketIODaemon', 'managed', loc);
for (const opt of ['-s', '-k']) {
  bad.push([`SocketIODaemonArgs with ${opt}`, [`SocketIODaemonArgs -a chat ${opt} /x`],
    `SocketIODaemonArgs: ${opt} is set by the module (SocketIODaemonSocket, SocketIODaemonSecret)`]);
}
notIn('SocketIODaemonArgs', '-a chat', loc);
notIn('SocketIODaemonPath', '/usr/sbin/siod', loc);
number('SocketIOWebSocketCompressionThreshold', loc, ['-1', String(MAX_BODY + 1), 'abc'],
  `a number of bytes from 0 to ${MAX_BODY}`);

// Cluster: node tags and peers.
for (const v of ['n', 'n12', 'n+', 'n/']) {
  bad.push([`SocketIONode ${v}`, [`SocketIONode ${v}`], `SocketIONode: expected 2 characters of A-Z a-z 0-9 - _, got '${v}'`]);
  bad.push([`SocketIOPeer ${v}`, [`SocketIOPeer ${v} http://10.0.0.2`],
    `SocketIOPeer: expected a tag of 2 characters of A-Z a-z 0-9 - _, got '${v}'`]);
}
for (const url of ['10.0.0.2:8080', 'ftp://10.0.0.2', 'http://10.0.0.2/socket.io', 'http://10.0.0.2/?a=1',
  'http://u@10.0.0.2', 'http://']) {
  bad.push([`SocketIOPeer n2 ${url}`, [`SocketIOPeer n2 ${url}`],
    `SocketIOPeer: '${url}' is not http:// or https:// host[:port] without a path`]);
}
bad.push(['SocketIOPeer one tag, two URLs', ['SocketIOPeer n2 http://10.0.0.2', 'SocketIOPeer n2 http://10.0.0.3'],
  "SocketIOPeer: tag 'n2' is already http://10.0.0.2"]);
notIn('SocketIONode', 'n1', loc);
notIn('SocketIOPeer', 'n1 http://10.0.0.1', loc);

for (const [what, lines, message] of bad) {
  test(`refused: ${what}`, async () => {
    const { code, stderr } = await configtest(lines);
    // the first line that opens no section, or the last of several
    const line = lines.length > 1 && !lines[0].startsWith('<') ? 1 + lines.length
      : 2 + lines.findIndex((l) => !l.startsWith('<'));
    assert.notEqual(code, 0, `httpd -t accepted it:\n${stderr}`);
    assert.equal(stderr, `AH00526: Syntax error on line ${line} of ${caseFile}:\n${message}\n`);
  });
}

test('accepted: every directive at both ends of its range', async () => {
  const { code, stderr } = await configtest([
    // SocketIOPeer forwards through mod_proxy (checked by the configtest)
    'LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so',
    'LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so',
    'SocketIODaemonSocket siod-test.sock',
    `SocketIODaemonSocket /tmp/${'s'.repeat(102)}`,
    'SocketIODaemonSecret siod-test.secret',
    'SocketIODaemonSecret /tmp/siod-test.secret',
    'SocketIOClientScript client/socket.io.js',
    'SocketIOClientScript /tmp/socket.io.js',
    'SocketIOReplyTimeout 1', 'SocketIOReplyTimeout 3600', 'SocketIOReplyTimeout "+5"',
    'SocketIOReplyTimeout " 7"',
    'SocketIOWebSocketWriteTimeout 1', 'SocketIOWebSocketWriteTimeout 3600',
    'SocketIOPollReleaseTimeout 10ms', 'SocketIOPollReleaseTimeout 60',
    'SocketIOPollReleaseTimeout 60s', 'SocketIOPollReleaseTimeout 1min',
    'SocketIOPollReleaseTimeout 500ms', 'SocketIOPollReleaseTimeout 60000ms',
    'SocketIOWebSocketThreads 0', 'SocketIOWebSocketThreads 1000000',
    'SocketIOPollThreads 0', 'SocketIOPollThreads 1000000',
    'SocketIORelayQueue 262144', 'SocketIORelayQueue 1073741824',
    'SocketIOHandoverTimeout 0', 'SocketIOHandoverTimeout 3600',
    'SocketIODescriptorReserve 0', 'SocketIODescriptorReserve 1048576',
    'SocketIOMaxPayload 1', `SocketIOMaxPayload ${MAX_BODY}`, 'SocketIOMaxPayload +9',
    'SocketIOWebSocketQueue 1024', `SocketIOWebSocketQueue ${4 * MAX_BODY}`,
    'SocketIOTransports polling', 'SocketIOAllowUpgrades off',
    'SocketIONode n1', 'SocketIONode A_', 'SocketIOPeer n1 http://10.0.0.1:8080',
    'SocketIOPeer n1 http://10.0.0.1:8080/', 'SocketIOPeer z- https://[::1]:8443',
    'SocketIOCorsOrigin *', 'SocketIOCorsCredentials On', 'SocketIOServeClient Off',
    'SocketIODaemon external', 'SocketIODaemonArgs -a chat -i "25000" --max-sessions=10',
    'SocketIODaemonPath /usr/sbin/siod',
    'SocketIOWebSocketCompression On', 'SocketIOWebSocketCompressionThreshold 0',
    `SocketIOWebSocketCompressionThreshold ${MAX_BODY}`,
    '<VirtualHost 127.0.0.1:9>',
    'SocketIODaemonSocket vhost.sock', 'SocketIODaemonSecret vhost.secret',
    'SocketIOClientScript vhost.js', 'SocketIOReplyTimeout 30',
    'SocketIOWebSocketWriteTimeout 30', 'SocketIOPollReleaseTimeout 2',
    'SocketIOMaxPayload 5000',
    '<Location /v/>', 'SocketIO On', 'SocketIOMaxPayload 1000', '</Location>',
    '</VirtualHost>',
    '<Location /t/>',
    'SocketIO On', 'SocketIO off',
    'SocketIOTransports websocket POLLING', 'SocketIOAllowUpgrades On',
    'SocketIOCorsOrigin https://a.example http://b.example:8080',
    'SocketIOCorsCredentials off', 'SocketIOServeClient on',
    'SocketIOMaxPayload 1', `SocketIOMaxPayload ${MAX_BODY}`,
    'SocketIOWebSocketQueue 1024', `SocketIOWebSocketQueue ${4 * MAX_BODY}`,
    '</Location>',
    '<Directory /tmp/>', 'SocketIO On', 'SocketIOMaxPayload 64', '</Directory>',
  ]);
  assert.equal(stderr, 'Syntax OK\n');
  assert.equal(code, 0);
});

// What only the whole configuration tells: reported by the configuration
// test too (check_config), each naming its directive.
test('configtest: a managed siod that cannot be run', async () => {
  const { code, stderr } = await configtest(['SocketIODaemon managed', 'SocketIODaemonPath /nonexistent/siod']);
  assert.notEqual(code, 0);
  assert.match(stderr, /SocketIODaemonPath \/nonexistent\/siod: not a program httpd can run/);
  assert.match(stderr, /Configuration check failed/);
  // the build's siod can
  const ok = await configtest(['SocketIODaemon managed', `SocketIODaemonPath ${BUILD}/siod`]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('configtest: with no SocketIO On anywhere (the module loaded, not used) siod is not checked', async () => {
  const unused = path.join(rundir, 'unused.conf');
  fs.writeFileSync(unused, fs.readFileSync(conf, 'utf8').replace(/^(\s*)SocketIO On\s*$/gm, '$1SocketIO Off'));
  const file = path.join(rundir, 'unused-case.conf');
  fs.writeFileSync(file, [`Include "${unused}"`, 'SocketIODaemon managed', 'SocketIODaemonPath /nonexistent/siod', ''].join('\n'));
  const r = await new Promise((resolve) => {
    execFile(HTTPD, ['-t', '-f', file], { env, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stderr: stdout + stderr });
    });
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Syntax OK/);
});

test('configtest: SocketIOPeer without mod_proxy, and two tags on one siod', async () => {
  let r = await configtest(['SocketIOPeer n2 http://10.0.0.2']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /SocketIOPeer forwards requests through mod_proxy and mod_proxy_http: load both/);
  r = await configtest(['SocketIONode n1', '<VirtualHost 127.0.0.1:9>', 'SocketIONode n2', '</VirtualHost>']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /servers sharing the daemon socket .* name different SocketIONode tags/);
});

test('configtest: a managed siod that refuses its options, applications or schemas', async () => {
  const managed = ['SocketIODaemon managed', `SocketIODaemonPath ${BUILD}/siod`];
  let r = await configtest([...managed, 'SocketIODaemonArgs -a chat --max-sessions=abc']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--max-sessions: expected/);
  assert.match(r.stderr, /SocketIODaemonArgs: siod refuses this configuration/);
  r = await configtest([...managed, 'SocketIODaemonArgs -a nosuchapp']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /application nosuchapp: cannot find/);
  // a bad schema: its file and the JSON path of the problem
  const dir = path.join(rundir, 'schemas');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'move.json'), JSON.stringify({ prefixItems: [{ type: 'nonsense' }] }));
  r = await configtest([...managed, `SocketIODaemonArgs -a chat --schemas=${dir}`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /move\.json: \/prefixItems\/0\/type/);
  r = await configtest([...managed, 'SocketIODaemonArgs -a chat --redis=foo://x']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--redis: foo:\/\/x: expected redis:\/\//);
  fs.writeFileSync(path.join(dir, 'move.json'), JSON.stringify({ prefixItems: [{ type: 'string' }] }));
  r = await configtest([...managed, `SocketIODaemonArgs -a chat --schemas=${dir}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, 'Syntax OK\n');
});


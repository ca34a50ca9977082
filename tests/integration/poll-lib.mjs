// Raw Engine.IO / Socket.IO long-polling clients over Node's http.Agent
// with keep-alive, for the polling tests: whole sessions (open, CONNECT,
// one acked echo, close) in a loop, and long runs of polls and posts on
// one reused connection. Every request error is counted with its code.
import http from 'node:http';
import https from 'node:https';

const SEP = '\x1e';

/**
 * One request through agent (an https.Agent for https URLs; the test
 * certificate is self-signed); resolves {status, headers, body, socket}.
 */
export function agentRequest(agent, method, url, { body, timeout = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const headers = body !== undefined ? { 'Content-Type': 'text/plain;charset=UTF-8' } : {};
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, { method, agent, headers, rejectUnauthorized: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'),
        socket: req.socket,
      }));
      res.on('error', reject);
    });
    req.setTimeout(timeout, () => req.destroy(Object.assign(new Error(`${method}: no answer within ${timeout} ms`), { code: 'TIMEOUT' })));
    req.on('error', reject);
    if (body !== undefined) req.end(body); else req.end();
  });
}

function check(res, what) {
  if (res.status !== 200) {
    throw Object.assign(new Error(`${what}: HTTP ${res.status} ${res.body.slice(0, 200)}`), { code: `HTTP${res.status}` });
  }
  return res;
}

/**
 * One whole Socket.IO session over polling through agent (the "bench"
 * application): handshake, CONNECT to "/", an "echo" with an ack, close.
 * Resolves the number of requests it made.
 */
export async function pollSession(agent, base) {
  let n = 0;
  const url = (sid) => `${base}?EIO=4&transport=polling${sid ? `&sid=${sid}` : ''}`;
  const get = async (sid) => { n++; return check(await agentRequest(agent, 'GET', url(sid)), 'GET').body.split(SEP); };
  const post = async (sid, body) => { n++; check(await agentRequest(agent, 'POST', url(sid), { body }), 'POST'); };
  const open = await get(null);
  const { sid } = JSON.parse(open[0].slice(1));
  await post(sid, '40');
  // wait for the CONNECT answer, then the ack
  for (let seen = false; !seen;) seen = (await get(sid)).some((p) => p.startsWith('40'));
  await post(sid, '421["echo","x"]');
  for (let seen = false; !seen;) seen = (await get(sid)).some((p) => p.startsWith('431'));
  await post(sid, '1');
  return n;
}

/**
 * Runs `concurrency` loops of whole sessions for ms through one keep-alive
 * agent. Resolves {sessions, requests, errors: {code: count}, samples}.
 */
export async function sessionLoop(base, { concurrency = 100, ms = 5000, maxSockets = Infinity } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const end = Date.now() + ms;
  const out = { sessions: 0, requests: 0, errors: {}, samples: [] };
  const loop = async () => {
    while (Date.now() < end) {
      try {
        const n = await pollSession(agent, base);
        out.requests += n;
        out.sessions++;
      } catch (e) {
        const code = e.code || e.message;
        out.errors[code] = (out.errors[code] || 0) + 1;
        if (out.samples.length < 5) out.samples.push(e.message);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  agent.destroy();
  return out;
}

// HTTP/2 clients for the tests of WebSockets over HTTP/2 (RFC 8441):
// node:http2 sessions to an instance's TLS port, Engine.IO long-polling
// requests on them, and a raw WebSocket on an extended CONNECT stream
// (RawWs from harness.mjs reading and writing the stream's DATA).
import http2 from 'node:http2';
import tls from 'node:tls';
import { RawWs, withTimeout } from './harness.mjs';

/**
 * Opens an HTTP/2 session to inst's TLS port (self-signed: not verified)
 * and resolves once the server's SETTINGS arrived; session.connectProtocol
 * tells whether it offers extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL).
 * Rejects when the server does not speak HTTP/2 there (ALPN).
 * session.tlsSocket is its TLS socket, to cut the connection without a
 * GOAWAY.
 */
export function h2Session(inst, { timeout = 5000 } = {}) {
  let sock = null;
  return withTimeout(new Promise((resolve, reject) => {
    const session = http2.connect(inst.tlsUrl(''), {
      createConnection: () => {
        sock = tls.connect({ host: '127.0.0.1', port: inst.tlsPort, ALPNProtocols: ['h2'], rejectUnauthorized: false });
        return sock;
      },
    });
    session.tlsSocket = sock;
    session.once('error', reject);
    session.once('remoteSettings', (settings) => {
      session.removeListener('error', reject);
      session.on('error', () => {});
      session.connectProtocol = settings.enableConnectProtocol === true;
      resolve(session);
    });
  }), timeout, 'HTTP/2 session');
}

/** One request on session; resolves {status, headers, body (string)}. */
export function h2Request(session, method, path, { body, headers = {}, timeout = 10000 } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = session.request({ ':method': method, ':path': path, ...headers },
      { endStream: body === undefined });
    const chunks = [];
    let head = null;
    req.on('response', (h) => { head = h; });
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => resolve({ status: head?.[':status'], headers: head, body: Buffer.concat(chunks).toString('utf8') }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  }), timeout, `HTTP/2 ${method} ${path}`);
}

/**
 * A WebSocket over HTTP/2 to the Engine.IO endpoint: an extended CONNECT
 * (:protocol websocket) stream on session. Resolves a RawWs on the stream
 * once the server answered 200 (ws.stream is the stream, ws.headers its
 * response headers); rejects with err.status for any other answer.
 * extensions: a Sec-WebSocket-Extensions offer.
 */
export function h2WebSocket(session, query = {}, { timeout = 5000, path = '/socket.io/', extensions } = {}) {
  const q = new URLSearchParams({ EIO: '4', transport: 'websocket', ...query });
  return withTimeout(new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https',
      ':path': `${path}?${q}`, 'sec-websocket-version': '13',
      ...(extensions ? { 'sec-websocket-extensions': extensions } : {}),
    }, { endStream: false });
    stream.once('error', reject);
    stream.once('response', (h) => {
      const status = h[':status'];
      if (status !== 200) {
        const chunks = [];
        stream.on('data', (d) => chunks.push(d));
        stream.on('end', () => reject(Object.assign(
          new Error(`WebSocket over HTTP/2 answered ${status}: ${Buffer.concat(chunks)}`), { status })));
        stream.on('error', () => {});
        return;
      }
      stream.removeListener('error', reject);
      const ws = new RawWs(stream, Buffer.alloc(0));
      ws.stream = stream;
      ws.headers = h;
      resolve(ws);
    });
  }), timeout, 'WebSocket over HTTP/2');
}

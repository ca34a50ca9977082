// A Node.js socket.io server in a Redis cluster running the reference
// admin server side (@socket.io/admin-ui's instrument) for the Admin UI
// cluster test: `node admin-peer.mjs PORT REDIS_URL SERVER_ID` prints
// "listening PORT" once ready. On "/" a client may ask "join" (room, ack).
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { instrument } from '@socket.io/admin-ui';
import { createClient } from 'redis';

const [port, url, serverId] = process.argv.slice(2);
const pub = createClient({ url, socket: { reconnectStrategy: () => 100 } });
const sub = pub.duplicate();
pub.on('error', () => {});
sub.on('error', () => {});
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub, { requestsTimeout: 2000 }) });
io.of('/').on('connection', (socket) => {
  socket.on('join', (room, ack) => { socket.join(room); ack?.(true); });
});
// the admin namespace's own clients connect to siod in the test: no auth
// needed here
instrument(io, { auth: false, serverId, mode: 'development' });
process.on('SIGTERM', () => { io.close(); process.exit(0); });
http.listen(Number(port), '127.0.0.1', () => console.log(`listening ${port}`));

// A Node.js socket.io server in a Redis cluster (@socket.io/redis-adapter,
// classic mode) for the cluster tests: `node redis-peer.mjs PORT REDIS_URL`
// prints "listening PORT" once ready. On "/" and "/a" a client may ask:
//   join room                     ack true
//   to {rooms,except,event,args,exceptMe,volatile}
//                                 broadcast in the namespace (binary args
//                                 stay Buffers); ack true
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';

const [port, url] = process.argv.slice(2);
const pub = createClient({ url, socket: { reconnectStrategy: () => 100 } });
const sub = pub.duplicate();
pub.on('error', () => {});
sub.on('error', () => {});
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub) });
for (const name of ['/', '/a']) {
  const nsp = io.of(name);
  nsp.on('connection', (socket) => {
    socket.on('join', (room, ack) => { socket.join(room); ack?.(true); });
    socket.on('to', (o, ack) => {
      let op = o.exceptMe ? socket.broadcast : nsp;
      for (const r of o.rooms || []) op = op.to(r);
      for (const r of o.except || []) op = op.except(r);
      if (o.volatile) op = op.volatile;
      op.emit(o.event, ...(o.args || []));
      ack?.(true);
    });
  });
}
http.listen(Number(port), '127.0.0.1', () => console.log(`listening ${port}`));
process.on('SIGTERM', () => { io.close(); pub.quit().catch(() => {}); sub.quit().catch(() => {}); process.exit(0); });

// A Node.js socket.io server in a Redis cluster (@socket.io/redis-adapter)
// for the cluster tests: `node redis-peer.mjs PORT REDIS_URL [MODE]` prints
// "listening PORT" once ready. MODE: classic (createAdapter, the default),
// or sharded[:SUBSCRIPTION_MODE] (createShardedAdapter, e.g.
// sharded:dynamic-private). On "/" and "/a" a client may ask:
//   join room                     ack true
//   to {rooms,except,event,args,exceptMe,volatile}
//                                 broadcast in the namespace (binary args
//                                 stay Buffers); ack true
//   fetch {rooms}                 ack: io.fetchSockets() across the cluster,
//                                 as [{id, rooms, data, query}] or {error}
//   all-rooms                     ack: adapter.allRooms() or {error}
//   sockets-join / sockets-leave {rooms,except,room}
//   to-ack {rooms,except,timeout,args}
//                                 broadcast "ask" with an ack across the
//                                 cluster; ack: {err, responses}
//   disconnect-sockets {rooms,close}
//                                 the cluster-wide operations; ack true
//   server-count                  ack: the adapter's serverCount()
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';

const [port, url, mode = 'classic'] = process.argv.slice(2);
// the sharded adapter's SSUBSCRIBE promises are not caught: a command the
// client had queued when Redis went away would end the peer
process.on('unhandledRejection', (e) => console.error(`unhandled rejection: ${e?.message}`));
const [kind, subscriptionMode] = mode.split(':');
const pub = createClient({ url, socket: { reconnectStrategy: () => 100 } });
const sub = pub.duplicate();
pub.on('error', () => {});
sub.on('error', () => {});
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const adapter = kind === 'sharded'
  ? createShardedAdapter(pub, sub, subscriptionMode ? { subscriptionMode } : {})
  : createAdapter(pub, sub, { requestsTimeout: 2000 });
const io = new Server(http, { adapter });
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
    const sel = (o) => {
      let op = nsp;
      for (const r of o.rooms || []) op = op.in(r);
      for (const r of o.except || []) op = op.except(r);
      return op;
    };
    const answer = (p, ack) => p.then((r) => ack(r), (e) => ack({ error: e.message }));
    socket.on('fetch', (o, ack) => answer(sel(o).fetchSockets().then((v) => v.map((s) =>
      ({ id: s.id, rooms: [...s.rooms].sort(), data: s.data, query: s.handshake.query }))), ack));
    socket.on('all-rooms', (ack) => answer(nsp.adapter.allRooms().then((r) => [...r].sort()), ack));
    socket.on('sockets-join', (o, ack) => { sel(o).socketsJoin(o.room); ack(true); });
    socket.on('sockets-leave', (o, ack) => { sel(o).socketsLeave(o.room); ack(true); });
    socket.on('to-ack', (o, ack) => {
      sel(o).timeout(o.timeout).emit('ask', ...(o.args || []), (err, responses) =>
        ack({ err: err ? err.message : null, responses }));
    });
    socket.on('disconnect-sockets', (o, ack) => { sel(o).disconnectSockets(!!o.close); ack(true); });
    socket.on('server-count', (ack) => answer(Promise.resolve(nsp.adapter.serverCount()), ack));
  });
}

// For the cluster API of siod applications (redis-app-api.test.mjs): a
// client's query `data` (JSON) becomes its socket.data, and it may ask
//   server-emit {event,args}      nsp.serverSideEmit; ack true
//   server-emit-ack {event,args}  nsp.serverSideEmitWithAck; ack
//                                 {responses} or {error, responses}
// Server-side events "ping", "note" and "silent" from other servers go on
// to this server's sockets in room "listeners" as "server-event"
// {event,args}; "ping" is answered {from:"node",args}, "silent" never.
for (const name of ['/', '/a']) {
  const nsp = io.of(name);
  for (const ev of ['ping', 'note', 'silent']) {
    nsp.on(ev, (...args) => {
      const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      nsp.local.to('listeners').emit('server-event', { event: ev, args });
      if (ev === 'ping') cb?.({ from: 'node', args });
    });
  }
  nsp.on('connection', (socket) => {
    if (socket.handshake.query.data) socket.data = JSON.parse(socket.handshake.query.data);
    socket.on('server-emit', (o, ack) => { nsp.serverSideEmit(o.event, ...(o.args || [])); ack(true); });
    socket.on('server-emit-ack', (o, ack) => {
      nsp.serverSideEmitWithAck(o.event, ...(o.args || [])).then((responses) => ack({ responses }),
        (e) => ack({ error: e.message, responses: e.responses }));
    });
  });
}
http.listen(Number(port), '127.0.0.1', () => console.log(`listening ${port}`));
process.on('SIGTERM', () => { io.close(); pub.disconnect().catch(() => {}); sub.disconnect().catch(() => {}); process.exit(0); });

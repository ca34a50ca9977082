// Reference bench server: Node.js socket.io v4 serving the "bench"
// application contract on namespace "/", the baseline that
// build/tools/siobench measures against mod_socketio + siod.
//   bcast (n)           -> io.emit("tick", n) to every connected client
//   echo (...args, ack) -> ack(...args)
// Usage: node node-server.mjs [--port 3000] [--host 127.0.0.1] [--ws-only]
//        [--ping-interval MS] [--ping-timeout MS] [--backlog N] [--stats S]
//        [--static DIR] [--redis redis://HOST:PORT]
// With --redis, broadcasts go through @socket.io/redis-adapter, so that
// several of these processes serve one set of clients as a cluster.
// With --static, GET / and GET /<file> answer the files of DIR (read on every
// request, as a plain static server would) so page latency can be measured
// beside the WebSockets; anything else is 404.
// Prints "pid <pid>" and "listening <host>:<port>" on stdout once ready.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Server } from "socket.io";

function usage(msg) {
  if (msg) console.error(`node-server: ${msg}`);
  console.error(
    "usage: node node-server.mjs [--port N] [--host ADDR] [--ws-only]\n" +
      "       [--ping-interval MS] [--ping-timeout MS] [--backlog N] [--stats SECONDS]\n" +
      "       [--static DIR] [--redis redis://HOST:PORT]"
  );
  process.exit(2);
}

function parseArgs(argv) {
  // socket.io's own defaults unless asked otherwise
  const o = {
    port: 3000,
    host: "127.0.0.1",
    wsOnly: false,
    pingInterval: 25000,
    pingTimeout: 20000,
    backlog: 4096,
    stats: 0,
    staticDir: "",
    redis: "",
  };
  const num = (i, name) => {
    const v = Number(argv[i]);
    if (argv[i] === undefined || !Number.isInteger(v) || v < 0)
      usage(`${name} needs a non-negative integer`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case "--port": o.port = num(++i, "--port"); break;
      case "--host": o.host = argv[++i] ?? usage("--host needs an address"); break;
      case "--ws-only": o.wsOnly = true; break;
      case "--ping-interval": o.pingInterval = num(++i, "--ping-interval"); break;
      case "--ping-timeout": o.pingTimeout = num(++i, "--ping-timeout"); break;
      case "--backlog": o.backlog = num(++i, "--backlog"); break;
      case "--stats": o.stats = num(++i, "--stats"); break;
      case "--static": o.staticDir = argv[++i] ?? usage("--static needs a directory"); break;
      case "--redis": o.redis = argv[++i] ?? usage("--redis needs a URL"); break;
      case "-h":
      case "--help": usage(); break;
      default: usage(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const types = { html: "text/html", txt: "text/plain", css: "text/css", js: "text/javascript" };

// Static files for --static: only plain names directly under the directory.
async function serveStatic(req, res) {
  const path = (req.url || "/").split("?")[0];
  const name = path === "/" ? "index.html" : path.slice(1);
  if (req.method !== "GET" || !/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name)) {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(join(opts.staticDir, name));
    const ext = name.includes(".") ? name.slice(name.lastIndexOf(".") + 1) : "";
    res.writeHead(200, {
      "Content-Type": types[ext] || "application/octet-stream",
      "Content-Length": body.length,
    });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
}

const httpServer = createServer((req, res) => {
  if (opts.staticDir) serveStatic(req, res);
  else res.writeHead(404).end();
});
const io = new Server(httpServer, {
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  transports: opts.wsOnly ? ["websocket"] : ["polling", "websocket"],
  serveClient: false,
});

// The Redis adapter: a publishing and a subscribing connection, both up
// before the server listens (loaded only then: the plain server needs no
// more than socket.io).
if (opts.redis) {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { createClient } = await import("redis");
  const pub = createClient({ url: opts.redis });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) {
    c.on("error", (err) => console.error(`node-server: redis: ${err.message}`));
  }
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

let deliveredTicks = 0;
let echoes = 0;

io.on("connection", (socket) => {
  socket.on("bcast", (n) => {
    io.emit("tick", n);
    deliveredTicks += io.engine.clientsCount;
  });
  socket.on("echo", (...args) => {
    const ack = args.length > 0 ? args[args.length - 1] : undefined;
    if (typeof ack !== "function") return;
    echoes++;
    ack(...args.slice(0, -1));
  });
});

httpServer.on("error", (err) => {
  console.error(`node-server: ${err.message}`);
  process.exit(1);
});

httpServer.listen({ port: opts.port, host: opts.host, backlog: opts.backlog }, () => {
  const addr = httpServer.address();
  console.log(`pid ${process.pid}`);
  console.log(`listening ${addr.address}:${addr.port}` +
    ` pingInterval=${opts.pingInterval} pingTimeout=${opts.pingTimeout}` +
    ` transports=${opts.wsOnly ? "websocket" : "polling,websocket"}` +
    (opts.redis ? ` redis=${opts.redis}` : ""));
});

if (opts.stats > 0) {
  setInterval(() => {
    // memoryUsage reads /proc and throws EMFILE when every descriptor is taken
    let mem = "";
    try {
      const m = process.memoryUsage();
      mem = ` rss_mb=${(m.rss / 1048576).toFixed(1)} heap_mb=${(m.heapUsed / 1048576).toFixed(1)}`;
    } catch (err) {
      mem = ` mem=${err.code || "unknown"}`;
    }
    console.log(`stats clients=${io.engine.clientsCount} ticks_out=${deliveredTicks}` +
      ` echoes=${echoes}${mem}`);
  }, opts.stats * 1000).unref();
}

function stop() {
  io.close();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

<?php
// The bench application contract (docs/benchmarks.md) in PHP: what siod's
// C "bench" application (siod/apps/bench.c) serves on "/", answered
// through HTTP callbacks (docs/callbacks.md); `make bench-php` measures
// the two side by side.
//   "bcast" (n)           -> everyone, the sender too: "tick" n
//   "echo" (...args, ack) -> acks with the same arguments
// Every client is let in; a disconnect needs no answer.
declare(strict_types=1);
require __DIR__ . '/socketio.php';

$req = sio_request();

if ($req->type === 'connect') {
    sio_answer(['accept' => true]);
}
if ($req->type !== 'event') {
    sio_answer([]);
}
switch ($req->event) {
case 'echo':
    sio_answer(['ack' => $req->args]);
case 'bcast':
    sio_answer(['emit' => [['event' => 'tick', 'to' => 'all', 'args' => [$req->args[0] ?? null]]]]);
default:
    sio_answer([]);
}

<?php
// The demo chat in PHP: what siod's C "chat" application (siod/apps/chat.c)
// serves, answered through HTTP callbacks (docs/callbacks.md). The connect
// callback lets in browsers with a PHP session (the demo page's
// session.php starts one); then
//   "chat message" (text)      -> everyone: "chat message" {id, text, ts}
//   "join" (room, ack)         -> joins room, acks true
//   "leave" (room, ack)        -> leaves room, acks true
//   "room message" {room,text} -> that room: "room message" {id, room, text, ts}
//   "typing"                   -> everyone else: "typing" {id}
// Malformed arguments are ignored (join/leave then ack false).
declare(strict_types=1);
require __DIR__ . '/socketio.php';

$req = sio_request();

if ($req->type === 'connect') {
    $session = sio_php_session($req);
    if ($session === null || !isset($session['since'])) {
        sio_answer(['accept' => false, 'error' => [
            'message' => 'not logged in',
            'data' => ['login' => '/session.php'],
        ]]);
    }
    sio_answer(['accept' => true, 'data' => ['since' => $session['since']]]);
}
if ($req->type !== 'event') {
    sio_answer([]);              // disconnect: nothing to tell anyone
}

$id = $req->socket->id;
$args = $req->args;
$room_name = fn ($v) => is_string($v) && !str_contains($v, "\0") ? $v : null;

switch ($req->event) {
case 'chat message':
    if (!is_string($args[0] ?? null)) {
        sio_answer([]);
    }
    sio_answer(['emit' => [[
        'event' => 'chat message', 'to' => 'all',
        'args' => [['id' => $id, 'text' => $args[0], 'ts' => sio_now_ms()]],
    ]]]);
case 'join':
case 'leave':
    $room = $room_name($args[0] ?? null);
    if ($room === null) {
        sio_answer(['ack' => [false]]);
    }
    sio_answer([$req->event => [$room], 'ack' => [true]]);
case 'room message':
    $m = $args[0] ?? null;
    $room = is_object($m) ? $room_name($m->room ?? null) : null;
    if ($room === null || !is_string($m->text ?? null)) {
        sio_answer([]);
    }
    sio_answer(['emit' => [[
        'event' => 'room message', 'to' => [$room],
        'args' => [['id' => $id, 'room' => $room, 'text' => $m->text, 'ts' => sio_now_ms()]],
    ]]]);
case 'typing':
    sio_answer(['emit' => [['event' => 'typing', 'to' => 'others', 'args' => [['id' => $id]]]]]);
default:
    sio_answer([]);
}

<?php
// A callback handler for the tests of siod's HTTP callbacks
// (callbacks.test.mjs): every action of the protocol, and the ways a
// backend goes wrong (slow, HTTP 500, a garbled answer).
declare(strict_types=1);
require __DIR__ . '/socketio.php';

$req = sio_request();

if ($req->type === 'connect') {
    $auth = $req->handshake->auth;
    $token = is_object($auth) ? ($auth->token ?? null) : null;
    if ($token === 'good') {
        sio_answer(['accept' => true, 'join' => ['vip'], 'data' => [
            'user' => 'by-token',
            'agent' => sio_header($req, 'user-agent'),
            'q' => $req->handshake->query->q ?? null,
            'address' => $req->handshake->address,
        ], 'emit' => [['event' => 'welcome', 'args' => ['hello', sio_binary("\x00\x01")]]]]);
    }
    if ($token === 'slow-good') {
        usleep(500000);
        sio_answer(['accept' => true, 'join' => ['late'], 'data' => ['user' => 'late'],
            'emit' => [['event' => 'welcome', 'args' => ['late']]]]);
    }
    if ($token === 'garbled') {
        echo 'accept: yes';
        exit;
    }
    if ($token === 'slow') {
        sleep(3);
    }
    $session = sio_php_session($req);
    if ($session !== null && isset($session['since'])) {
        sio_answer(['accept' => true, 'data' => ['user' => 'by-session']]);
    }
    sio_answer(['accept' => false, 'error' => [
        'message' => 'refused', 'data' => ['reason' => 'no token, no session'],
    ]]);
}

if ($req->type === 'disconnect') {
    sio_answer(['emit' => [['event' => 'left', 'to' => 'all', 'args' => [[
        'id' => $req->socket->id, 'reason' => $req->reason,
        'data' => $req->socket->data, 'rooms' => $req->socket->rooms,
    ]]]]]);
}

$args = $req->args;
switch ($req->event) {
case 'whoami':
    sio_answer(['ack' => [$req->socket->data, $req->socket->rooms, $req->nsp]]);
case 'echo':
    // arguments as they came, binary values included, back both ways
    sio_answer([
        'ack' => $args,
        'emit' => [['event' => 'echo-back', 'args' => $args]],
    ]);
case 'sizes':
    // what PHP sees of binary values: their lengths and first bytes
    $out = [];
    foreach ($args as $a) {
        $b = sio_bytes($a);
        $out[] = $b === null ? null : [strlen($b), bin2hex(substr($b, 0, 4))];
    }
    sio_answer(['ack' => $out]);
case 'seq':
    // earlier numbers take longer: only a queue keeps them in order
    $n = (int) $args[0];
    usleep((5 - $n % 5) * 30000);
    sio_answer(['emit' => [['event' => 'seq', 'args' => [$n]]]]);
case 'slow':
    sleep((int) $args[0]);
    sio_answer(['ack' => ['late']]);
case 'fail':
    http_response_code(500);
    echo "oops\n";
    exit;
case 'garbled':
    header('Content-Type: application/json');
    echo '{"ack": [1, ';
    exit;
case 'bad-type':
    sio_answer(['join' => 42, 'ack' => ['no']]);
case 'room':
    sio_answer(['join' => [$args[0]], 'ack' => [true],
        'emit' => [['event' => 'in-room', 'to' => [$args[0]], 'args' => [$req->socket->id]]]]);
case 'nobody':
    // an empty room list is nobody; "self" except a room it is in, too
    sio_answer(['ack' => [true], 'emit' => [
        ['event' => 'told', 'to' => [], 'args' => ['to nobody']],
        ['event' => 'told', 'except' => 'vip', 'args' => ['not to vip']],
    ]]);
case 'conc':
    // how many of these run at once: a counter under a lock in file args[0]
    $f = fopen((string) $args[0], 'c+');
    $bump = function (int $d) use ($f): array {
        flock($f, LOCK_EX);
        rewind($f);
        [$now, $max] = array_map('intval', explode(' ', stream_get_contents($f) ?: '0 0') + [0, 0]);
        $now += $d;
        $max = max($max, $now);
        ftruncate($f, 0);
        rewind($f);
        fwrite($f, "$now $max");
        flock($f, LOCK_UN);
        return [$now, $max];
    };
    $bump(1);
    usleep(100000);
    [, $max] = $bump(-1);
    sio_answer(['ack' => [$max]]);
case 'tell-others':
    sio_answer(['emit' => [['event' => 'told', 'to' => 'others', 'except' => ['vip'], 'args' => [$args[0]]]]]);
case 'set':
    sio_answer(['data' => $args[0], 'ack' => [true]]);
case 'bye':
    sio_answer(['ack' => ['bye'], 'disconnect' => true]);
default:
    sio_answer([]);
}

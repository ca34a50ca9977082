<?php
// Helpers for Socket.IO callback handlers: siod POSTs each connect, event
// and disconnect of a namespace as JSON (docs/callbacks.md); a handler
// reads it with sio_request() and answers with sio_answer([...actions]).
declare(strict_types=1);

/** The callback's request: an object (stdClass), as siod sent it. */
function sio_request(): object
{
    $body = file_get_contents('php://input');
    $req = json_decode($body === false ? '' : $body, false, 512);
    if (!is_object($req) || !isset($req->type)) {
        http_response_code(400);
        header('Content-Type: text/plain');
        echo "expected a Socket.IO callback (docs/callbacks.md)\n";
        exit;
    }
    return $req;
}

/** Sends the answer (actions: accept, data, join, leave, ack, emit,
 * disconnect) and ends the script. */
function sio_answer(array $actions): never
{
    header('Content-Type: application/json');
    echo json_encode((object) $actions, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE
        | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR);
    exit;
}

/** A binary value for an answer (a Buffer on the client). */
function sio_binary(string $bytes): object
{
    return (object) ['_binary' => base64_encode($bytes)];
}

/** The bytes of a binary value of the request, or null if v is none. */
function sio_bytes(mixed $v): ?string
{
    if (is_object($v) && count(get_object_vars($v)) === 1 && isset($v->_binary)
        && is_string($v->_binary)) {
        $b = base64_decode($v->_binary, true);
        return $b === false ? null : $b;
    }
    return null;
}

/** A request header of the socket's handshake (lower-case name), or null. */
function sio_header(object $req, string $name): ?string
{
    $h = $req->handshake->headers->{$name} ?? null;
    return is_string($h) ? $h : null;
}

/**
 * The PHP session ($_SESSION) of the browser behind a connect callback,
 * found by the session cookie of its handshake; null without one. Read
 * only: no cookie is sent and the session is not locked past the call.
 */
function sio_php_session(object $req): ?array
{
    $cookies = sio_header($req, 'cookie');
    if ($cookies === null) {
        return null;
    }
    $id = null;
    foreach (explode(';', $cookies) as $pair) {
        $kv = explode('=', trim($pair), 2);
        if (count($kv) === 2 && $kv[0] === session_name()) {
            $id = urldecode($kv[1]);
        }
    }
    if ($id === null || !preg_match('/^[A-Za-z0-9,-]{1,128}$/', $id)) {
        return null;
    }
    ini_set('session.use_cookies', '0');
    ini_set('session.use_strict_mode', '1');
    session_id($id);
    if (!session_start(['read_and_close' => true])) {
        return null;
    }
    $s = $_SESSION;
    $_SESSION = [];
    return $s === [] ? null : $s;
}

/** Milliseconds since the epoch. */
function sio_now_ms(): int
{
    return (int) floor(microtime(true) * 1000);
}

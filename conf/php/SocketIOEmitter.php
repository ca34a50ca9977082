<?php
/*
 * A small PHP client of mod_socketio's HTTP emit API (docs/emit-api.md):
 * emit to a namespace, rooms and exceptions, with or without acks; fetch
 * sockets; make sockets join or leave rooms; disconnect them. Plain PHP
 * (the http:// stream wrapper, no extension); the emit API's location is
 * guarded by Apache's access control, so pass whatever credentials it
 * asks for in $headers.
 *
 *   require 'SocketIOEmitter.php';
 *   $io = new SocketIOEmitter('http://127.0.0.1/emit');
 *   $io->to('room1')->emit('news', ['title' => 'hello']);
 *   $io->of('/admin')->except('muted')->emit('alert', 'disk full');
 *   $answers = $io->emitWithAck(2000, 'ping');   // ['responses' => [...], ...]
 *   $sockets = $io->in('room1')->fetchSockets();
 *   $io->in('room1')->socketsJoin('room2');
 *   $io->in('room2')->disconnectSockets();
 *   $io->serverSideEmit('reload', 'config');      // other servers' apps
 *
 * Every call throws SocketIOEmitterException when the API answers
 * anything but {"ok":true} (its status and error message inside).
 */

final class SocketIOEmitterException extends RuntimeException
{
    public function __construct(string $message, public readonly int $status = 0)
    {
        parent::__construct($message);
    }
}

final class SocketIOEmitter
{
    private string $nsp = '/';
    private array $rooms = [];
    private array $except = [];
    private bool $volatile = false;
    private bool $local = false;

    /**
     * @param string   $url     the emit API's URL (a SetHandler socketio-emit location)
     * @param string[] $headers extra request headers, e.g. ['Authorization: Basic ...']
     * @param float    $timeout seconds to wait for the answer
     */
    public function __construct(private string $url, private array $headers = [],
                                private float $timeout = 10.0)
    {
    }

    /** A copy aimed at namespace $nsp ("/chat"). */
    public function of(string $nsp): self
    {
        $c = clone $this;
        $c->nsp = $nsp;
        return $c;
    }

    /** A copy narrowed to the sockets in $rooms (a name or a list; calls add up). */
    public function to(string|array $rooms): self
    {
        $c = clone $this;
        $c->rooms = array_values(array_unique(array_merge($c->rooms, (array)$rooms)));
        return $c;
    }

    /** Same as to(). */
    public function in(string|array $rooms): self
    {
        return $this->to($rooms);
    }

    /** A copy that leaves out the sockets in $rooms. */
    public function except(string|array $rooms): self
    {
        $c = clone $this;
        $c->except = array_values(array_unique(array_merge($c->except, (array)$rooms)));
        return $c;
    }

    /** A copy whose emits may be dropped for clients that cannot take them now. */
    public function volatile(): self
    {
        $c = clone $this;
        $c->volatile = true;
        return $c;
    }

    /** Emits $event with $args to the selected sockets. */
    public function emit(string $event, mixed ...$args): void
    {
        $this->call(['op' => 'emit', 'event' => $event, 'args' => $args,
                     'volatile' => $this->volatile]);
    }

    /**
     * Emits with an acknowledgement and waits up to $timeoutMs for the
     * clients' answers. Returns ['responses' => [...], 'count' => n,
     * 'timedOut' => bool].
     */
    public function emitWithAck(int $timeoutMs, string $event, mixed ...$args): array
    {
        $r = $this->call(['op' => 'emit', 'event' => $event, 'args' => $args,
                          'ack' => true, 'timeout' => $timeoutMs]);
        return ['responses' => $r['responses'], 'count' => $r['count'],
                'timedOut' => $r['timedOut']];
    }

    /** The selected sockets: each ['id', 'rooms', 'data', 'handshake']. */
    public function fetchSockets(): array
    {
        return $this->call(['op' => 'fetchSockets'])['sockets'];
    }

    /** Makes the selected sockets join $rooms. */
    public function socketsJoin(string|array $rooms): void
    {
        $this->call(['op' => 'socketsJoin', 'room' => array_values((array)$rooms)]);
    }

    /** Makes the selected sockets leave $rooms. */
    public function socketsLeave(string|array $rooms): void
    {
        $this->call(['op' => 'socketsLeave', 'room' => array_values((array)$rooms)]);
    }

    /** A copy that acts on this server only (with a cluster). */
    public function local(): self
    {
        $c = clone $this;
        $c->local = true;
        return $c;
    }

    /** Emits $event to the other servers' applications (not to clients). */
    public function serverSideEmit(string $event, mixed ...$args): void
    {
        $this->call(['op' => 'serverSideEmit', 'event' => $event, 'args' => $args]);
    }

    /** Disconnects the selected sockets ($close: their whole connections). */
    public function disconnectSockets(bool $close = false): void
    {
        $this->call(['op' => 'disconnectSockets', 'close' => $close]);
    }

    private function call(array $req): array
    {
        $req += ['nsp' => $this->nsp, 'rooms' => $this->rooms, 'except' => $this->except,
                 'local' => $this->local];
        $body = json_encode($req, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE
                                  | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR);
        $ctx = stream_context_create(['http' => [
            'method' => 'POST',
            'header' => array_merge(['Content-Type: application/json'], $this->headers),
            'content' => $body,
            'timeout' => $this->timeout,
            'ignore_errors' => true,
        ]]);
        $raw = @file_get_contents($this->url, false, $ctx);
        if ($raw === false)
            throw new SocketIOEmitterException("no answer from {$this->url}");
        $status = 0;
        foreach ($http_response_header ?? [] as $h)
            if (preg_match('#^HTTP/\S+\s+(\d{3})#', $h, $m))
                $status = (int)$m[1];
        $ans = json_decode($raw, true);
        if (!is_array($ans))
            throw new SocketIOEmitterException("HTTP $status: " . substr($raw, 0, 200), $status);
        if (($ans['ok'] ?? false) !== true)
            throw new SocketIOEmitterException($ans['error'] ?? "HTTP $status", $status);
        return $ans;
    }
}

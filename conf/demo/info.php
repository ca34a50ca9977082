<?php
/* A PHP page of the demo site, run by php-cgi through mod_actions: it shows
 * that PHP keeps working on the server that also serves Socket.IO. */
header('Content-Type: text/html; charset=utf-8');
$h = function ($s) { return htmlspecialchars((string)$s, ENT_QUOTES, 'UTF-8'); };
$rows = [
    'PHP version' => PHP_VERSION,
    'Server API' => PHP_SAPI,
    'Server software' => $_SERVER['SERVER_SOFTWARE'] ?? 'unknown',
    'Request' => ($_SERVER['REQUEST_METHOD'] ?? 'GET') . ' ' . ($_SERVER['REQUEST_URI'] ?? ''),
    'Server time' => gmdate('Y-m-d H:i:s') . ' UTC',
];
?>
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>PHP page · mod_socketio demo</title>
  <link rel="icon" href="favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="chat.css">
</head>
<body>
  <main class="page">
    <h1>PHP is working</h1>
    <section class="panel">
      <p>This page ran through PHP on the same httpd that serves the Socket.IO
        chat.</p>
      <dl>
<?php foreach ($rows as $k => $v): ?>
        <dt><?= $h($k) ?></dt><dd><?= $h($v) ?></dd>
<?php endforeach; ?>
      </dl>
      <p><a href="./">Back to the chat</a> · <a href="static.html">the static page</a></p>
    </section>
  </main>
</body>
</html>

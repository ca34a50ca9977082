<?php
// The login of the PHP chat (copied into the document root by make run
// and with HANDLERS=php): starts a PHP session, whose cookie then rides along on
// the Socket.IO handshake, where conf/php/chat.php's connect callback
// checks it. The demo page calls it first. Anyone may log in here.
session_start();
if (!isset($_SESSION['since'])) {
    $_SESSION['since'] = time();
}
header('Content-Type: application/json');
header('Cache-Control: no-store');
echo json_encode(['since' => $_SESSION['since']]);

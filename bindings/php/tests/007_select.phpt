--TEST--
Readiness: non-blocking connect, socket_select and stream_select on TLS sockets and listeners
--SKIPIF--
<?php require __DIR__ . '/ssa_test.inc'; ssa_test_skipif(['openssl']); ?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup();
$server = ssa_test_s_server();
$port = $server->port();

echo "-- non-blocking connect: writable only when the handshake has ended\n";
$s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
socket_set_nonblock($s);
var_dump(socket_connect($s, "localhost", $port)); // no warning for EINPROGRESS
var_dump(socket_last_error($s) === SOCKET_EINPROGRESS);
$r = null; $w = [$s]; $e = null;
var_dump(socket_select($r, $w, $e, 10), count($w));
var_dump(socket_get_option($s, SOL_SOCKET, SO_ERROR));
var_dump(socket_get_option($s, IPPROTO_TLS, TLS_PEER_IDENTITY));
echo "-- nothing to read yet, then readable\n";
$r = [$s]; $w = null;
var_dump(socket_select($r, $w, $e, 0, 200000));
var_dump(socket_read($s, 100), socket_last_error($s) === SOCKET_EAGAIN);
socket_write($s, "select\n");
$r = [$s];
var_dump(socket_select($r, $w, $e, 10), count($r));
usleep(100000);
var_dump(socket_read($s, 100));
socket_close($s);

echo "-- a failing non-blocking connect reports through SO_ERROR and TLS_ERROR\n";
$s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
socket_set_option($s, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "wrong.test");
socket_set_nonblock($s);
var_dump(socket_connect($s, "127.0.0.1", $port));
$r = null; $w = [$s];
var_dump(socket_select($r, $w, $e, 10));
var_dump(socket_get_option($s, SOL_SOCKET, SO_ERROR) === SOCKET_EPROTO);
var_dump(ssa_socket_error($s));
socket_close($s);

echo "-- a TLS listener is readable exactly when a handshaken connection waits\n";
$l = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
socket_bind($l, "127.0.0.1", 0);
socket_listen($l);
socket_getsockname($l, $addr, $lport);
$r = [$l]; $w = null;
var_dump(socket_select($r, $w, $e, 0, 100000));
$c = stream_socket_client("ssa://localhost:$lport", $errno, $errstr, 10);
$r = [$l];
var_dump(socket_select($r, $w, $e, 10));
socket_set_nonblock($l);
$a = socket_accept($l);
var_dump($a instanceof Socket);
var_dump(@socket_accept($l), socket_last_error($l) === SOCKET_EAGAIN); // nothing more waits
echo "-- stream_select on ssa:// streams\n";
$r = [$c]; $w = null; $e = null;
var_dump(stream_select($r, $w, $e, 0, 100000));
socket_write($a, "to the stream\n");
$r = [$c];
var_dump(stream_select($r, $w, $e, 10), fgets($c));

echo "-- asynchronous stream connect\n";
$fp = stream_socket_client("ssa://localhost:$port", $errno, $errstr, 10,
    STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT);
var_dump(is_resource($fp));
$r = null; $w = [$fp];
var_dump(stream_select($r, $w, $e, 10));
var_dump(ssa_get_option($fp, TLS_PEER_IDENTITY));
stream_set_blocking($fp, true);
fwrite($fp, "async\n");
var_dump(fgets($fp));
?>
--EXPECT--
-- non-blocking connect: writable only when the handshake has ended
bool(false)
bool(true)
int(1)
int(1)
int(0)
string(13) "/CN=localhost"
-- nothing to read yet, then readable
int(0)
bool(false)
bool(true)
int(1)
int(1)
string(7) "tceles
"
-- a failing non-blocking connect reports through SO_ERROR and TLS_ERROR
bool(false)
int(1)
bool(true)
string(72) "certificate verification failed: certificate is not valid for wrong.test"
-- a TLS listener is readable exactly when a handshaken connection waits
int(0)
int(1)
bool(true)
bool(false)
bool(true)
-- stream_select on ssa:// streams
int(0)
int(1)
string(14) "to the stream
"
-- asynchronous stream connect
bool(true)
int(1)
string(13) "/CN=localhost"
string(6) "cnysa
"

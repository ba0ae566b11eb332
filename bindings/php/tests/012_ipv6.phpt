--TEST--
IPv6: AF_INET6 TLS sockets and ssa://[::1]:port
--SKIPIF--
<?php
require __DIR__ . '/ssa_test.inc';
ssa_test_skipif();
if (!@stream_socket_server("tcp://[::1]:0")) die('skip no IPv6 loopback');
?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup(); // localhost's certificate has IP:::1 too

$server = stream_socket_server("ssa://[::1]:0", $errno, $errstr);
$name = stream_socket_get_name($server, false);
$port = (int)substr(strrchr($name, ':'), 1);
var_dump(str_starts_with($name, "[::1]:"));

$fp = stream_socket_client("ssa://[::1]:$port", $errno, $errstr, 10); // verifies IP ::1
var_dump(is_resource($fp), ssa_get_option($fp, TLS_PEER_IDENTITY));
$a = stream_socket_accept($server, 10, $peer);
var_dump(str_starts_with($peer, "[::1]:"));
fwrite($fp, "six\n");
var_dump(fgets($a));

$s = socket_create(AF_INET6, SOCK_STREAM, IPPROTO_TLS);
var_dump(socket_connect($s, "::1", $port));
$a = stream_socket_accept($server, 10);
var_dump(socket_getpeername($s, $addr, $p), $addr, $p === $port);
socket_write($s, "socket six\n");
var_dump(fgets($a));
?>
--EXPECT--
bool(true)
bool(true)
string(13) "/CN=localhost"
bool(true)
string(4) "six
"
bool(true)
bool(true)
string(3) "::1"
bool(true)
string(11) "socket six
"

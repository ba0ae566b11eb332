--TEST--
socket_* client to openssl s_server: handshake, verification, data both ways, TLS options
--SKIPIF--
<?php require __DIR__ . '/ssa_test.inc'; ssa_test_skipif(['openssl']); ?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup();
$server = ssa_test_s_server();
$port = $server->port();

$s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
var_dump($s instanceof Socket, ssa_is_tls($s));
var_dump(socket_set_option($s, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost"));
var_dump(socket_get_option($s, IPPROTO_TLS, TLS_REMOTE_HOSTNAME));
var_dump(socket_set_option($s, IPPROTO_TLS, TLS_VERSION_MIN, TLS_1_2));
var_dump(socket_set_option($s, SOL_TCP, TCP_NODELAY, 1));
var_dump(socket_connect($s, "127.0.0.1", $port));
var_dump(socket_get_option($s, SOL_TCP, TCP_NODELAY) !== 0);
var_dump(socket_get_option($s, SOL_SOCKET, 38 /* SO_PROTOCOL */));
var_dump(socket_get_option($s, IPPROTO_TLS, TLS_PEER_IDENTITY));
var_dump((bool)preg_match('/^TLS_/', socket_get_option($s, IPPROTO_TLS, TLS_CHOSEN_CIPHER)));
var_dump(in_array(socket_get_option($s, IPPROTO_TLS, TLS_VERSION_CONN), [TLS_1_2, TLS_1_3], true));
var_dump(str_starts_with(socket_get_option($s, IPPROTO_TLS, TLS_PEER_CERTIFICATE_CHAIN), "-----BEGIN CERTIFICATE-----"));
var_dump(is_int(socket_get_option($s, IPPROTO_TLS, TLS_ID)));
var_dump(socket_get_option($s, IPPROTO_TLS, TLS_ERROR));
var_dump(ssa_socket_error($s));

// data both ways: socket_write/read, socket_send/recv
var_dump(socket_write($s, "hello world\n"));
$reply = '';
while (!str_contains($reply, "\n") && ($chunk = socket_read($s, 100)) !== false && $chunk !== '') {
    $reply .= $chunk;
}
var_dump($reply);
var_dump(socket_send($s, "second line\n", 12, 0));
$reply = '';
while (!str_contains($reply, "\n") && socket_recv($s, $buf, 100, 0) > 0) {
    $reply .= $buf;
}
var_dump($reply);

// 10 KB through TLS and back (s_server -rev reverses each line of up to 16 KiB)
$line = str_repeat('abcdefgh', 1250) . "\n";
$sent = 0;
while ($sent < strlen($line)) {
    $n = socket_write($s, substr($line, $sent));
    if ($n === false) { break; }
    $sent += $n;
}
$reply = '';
while (!str_contains($reply, "\n") && ($chunk = socket_read($s, 8192)) !== false && $chunk !== '') {
    $reply .= $chunk;
}
var_dump($sent, strlen($reply), $reply === strrev(substr($line, 0, -1)) . "\n");

var_dump(socket_getpeername($s, $addr, $p), $addr, $p === $port);
var_dump(socket_getsockname($s, $addr, $p), $addr, $p > 0);
var_dump(socket_last_error($s));
socket_close($s);
echo "done\n";
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
string(9) "localhost"
bool(true)
bool(true)
bool(true)
bool(true)
int(205)
string(13) "/CN=localhost"
bool(true)
bool(true)
bool(true)
bool(true)
string(0) ""
string(0) ""
int(12)
string(12) "dlrow olleh
"
int(12)
string(12) "enil dnoces
"
int(10001)
int(10001)
bool(true)
bool(true)
string(9) "127.0.0.1"
bool(true)
bool(true)
string(9) "127.0.0.1"
bool(true)
int(0)
done

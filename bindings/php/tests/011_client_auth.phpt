--TEST--
Client certificates: a server requiring them (TLS_REQUEST_PEER_AUTH), a client's from the stream context
--SKIPIF--
<?php
require __DIR__ . '/ssa_test.inc';
ssa_test_skipif();
ssa_test_setup();
$s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
if (!@socket_set_option($s, IPPROTO_TLS, TLS_REQUEST_PEER_AUTH, 1)) {
    die('skip libssa: TLS_REQUEST_PEER_AUTH: ' . ssa_socket_error($s));
}
?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup();

echo "-- a server that requires client certificates (socket options)\n";
$l = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
var_dump(socket_set_option($l, IPPROTO_TLS, TLS_TRUSTED_PEER_CERTIFICATES, "$pki/ca.pem"));
var_dump(socket_set_option($l, IPPROTO_TLS, TLS_REQUEST_PEER_AUTH, 1));
socket_bind($l, "127.0.0.1", 0);
var_dump(socket_listen($l));
socket_getsockname($l, $addr, $port);

echo "-- a client with its certificate from the stream context\n";
$ctx = stream_context_create(['ssa' => [
    'local_cert' => "$pki/client-chain.pem",
    'local_pk' => "$pki/client.key",
]]);
$fp = stream_socket_client("ssa://localhost:$port", $errno, $errstr, 10, STREAM_CLIENT_CONNECT, $ctx);
var_dump(is_resource($fp));
$a = socket_accept($l);
var_dump(socket_get_option($a, IPPROTO_TLS, TLS_PEER_IDENTITY));
fclose($fp);

echo "-- a client without a certificate never reaches accept()\n";
$c = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
socket_set_option($c, SOL_SOCKET, SO_RCVTIMEO, ["sec" => 5, "usec" => 0]);
if (@socket_connect($c, "localhost", $port)) {
    // TLS 1.3: the client may finish first; then the server's refusal ends the connection
    $r = @socket_read($c, 10);
    var_dump($r === false || $r === '');
} else {
    var_dump(socket_last_error($c) !== 0);
}
socket_set_nonblock($l);
var_dump(@socket_accept($l));
?>
--EXPECT--
-- a server that requires client certificates (socket options)
bool(true)
bool(true)
bool(true)
-- a client with its certificate from the stream context
bool(true)
string(19) "/CN=SSA Test Client"
-- a client without a certificate never reaches accept()
bool(true)
bool(false)

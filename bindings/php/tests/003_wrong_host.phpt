--TEST--
Verification failures: wrong host name, untrusted issuer, refused connection; errno and TLS_ERROR
--SKIPIF--
<?php require __DIR__ . '/ssa_test.inc'; ssa_test_skipif(['openssl']); ?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup();
$wrong = ssa_test_s_server('wronghost');
$port = $wrong->port();

echo "-- socket_connect by name to a certificate for wrong.test\n";
$s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
var_dump(socket_connect($s, "localhost", $port));
var_dump(socket_last_error($s) === SOCKET_EPROTO, socket_last_error() === SOCKET_EPROTO);
var_dump(socket_strerror(socket_last_error($s)));
$why = ssa_socket_error($s);
var_dump($why, socket_get_option($s, IPPROTO_TLS, TLS_ERROR) === $why);
var_dump(socket_get_option($s, IPPROTO_TLS, TLS_REMOTE_HOSTNAME));
socket_close($s);

echo "-- TLS_REMOTE_HOSTNAME set, connect by address\n";
$s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
socket_set_option($s, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost");
var_dump(@socket_connect($s, "127.0.0.1", $port), socket_last_error($s) === SOCKET_EPROTO);
var_dump(str_contains(ssa_socket_error($s), "not valid for localhost"));
socket_close($s);

echo "-- the same name as wrong.test's certificate has: verification succeeds\n";
$s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
socket_set_option($s, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "wrong.test");
var_dump(socket_connect($s, "127.0.0.1", $port));
var_dump(socket_get_option($s, IPPROTO_TLS, TLS_PEER_IDENTITY));
socket_close($s);

echo "-- stream transport\n";
$fp = stream_socket_client("ssa://localhost:$port", $errno, $errstr, 10);
var_dump($fp, $errno === SOCKET_EPROTO, $errstr);

echo "-- an issuer the policy does not trust\n";
$unknown = ssa_test_s_server('unknownca', ['-rev']);
$s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
var_dump(@socket_connect($s, "localhost", $unknown->port()), socket_last_error($s) === SOCKET_EPROTO);
var_dump(ssa_socket_error($s) !== '');

echo "-- nothing listening: TCP's errno, not EPROTO\n";
$l = stream_socket_server("tcp://127.0.0.1:0");
$closed = (int)substr(strrchr(stream_socket_get_name($l, false), ':'), 1);
fclose($l);
$s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
var_dump(socket_connect($s, "127.0.0.1", $closed));
var_dump(socket_last_error($s) === SOCKET_ECONNREFUSED);
$fp = stream_socket_client("ssa://127.0.0.1:$closed", $errno, $errstr, 10);
var_dump($fp, $errno === SOCKET_ECONNREFUSED);
?>
--EXPECTF--
-- socket_connect by name to a certificate for wrong.test

Warning: socket_connect(): unable to connect [71]: Protocol error (certificate verification failed: certificate is not valid for localhost) in %s on line %d
bool(false)
bool(true)
bool(true)
string(14) "Protocol error"
string(71) "certificate verification failed: certificate is not valid for localhost"
bool(true)
string(9) "localhost"
-- TLS_REMOTE_HOSTNAME set, connect by address
bool(false)
bool(true)
bool(true)
-- the same name as wrong.test's certificate has: verification succeeds
bool(true)
string(14) "/CN=wrong.test"
-- stream transport

Warning: stream_socket_client(): Unable to connect to ssa://localhost:%d (Protocol error (certificate verification failed: certificate is not valid for localhost)) in %s on line %d
bool(false)
bool(true)
string(88) "Protocol error (certificate verification failed: certificate is not valid for localhost)"
-- an issuer the policy does not trust
bool(false)
bool(true)
bool(true)
-- nothing listening: TCP's errno, not EPROTO

Warning: socket_connect(): unable to connect [111]: Connection refused%s in %s on line %d
bool(false)
bool(true)

Warning: stream_socket_client(): Unable to connect to ssa://127.0.0.1:%d (Connection refused%s) in %s on line %d
bool(false)
bool(true)

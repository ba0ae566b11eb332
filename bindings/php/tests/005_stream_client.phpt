--TEST--
ssa:// stream transport, client: stream_socket_client to openssl s_server, fgets/fwrite, options
--SKIPIF--
<?php require __DIR__ . '/ssa_test.inc'; ssa_test_skipif(['openssl']); ?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup();
$server = ssa_test_s_server();
$port = $server->port();

echo "-- by name: the name is verified\n";
$fp = stream_socket_client("ssa://localhost:$port", $errno, $errstr, 10);
var_dump(is_resource($fp), $errno);
var_dump(stream_get_meta_data($fp)['stream_type']);
var_dump(ssa_is_tls($fp));
var_dump(fwrite($fp, "stream line\n"));
var_dump(fgets($fp));
var_dump(ssa_get_option($fp, TLS_PEER_IDENTITY));
var_dump(ssa_get_option($fp, TLS_REMOTE_HOSTNAME));
var_dump(ssa_socket_error($fp));
var_dump(stream_socket_get_name($fp, true) === "127.0.0.1:$port");
var_dump(str_starts_with(stream_socket_get_name($fp, false), "127.0.0.1:"));
stream_set_timeout($fp, 0, 200000);
var_dump(in_array(fread($fp, 10), ['', false], true), stream_get_meta_data($fp)['timed_out']);
fclose($fp);

echo "-- by address, with context options\n";
$ctx = stream_context_create(['ssa' => [
    'peer_name' => 'localhost',
    'cafile' => "$pki/ca.pem",
    'options' => [TLS_VERSION_MIN => TLS_1_2, TLS_SESSION_REUSE => 0],
]]);
$fp = stream_socket_client("ssa://127.0.0.1:$port", $errno, $errstr, 10, STREAM_CLIENT_CONNECT, $ctx);
var_dump(is_resource($fp));
var_dump(ssa_get_option($fp, TLS_REMOTE_HOSTNAME), ssa_get_option($fp, TLS_SESSION_REUSE));
fwrite($fp, "abc\n");
var_dump(stream_get_line($fp, 100, "\n"));
echo "-- socket_import_stream gives a Socket the socket_* functions treat as TLS\n";
$sock = socket_import_stream($fp);
var_dump(ssa_is_tls($sock), socket_get_option($sock, IPPROTO_TLS, TLS_PEER_IDENTITY));
socket_write($sock, "via socket\n");
var_dump(fgets($fp));
fclose($fp);

echo "-- the URL wrapper: fopen(\"ssa://host:port\")\n";
$fp = fopen("ssa://localhost:$port/ignored/path", "r+");
var_dump(is_resource($fp));
fwrite($fp, "fopen\n");
var_dump(fgets($fp));
fclose($fp);

echo "-- fsockopen(\"ssa://host\", port)\n";
$fp = fsockopen("ssa://localhost", $port, $errno, $errstr, 10);
fwrite($fp, "fsockopen\n");
var_dump(fgets($fp));
fclose($fp);

echo "-- a verification failure in a context option's trust anchors\n";
$ctx = stream_context_create(['ssa' => ['cafile' => "$pki/unknown-root.pem"]]);
$fp = @stream_socket_client("ssa://localhost:$port", $errno, $errstr, 10, STREAM_CLIENT_CONNECT, $ctx);
var_dump($fp, $errno === SOCKET_EPROTO, str_contains($errstr, "certificate"));
?>
--EXPECT--
-- by name: the name is verified
bool(true)
int(0)
string(10) "ssa_socket"
bool(true)
int(12)
string(12) "enil maerts
"
string(13) "/CN=localhost"
string(9) "localhost"
string(0) ""
bool(true)
bool(true)
bool(true)
bool(true)
-- by address, with context options
bool(true)
string(9) "localhost"
int(0)
string(3) "cba"
-- socket_import_stream gives a Socket the socket_* functions treat as TLS
bool(true)
string(13) "/CN=localhost"
string(11) "tekcos aiv
"
-- the URL wrapper: fopen("ssa://host:port")
bool(true)
string(6) "nepof
"
-- fsockopen("ssa://host", port)
string(10) "nepokcosf
"
-- a verification failure in a context option's trust anchors
bool(false)
bool(true)
bool(true)

--TEST--
ssa:// stream transport, server: stream_socket_server/accept; certificates from the context or the policy; file_get_contents
--SKIPIF--
<?php require __DIR__ . '/ssa_test.inc'; ssa_test_skipif(['openssl']); ?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup(); // the policy serves the localhost chain

echo "-- certificate from the stream context\n";
$ctx = stream_context_create(['ssa' => [
    'local_cert' => "$pki/localhost-chain.pem",
    'local_pk' => "$pki/localhost.key",
]]);
$server = stream_socket_server("ssa://127.0.0.1:0", $errno, $errstr,
    STREAM_SERVER_BIND | STREAM_SERVER_LISTEN, $ctx);
var_dump(is_resource($server), ssa_is_tls($server));
$name = stream_socket_get_name($server, false);
$port = (int)substr(strrchr($name, ':'), 1);
var_dump(str_starts_with($name, "127.0.0.1:"), $port > 0);

$client = stream_socket_client("ssa://localhost:$port", $errno, $errstr, 10);
var_dump(is_resource($client));
$conn = stream_socket_accept($server, 10, $peer);
var_dump(is_resource($conn), str_starts_with($peer, "127.0.0.1:"));
var_dump(ssa_get_option($conn, TLS_HOSTNAME));
fwrite($client, "to the server\n");
var_dump(fgets($conn));
fwrite($conn, "to the client\n");
var_dump(fgets($client));
echo "-- stream_socket_shutdown(WR): close_notify, the other side reads EOF\n";
var_dump(stream_socket_shutdown($client, STREAM_SHUT_WR));
var_dump(fgets($conn), feof($conn));
fclose($conn);
fclose($client);

echo "-- openssl s_client as the client\n";
$s_client = new SsaTestProcess(['openssl', 's_client', '-connect', "127.0.0.1:$port",
    '-servername', 'localhost', '-CAfile', "$pki/ca.pem", '-verify_return_error', '-quiet']);
$conn = stream_socket_accept($server, 10);
fwrite($s_client->pipes[0], "from s_client\n");
var_dump(fgets($conn));
fwrite($conn, "from PHP\n");
var_dump(ssa_test_wait(fn() => str_contains($s_client->output(), "from PHP")) !== false);
fclose($conn);
$s_client->stop();
fclose($server);

echo "-- certificate from the policy, file_get_contents/file_put_contents in a child PHP\n";
$server = stream_socket_server("ssa://127.0.0.1:0", $errno, $errstr);
$port = (int)substr(strrchr(stream_socket_get_name($server, false), ':'), 1);
$dir = ssa_test_tmpdir();
file_put_contents("$dir/child.php", '<?php
var_dump(file_get_contents("ssa://localhost:" . $argv[1] . "/"));
var_dump(file_put_contents("ssa://localhost:" . $argv[1], "uploaded\n"));
');
$child = new SsaTestProcess(ssa_test_php(["$dir/child.php", $port]));
$conn = stream_socket_accept($server, 10);
fwrite($conn, "the whole content\n");
fclose($conn); // flushed, then close_notify: the child reads EOF
$conn = stream_socket_accept($server, 10);
var_dump(stream_get_contents($conn));
fclose($conn);
ssa_test_wait(fn() => !$child->running());
echo $child->output();
fclose($server);

?>
--EXPECT--
-- certificate from the stream context
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
string(9) "localhost"
string(14) "to the server
"
string(14) "to the client
"
-- stream_socket_shutdown(WR): close_notify, the other side reads EOF
bool(true)
bool(false)
bool(true)
-- openssl s_client as the client
string(14) "from s_client
"
bool(true)
-- certificate from the policy, file_get_contents/file_put_contents in a child PHP
string(9) "uploaded
"
string(18) "the whole content
"
int(9)

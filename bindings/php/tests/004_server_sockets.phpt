--TEST--
socket_* server: bind/listen/accept with the application's certificate; PHP and curl clients
--SKIPIF--
<?php require __DIR__ . '/ssa_test.inc'; ssa_test_skipif(['curl']); ?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup(server_certs: false); // the certificate comes from the options below

echo "-- no certificate in the options nor in the policy: listen fails and says why\n";
$l = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
socket_bind($l, "127.0.0.1", 0);
var_dump(@socket_listen($l), socket_last_error($l) !== 0, ssa_socket_error($l) !== '');
$server = @stream_socket_server("ssa://127.0.0.1:0", $errno, $errstr);
var_dump($server, $errstr === "Invalid argument (" . ssa_socket_error($l) . ")");
socket_close($l);

echo "-- certificate from the options\n";

$l = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
var_dump(socket_set_option($l, SOL_SOCKET, SO_REUSEADDR, 1));
var_dump(socket_set_option($l, IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, "$pki/localhost-chain.pem"));
var_dump(socket_set_option($l, IPPROTO_TLS, TLS_PRIVATE_KEY, "$pki/localhost.key"));
var_dump(socket_bind($l, "127.0.0.1", 0));
var_dump(socket_listen($l, 16));
var_dump(socket_getsockname($l, $addr, $port), $addr, $port > 0);
var_dump(socket_get_option($l, SOL_SOCKET, 30 /* SO_ACCEPTCONN */));

echo "-- a client in this process\n";
$c = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
var_dump(socket_connect($c, "localhost", $port)); // the engine handshakes both ends
$a = socket_accept($l);
var_dump($a instanceof Socket, ssa_is_tls($a));
var_dump(socket_get_option($a, IPPROTO_TLS, TLS_HOSTNAME)); // the SNI the client sent
var_dump(socket_getpeername($a, $peer, $peerport), $peer);
socket_getsockname($c, $caddr, $cport);
var_dump($peerport === $cport);
socket_write($c, "ping\n");
var_dump(socket_read($a, 100, PHP_NORMAL_READ));
socket_write($a, "pong\n");
var_dump(socket_read($c, 100, PHP_NORMAL_READ));
echo "-- half-close: shutdown(SHUT_WR) sends close_notify, reading goes on\n";
var_dump(socket_shutdown($c, 1));
var_dump(socket_read($a, 100)); // EOF after close_notify
socket_write($a, "after\n");
var_dump(socket_read($c, 100));
socket_close($a);
var_dump(socket_read($c, 100));
socket_close($c);

echo "-- a PHP client in another process (stream transport)\n";
$dir = ssa_test_tmpdir();
file_put_contents("$dir/client.php", '<?php
$fp = stream_socket_client("ssa://localhost:" . $argv[1], $errno, $errstr, 10);
if (!$fp) { echo "failed: $errstr\n"; exit(1); }
fwrite($fp, "hello from the child\n");
echo "child got: ", fgets($fp);
');
$child = new SsaTestProcess(ssa_test_php(["$dir/client.php", $port]));
$a = socket_accept($l);
var_dump(socket_read($a, 100, PHP_NORMAL_READ));
socket_write($a, "hello from the parent\n");
socket_close($a);
ssa_test_wait(fn() => !$child->running());
echo $child->output();

echo "-- curl\n";
$curl = new SsaTestProcess(['curl', '-sS', '--max-time', '20', '--cacert', "$pki/ca.pem",
    '--resolve', "localhost:$port:127.0.0.1", "https://localhost:$port/hello"]);
$a = socket_accept($l);
$request = '';
while (!str_contains($request, "\r\n\r\n") && ($chunk = socket_read($a, 4096)) !== false && $chunk !== '') {
    $request .= $chunk;
}
var_dump(strtok($request, "\r\n"));
$body = "hello from a PHP TLS server\n";
socket_write($a, "HTTP/1.1 200 OK\r\nContent-Length: " . strlen($body) . "\r\nConnection: close\r\n\r\n$body");
socket_close($a);
ssa_test_wait(fn() => !$curl->running());
echo $curl->output();
socket_close($l);
?>
--EXPECT--
-- no certificate in the options nor in the policy: listen fails and says why
bool(false)
bool(true)
bool(true)
bool(false)
bool(true)
-- certificate from the options
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
string(9) "127.0.0.1"
bool(true)
int(1)
-- a client in this process
bool(true)
bool(true)
bool(true)
string(9) "localhost"
bool(true)
string(9) "127.0.0.1"
bool(true)
string(5) "ping
"
string(5) "pong
"
-- half-close: shutdown(SHUT_WR) sends close_notify, reading goes on
bool(true)
string(0) ""
string(6) "after
"
string(0) ""
-- a PHP client in another process (stream transport)
string(21) "hello from the child
"
child got: hello from the parent
-- curl
string(19) "GET /hello HTTP/1.1"
hello from a PHP TLS server

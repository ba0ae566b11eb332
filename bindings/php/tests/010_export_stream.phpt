--TEST--
socket_export_stream of a TLS socket, socket_import_stream back; closing either end
--SKIPIF--
<?php require __DIR__ . '/ssa_test.inc'; ssa_test_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup();
$l = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
socket_bind($l, "127.0.0.1", 0);
socket_listen($l);
socket_getsockname($l, $addr, $port);
$fp = stream_socket_client("ssa://localhost:$port", $errno, $errstr, 10);
$a = socket_accept($l);

echo "-- socket_export_stream: the accepted TLS socket as a stream\n";
$as = socket_export_stream($a);
var_dump(is_resource($as), ssa_is_tls($as), socket_export_stream($a) === $as);
var_dump(stream_get_meta_data($as)['stream_type']);
fwrite($fp, "to the exported stream\n");
var_dump(fgets($as));
fwrite($as, "from the exported stream\n");
var_dump(fgets($fp));
var_dump(stream_socket_get_name($as, true) === stream_socket_get_name($fp, false));
socket_close($a); // closes the stream it was exported to: the client reads EOF
var_dump(is_resource($as), fgets($fp), feof($fp));
fclose($fp);

echo "-- socket_import_stream of an ssa:// stream, then closing the stream\n";
$fp = stream_socket_client("ssa://localhost:$port", $errno, $errstr, 10);
$a = socket_accept($l);
$s = socket_import_stream($fp);
var_dump(ssa_is_tls($s), socket_get_option($s, IPPROTO_TLS, TLS_PEER_IDENTITY));
var_dump(socket_getpeername($s, $peer, $pport), $pport === $port);
fclose($fp);
var_dump(socket_read($a, 10));
unset($s); // (socket_close() after fclose() throws in PHP itself, for TCP as well)
socket_close($a);
socket_close($l);
echo "done\n";
?>
--EXPECT--
-- socket_export_stream: the accepted TLS socket as a stream
bool(true)
bool(true)
bool(true)
string(10) "ssa_socket"
string(23) "to the exported stream
"
string(25) "from the exported stream
"
bool(true)
bool(false)
bool(false)
bool(true)
-- socket_import_stream of an ssa:// stream, then closing the stream
bool(true)
string(13) "/CN=localhost"
bool(true)
bool(true)
string(0) ""
done

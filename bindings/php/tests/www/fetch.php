<?php
/*
 * A page for PHP's built-in web server (009_builtin_server.phpt): fetches /hello.txt over TLS
 * from the HTTPS server on localhost:$_GET['port'] through SSA, and returns what it got.
 * ?api=sockets uses socket_*, otherwise the ssa:// stream transport.
 */
header('Content-Type: text/plain');
$port = (int)($_GET['port'] ?? 0);
$request = "GET /hello.txt HTTP/1.0\r\nHost: localhost\r\n\r\n";

if (($_GET['api'] ?? '') === 'sockets') {
    $s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
    if (!@socket_connect($s, 'localhost', $port)) {
        http_response_code(502);
        echo 'TLS failed: ', ssa_socket_error($s), "\n";
        return;
    }
    $peer = socket_get_option($s, IPPROTO_TLS, TLS_PEER_IDENTITY);
    socket_write($s, $request);
    $response = '';
    while (($chunk = socket_read($s, 8192)) !== false && $chunk !== '') {
        $response .= $chunk;
    }
    socket_close($s);
} else {
    $fp = @stream_socket_client("ssa://localhost:$port", $errno, $errstr, 10);
    if (!$fp) {
        http_response_code(502);
        echo "TLS failed: $errstr\n";
        return;
    }
    $peer = ssa_get_option($fp, TLS_PEER_IDENTITY);
    fwrite($fp, $request);
    $response = stream_get_contents($fp);
    fclose($fp);
}
[$head, $body] = explode("\r\n\r\n", $response, 2) + [1 => ''];
echo 'upstream: ', strtok($head, "\r\n"), "\n";
echo "peer: $peer\n";
echo $body;

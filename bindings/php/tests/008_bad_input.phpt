--TEST--
Bad input: PHP's usual TypeError/ValueError/Error, or a warning and false; never a crash
--SKIPIF--
<?php require __DIR__ . '/ssa_test.inc'; ssa_test_skipif(); ?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup();

function attempt(string $what, callable $f): void
{
    echo "$what: ";
    try {
        var_dump($f());
    } catch (Throwable $e) {
        echo get_class($e), ": ", $e->getMessage(), "\n";
    }
}

echo "-- socket_create\n";
attempt('datagram', fn() => socket_create(AF_INET, SOCK_DGRAM, IPPROTO_TLS));
attempt('AF_UNIX', fn() => socket_create(AF_UNIX, SOCK_STREAM, IPPROTO_TLS));
attempt('domain 99', fn() => socket_create(99, SOCK_STREAM, IPPROTO_TLS));
attempt('type 99', fn() => socket_create(AF_INET, 99, IPPROTO_TLS));
attempt('string domain', fn() => socket_create("x", SOCK_STREAM, IPPROTO_TLS));

echo "-- socket_set_option at IPPROTO_TLS\n";
$s = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
attempt('array', fn() => socket_set_option($s, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, []));
attempt('null byte', fn() => socket_set_option($s, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "local\0host"));
attempt('1 MiB name', fn() => socket_set_option($s, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, str_repeat("a", 1 << 20)));
attempt('name read back', fn() => socket_get_option($s, IPPROTO_TLS, TLS_REMOTE_HOSTNAME));
attempt('int option, word', fn() => socket_set_option($s, IPPROTO_TLS, TLS_VERSION_MIN, "abc"));
attempt('int option, numeric string', fn() => socket_set_option($s, IPPROTO_TLS, TLS_VERSION_MIN, "771"));
attempt('TLS 1.0', fn() => socket_set_option($s, IPPROTO_TLS, TLS_VERSION_MIN, 0x0301));
attempt('int too large', fn() => socket_set_option($s, IPPROTO_TLS, TLS_SESSION_TTL, PHP_INT_MAX));
attempt('missing file', fn() => socket_set_option($s, IPPROTO_TLS, TLS_TRUSTED_PEER_CERTIFICATES, "/nonexistent/ca.pem"));
attempt('unknown option', fn() => socket_set_option($s, IPPROTO_TLS, 129, 1));
attempt('option PHP_INT_MAX', fn() => socket_set_option($s, IPPROTO_TLS, PHP_INT_MAX, 1));
attempt('get-only option', fn() => socket_set_option($s, IPPROTO_TLS, TLS_PEER_IDENTITY, "x"));
attempt('get unknown', fn() => socket_get_option($s, IPPROTO_TLS, 99999));
attempt('peer before connect', fn() => socket_get_option($s, IPPROTO_TLS, TLS_PEER_IDENTITY));
attempt('TLS_ERROR', fn() => ssa_socket_error($s) !== '');
attempt('SO_RCVTIMEO string', fn() => socket_set_option($s, SOL_SOCKET, SO_RCVTIMEO, "x"));
attempt('SO_RCVTIMEO no usec', fn() => socket_set_option($s, SOL_SOCKET, SO_RCVTIMEO, ["sec" => 1]));
attempt('SO_RCVTIMEO', fn() => socket_set_option($s, SOL_SOCKET, SO_RCVTIMEO, ["sec" => 2, "usec" => 0]));
attempt('SO_RCVTIMEO read back', fn() => socket_get_option($s, SOL_SOCKET, SO_RCVTIMEO));
attempt('TLS_CONTEXT', function () use ($s) {
    $t = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
    return socket_set_option($t, IPPROTO_TLS, TLS_CONTEXT, socket_get_option($s, IPPROTO_TLS, TLS_CONTEXT));
});
attempt('TLS level on a TCP socket', fn() => socket_set_option(socket_create(AF_INET, SOCK_STREAM, SOL_TCP), IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "x"));

echo "-- addresses\n";
attempt('port 70000', fn() => socket_connect($s, "127.0.0.1", 70000));
attempt('port null', fn() => socket_connect($s, "127.0.0.1"));
attempt('null byte', fn() => socket_connect($s, "local\0host", 443));
attempt('300-byte name', fn() => socket_connect($s, str_repeat("a", 300), 443));
attempt('bind to IPv6 on AF_INET', fn() => socket_bind($s, "::1", 0));

echo "-- after connect, before-connect options fail with EISCONN\n";
$l = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
socket_bind($l, "127.0.0.1", 0);
socket_listen($l);
socket_getsockname($l, $addr, $port);
$c = socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS);
socket_connect($c, "localhost", $port);
attempt('TLS_REMOTE_HOSTNAME', fn() => socket_set_option($c, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost"));
attempt('second connect', fn() => socket_connect($c, "localhost", $port));

echo "-- closed sockets\n";
socket_close($c);
attempt('socket_connect', fn() => socket_connect($c, "127.0.0.1", 1));
attempt('socket_set_option', fn() => socket_set_option($c, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "x"));
attempt('socket_get_option', fn() => socket_get_option($c, IPPROTO_TLS, TLS_ERROR));
attempt('ssa_socket_error', fn() => ssa_socket_error($c));
attempt('socket_close again', fn() => socket_close($c));

echo "-- the module's functions\n";
attempt('int', fn() => ssa_socket_error(42));
attempt('memory stream', fn() => ssa_socket_error(fopen("php://memory", "r")));
attempt('closed stream', function () { $f = fopen("php://memory", "r"); fclose($f); return ssa_is_tls($f); });
attempt('TCP socket', fn() => ssa_socket_error(socket_create(AF_INET, SOCK_STREAM, SOL_TCP)));
attempt('ssa_get_option array', fn() => ssa_get_option($l, []));
attempt('ssa_set_option', fn() => ssa_set_option($l, TLS_HOSTNAME, new stdClass));

echo "-- the stream transport\n";
attempt('no port', fn() => stream_socket_client("ssa://localhost", $errno, $errstr, 5));
attempt('port 99999', fn() => stream_socket_client("ssa://localhost:99999", $errno, $errstr, 5));
attempt('bad IPv6', fn() => stream_socket_client("ssa://[::1:443", $errno, $errstr, 5));
attempt('cafile int', fn() => stream_socket_client("ssa://localhost:$port", $errno, $errstr, 5,
    STREAM_CLIENT_CONNECT, stream_context_create(['ssa' => ['cafile' => 5]])));
attempt('options by name', fn() => stream_socket_client("ssa://localhost:$port", $errno, $errstr, 5,
    STREAM_CLIENT_CONNECT, stream_context_create(['ssa' => ['options' => ['TLS_ALPN' => 'h2']]])));
attempt('options value array', fn() => stream_socket_client("ssa://localhost:$port", $errno, $errstr, 5,
    STREAM_CLIENT_CONNECT, stream_context_create(['ssa' => ['options' => [TLS_ALPN => []]]])));
attempt('enable crypto', function () use ($port) {
    $fp = stream_socket_client("ssa://localhost:$port", $errno, $errstr, 5);
    return stream_socket_enable_crypto($fp, true, STREAM_CRYPTO_METHOD_TLS_CLIENT);
});
echo "done\n";
?>
--EXPECTF--
-- socket_create
datagram: 
Warning: socket_create(): Unable to create socket [93]: Protocol not supported in %s on line %d
bool(false)
AF_UNIX: 
Warning: socket_create(): Unable to create socket [97]: Address family not supported by protocol in %s on line %d
bool(false)
domain 99: ValueError: socket_create(): Argument #1 ($domain) must be one of AF_UNIX, AF_INET6, or AF_INET
type 99: ValueError: socket_create(): Argument #2 ($type) must be one of SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW, or SOCK_RDM
string domain: TypeError: socket_create(): Argument #1 ($domain) must be of type int, string given
-- socket_set_option at IPPROTO_TLS
array: TypeError: socket_set_option(): Argument #4 ($value) must be of type string for option 85, array given
null byte: ValueError: socket_set_option(): Argument #4 ($value) must not contain any null bytes
1 MiB name: 
Warning: socket_set_option(): Unable to set socket option [22]: Invalid argument (%s) in %s on line %d
bool(false)
name read back: string(0) ""
int option, word: TypeError: socket_set_option(): Argument #4 ($value) must be of type int for option 111, string given
int option, numeric string: bool(true)
TLS 1.0: 
Warning: socket_set_option(): Unable to set socket option [22]: Invalid argument (%s) in %s on line %d
bool(false)
int too large: ValueError: socket_set_option(): Argument #4 ($value) must be between -2147483648 and 2147483647
missing file: 
Warning: socket_set_option(): Unable to set socket option [%d]: %s in %s on line %d
bool(false)
unknown option: 
Warning: socket_set_option(): Unable to set socket option [92]: Protocol not available%s in %s on line %d
bool(false)
option PHP_INT_MAX: 
Warning: socket_set_option(): Unable to set socket option [92]: Protocol not available%s in %s on line %d
bool(false)
get-only option: 
Warning: socket_set_option(): Unable to set socket option [92]: Protocol not available%s in %s on line %d
bool(false)
get unknown: 
Warning: socket_get_option(): Unable to retrieve socket option [92]: Protocol not available%s in %s on line %d
bool(false)
peer before connect: 
Warning: socket_get_option(): Unable to retrieve socket option [%d]: %s in %s on line %d
bool(false)
TLS_ERROR: bool(true)
SO_RCVTIMEO string: TypeError: socket_set_option(): Argument #4 ($value) must be of type array, string given
SO_RCVTIMEO no usec: ValueError: socket_set_option(): Argument #4 ($value) must have key "usec"
SO_RCVTIMEO: bool(true)
SO_RCVTIMEO read back: array(2) {
  ["sec"]=>
  int(2)
  ["usec"]=>
  int(0)
}
TLS_CONTEXT: bool(true)
TLS level on a TCP socket: 
Warning: socket_set_option(): Unable to set socket option [92]: Protocol not available in %s on line %d
bool(false)
-- addresses
port 70000: ValueError: socket_connect(): Argument #3 ($port) must be between 0 and 65535
port null: ValueError: socket_connect(): Argument #3 ($port) cannot be null when the socket type is AF_INET
null byte: ValueError: socket_connect(): Argument #2 ($address) must not contain any null bytes
300-byte name: ValueError: socket_connect(): Argument #2 ($address) must be a host name of at most 254 bytes
bind to IPv6 on AF_INET: 
Warning: socket_bind(): Host lookup failed for "::1" in %s on line %d
bool(false)
-- after connect, before-connect options fail with EISCONN
TLS_REMOTE_HOSTNAME: 
Warning: socket_set_option(): Unable to set socket option [106]: Transport endpoint is already connected%s in %s on line %d
bool(false)
second connect: 
Warning: socket_connect(): unable to connect [106]: Transport endpoint is already connected%s in %s on line %d
bool(false)
-- closed sockets
socket_connect: Error: socket_connect(): Argument #1 ($socket) has already been closed
socket_set_option: Error: socket_set_option(): Argument #1 ($socket) has already been closed
socket_get_option: Error: socket_get_option(): Argument #1 ($socket) has already been closed
ssa_socket_error: Error: ssa_socket_error(): Argument #1 ($socket) has already been closed
socket_close again: Error: socket_close(): Argument #1 ($socket) has already been closed
-- the module's functions
int: TypeError: ssa_socket_error(): Argument #1 ($socket) must be of type Socket|resource, int given
memory stream: TypeError: ssa_socket_error(): Argument #1 ($socket) must be a socket stream
closed stream: TypeError: ssa_is_tls(): supplied resource is not a valid stream resource
TCP socket: bool(false)
ssa_get_option array: TypeError: ssa_get_option(): Argument #2 ($option) must be of type int, array given
ssa_set_option: TypeError: ssa_set_option(): Argument #3 ($value) must be of type string for option 86, stdClass given
-- the stream transport
no port: 
Warning: stream_socket_client(): Unable to connect to ssa://localhost (Failed to parse address "localhost": use host:port or [IPv6]:port) in %s on line %d
bool(false)
port 99999: 
Warning: stream_socket_client(): Unable to connect to ssa://localhost:99999 (Failed to parse address "localhost:99999": use host:port or [IPv6]:port) in %s on line %d
bool(false)
bad IPv6: 
Warning: stream_socket_client(): Unable to connect to ssa://[::1:443 (Failed to parse address "[::1:443": use host:port or [IPv6]:port) in %s on line %d
bool(false)
cafile int: 
Warning: stream_socket_client(): Unable to connect to ssa://localhost:%d (ssa context option "cafile" must be of type string, int given) in %s on line %d
bool(false)
options by name: 
Warning: stream_socket_client(): Unable to connect to ssa://localhost:%d (ssa context option "options" takes TLS_* option numbers as keys, not "TLS_ALPN") in %s on line %d
bool(false)
options value array: 
Warning: stream_socket_client(): Unable to connect to ssa://localhost:%d (ssa context option options[90]: Invalid argument) in %s on line %d
bool(false)
enable crypto: 
Warning: stream_socket_enable_crypto(): %s in %s on line %d
bool(false)
done

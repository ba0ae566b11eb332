--TEST--
A page served by PHP's built-in web server fetches over TLS through SSA (tested with curl)
--SKIPIF--
<?php require __DIR__ . '/ssa_test.inc'; ssa_test_skipif(['openssl', 'curl']); ?>
--FILE--
<?php
require __DIR__ . '/ssa_test.inc';
$pki = ssa_test_setup();
var_dump(getenv('LD_PRELOAD'));

// The upstream: openssl s_server -WWW serving a file over HTTPS.
$docs = ssa_test_tmpdir();
file_put_contents("$docs/hello.txt", "hello through SSA\n");
$upstream = ssa_test_s_server('localhost', ['-WWW'], $docs);
$uport = $upstream->port();

// php -S on a free port, with this PHP's extensions and the same policy (SSA_CONFIG).
for ($try = 0; $try < 5; $try++) {
    $probe = stream_socket_server("tcp://127.0.0.1:0");
    $port = (int)substr(strrchr(stream_socket_get_name($probe, false), ':'), 1);
    fclose($probe);
    $web = new SsaTestProcess(ssa_test_php(['-S', "127.0.0.1:$port", '-t', __DIR__ . '/www']));
    if (ssa_test_wait(fn() => str_contains($web->output(), 'started') || !$web->running())
        && $web->running()) {
        break;
    }
}

function curl(string $url): string
{
    [$status, $out] = ssa_test_run(['curl', '-sS', '--max-time', '20', '-w', '[%{http_code}]', $url]);
    return $out;
}

echo curl("http://127.0.0.1:$port/fetch.php?port=$uport"), "\n";
echo curl("http://127.0.0.1:$port/fetch.php?port=$uport&api=sockets"), "\n";

// A wrong name: the page reports the verification failure.
$wrong = ssa_test_s_server('wronghost', ['-WWW'], $docs);
echo curl("http://127.0.0.1:$port/fetch.php?port=" . $wrong->port()), "\n";
?>
--EXPECT--
bool(false)
upstream: HTTP/1.0 200 ok
peer: /CN=localhost
hello through SSA
[200]
upstream: HTTP/1.0 200 ok
peer: /CN=localhost
hello through SSA
[200]
TLS failed: Protocol error (certificate verification failed: certificate is not valid for localhost)
[502]

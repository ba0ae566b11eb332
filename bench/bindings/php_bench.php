<?php
/*
 * PHP side of bench/bindings.sh: one server and one client, TLS from PHP's own tls:// stream
 * transport (openssl extension, "native") or from the SSA extension's ssa:// transport ("ssa").
 *
 *   php -d extension=ssa.so php_bench.php server --variant native|ssa --cert CHAIN --key KEY
 *       listens on 127.0.0.1, port 0; prints "PORT n", then serves one connection after the
 *       other until killed.
 *   php -d extension=ssa.so php_bench.php client --variant native|ssa --port P --ca CA.pem
 *       --scenario bulk --bytes N | --scenario handshake --conns C
 *       prints one "RESULT key=value ..." line.
 *
 * Wire protocol (the same in every language): the client's first byte says the scenario.
 *   'B' + 8-byte big-endian N + N bytes -> the server reads and discards them, replies 1 byte.
 *   'H'                                 -> the server replies 1 byte; both close.
 * Both variants: TLS 1.3 only, the server certificate verified against CA.pem for "localhost",
 * TCP_NODELAY on both ends.  Sessions: ssa:// sets TLS_SESSION_REUSE = 0 (client) and
 * TLS_SESSION_TTL = 0 (server); tls:// has no client session cache at all (every stream gets a
 * new SSL_CTX and PHP never offers a session), and the server is asked for no tickets.
 */

const CHUNK = 262144;
const HOST = '127.0.0.1';
const NAME = 'localhost';

function fail(string $msg): void
{
    fwrite(STDERR, "php_bench: $msg\n");
    exit(1);
}

function opts(array $argv): array
{
    $o = ['role' => $argv[1] ?? '', 'bytes' => 256 << 20, 'conns' => 500];
    for ($i = 2; $i < count($argv); $i += 2) {
        if (substr($argv[$i], 0, 2) !== '--' || !isset($argv[$i + 1]))
            fail("bad argument {$argv[$i]}");
        $o[substr($argv[$i], 2)] = $argv[$i + 1];
    }
    if (!in_array($o['variant'] ?? '', ['native', 'ssa'], true))
        fail('--variant native|ssa');
    return $o;
}

/* TCP_NODELAY on the TCP connection under a stream (for ssa://, libssa applies the option
 * of level SOL_TCP to the TCP socket it holds). */
function nodelay($fp): void
{
    $s = socket_import_stream($fp);
    if ($s === false || !socket_set_option($s, SOL_TCP, TCP_NODELAY, 1))
        fail('TCP_NODELAY failed');
}

function server_context(array $o)
{
    if ($o['variant'] === 'native')
        return stream_context_create([
            'ssl' => [
                'local_cert' => $o['cert'],
                'local_pk' => $o['key'],
                'crypto_method' => STREAM_CRYPTO_METHOD_TLSv1_3_SERVER,
                'no_ticket' => true,
            ],
            'socket' => ['tcp_nodelay' => true, 'backlog' => 128],
        ]);
    return stream_context_create([
        'ssa' => [
            'local_cert' => $o['cert'],
            'local_pk' => $o['key'],
            'options' => [TLS_VERSION_MIN => TLS_1_3, TLS_SESSION_TTL => 0],
        ],
        'socket' => ['backlog' => 128],
    ]);
}

function client_context(array $o)
{
    if ($o['variant'] === 'native')
        return stream_context_create([
            'ssl' => [
                'verify_peer' => true,
                'verify_peer_name' => true,
                'allow_self_signed' => false,
                'peer_name' => NAME,
                'cafile' => $o['ca'],
                'crypto_method' => STREAM_CRYPTO_METHOD_TLSv1_3_CLIENT,
            ],
            'socket' => ['tcp_nodelay' => true],
        ]);
    return stream_context_create([
        'ssa' => [
            'peer_name' => NAME,
            'cafile' => $o['ca'],
            'options' => [TLS_VERSION_MIN => TLS_1_3, TLS_SESSION_REUSE => 0],
        ],
    ]);
}

function connect(array $o, $ctx)
{
    $scheme = $o['variant'] === 'native' ? 'tls' : 'ssa';
    $fp = stream_socket_client("$scheme://" . HOST . ":{$o['port']}", $errno, $errstr, 30,
        STREAM_CLIENT_CONNECT, $ctx);
    if ($fp === false)
        fail("connect: $errno $errstr");
    if ($o['variant'] === 'ssa')
        nodelay($fp);
    stream_set_read_buffer($fp, 0);
    stream_set_write_buffer($fp, 0);
    stream_set_chunk_size($fp, CHUNK);
    return $fp;
}

function negotiated(array $o, $fp): array
{
    if ($o['variant'] === 'native') {
        $c = stream_get_meta_data($fp)['crypto'] ?? [];
        return [str_replace('TLSv', '', $c['protocol'] ?? 'unknown'), $c['cipher_name'] ?? 'unknown'];
    }
    $v = ssa_get_option($fp, TLS_VERSION_CONN);
    $names = [TLS_1_3 => '1.3', TLS_1_2 => '1.2'];
    return [$names[$v] ?? (string)$v, ssa_get_option($fp, TLS_CHOSEN_CIPHER)];
}

/* 1 or 0 where the variant can tell, else null. */
function resumed(array $o, $fp): ?int
{
    return $o['variant'] === 'ssa' ? (int)ssa_get_option($fp, TLS_RESUMED_SESSION) : null;
}

function read_exact($fp, int $n): string
{
    $s = '';
    while (strlen($s) < $n) {
        $d = fread($fp, $n - strlen($s));
        if ($d === false || $d === '') {
            if (feof($fp))
                throw new RuntimeException('peer closed early');
            continue;
        }
        $s .= $d;
    }
    return $s;
}

function write_all($fp, string $data): void
{
    $len = strlen($data);
    for ($off = 0; $off < $len;) {
        $k = fwrite($fp, $off === 0 ? $data : substr($data, $off));
        if ($k === false || $k === 0)
            throw new RuntimeException('write failed');
        $off += $k;
    }
}

function serve(array $o): void
{
    $scheme = $o['variant'] === 'native' ? 'tls' : 'ssa';
    $ls = stream_socket_server("$scheme://" . HOST . ':0', $errno, $errstr,
        STREAM_SERVER_BIND | STREAM_SERVER_LISTEN, server_context($o));
    if ($ls === false)
        fail("listen: $errno $errstr");
    $name = stream_socket_get_name($ls, false);
    echo 'PORT ', substr($name, strrpos($name, ':') + 1), "\n";
    fflush(STDOUT);
    for (;;) {
        $c = @stream_socket_accept($ls, 86400);  // tls://: the handshake happens here
        if ($c === false) {
            fwrite(STDERR, 'accept: ' . (error_get_last()['message'] ?? '?') . "\n");
            continue;
        }
        try {
            if ($o['variant'] === 'ssa')
                nodelay($c);
            stream_set_read_buffer($c, 0);
            stream_set_write_buffer($c, 0);
            stream_set_chunk_size($c, CHUNK);
            $op = read_exact($c, 1);
            if ($op === 'B') {
                $left = unpack('J', read_exact($c, 8))[1];
                while ($left > 0) {
                    $d = fread($c, min($left, CHUNK));
                    if ($d === false || $d === '') {
                        if (feof($c))
                            throw new RuntimeException('client closed early');
                        continue;
                    }
                    $left -= strlen($d);
                }
                write_all($c, 'k');
            } elseif ($op === 'H') {
                write_all($c, 'h');
            } else {
                throw new RuntimeException("unknown scenario byte $op");
            }
        } catch (RuntimeException $e) {
            fwrite(STDERR, 'connection: ' . $e->getMessage() . "\n");
        }
        fclose($c);
    }
}

function client(array $o): void
{
    $ctx = client_context($o);
    if ($o['scenario'] === 'bulk') {
        $n = (int)$o['bytes'];
        $data = random_bytes(CHUNK);
        $fp = connect($o, $ctx);
        [$version, $cipher] = negotiated($o, $fp);
        $t0 = hrtime(true);
        write_all($fp, 'B' . pack('J', $n));
        for ($left = $n; $left > 0; $left -= $k) {
            $k = min($left, CHUNK);
            write_all($fp, $k === CHUNK ? $data : substr($data, 0, $k));
        }
        if (read_exact($fp, 1) !== 'k')
            fail('bad receipt');
        $dt = (hrtime(true) - $t0) / 1e9;
        fclose($fp);
        printf("RESULT scenario=bulk bytes=%d secs=%.4f mibps=%.1f tls=%s cipher=%s\n",
            $n, $dt, $n / $dt / 1048576, $version, $cipher);
        return;
    }
    $conns = (int)$o['conns'];
    $resumed = 0;
    $known = true;
    // One untimed connection first: contexts, trust store, engine threads.
    $fp = connect($o, $ctx);
    [$version, $cipher] = negotiated($o, $fp);
    write_all($fp, 'H');
    read_exact($fp, 1);
    fclose($fp);
    $t0 = hrtime(true);
    for ($i = 0; $i < $conns; $i++) {
        $fp = connect($o, $ctx);
        write_all($fp, 'H');
        if (read_exact($fp, 1) !== 'h')
            fail('bad reply');
        $r = resumed($o, $fp);
        if ($r === null)
            $known = false;
        else
            $resumed += $r;
        fclose($fp);
    }
    $dt = (hrtime(true) - $t0) / 1e9;
    printf("RESULT scenario=handshake conns=%d concurrency=1 secs=%.4f hps=%.1f resumed=%s tls=%s cipher=%s\n",
        $conns, $dt, $conns / $dt, $known ? $resumed : 'unknown', $version, $cipher);
}

$o = opts($argv);
if ($o['role'] === 'server')
    serve($o);
elseif ($o['role'] === 'client')
    client($o);
else
    fail('role server or client');

--TEST--
Constants of <ssa/in_tls.h> and the module's own functions
--SKIPIF--
<?php if (!extension_loaded('ssa')) die('skip ssa extension not loaded'); ?>
--FILE--
<?php
$expected = [
    'IPPROTO_TLS' => 205, 'TLS_REMOTE_HOSTNAME' => 85, 'TLS_HOSTNAME' => 86,
    'TLS_TRUSTED_PEER_CERTIFICATES' => 87, 'TLS_CERTIFICATE_CHAIN' => 88, 'TLS_PRIVATE_KEY' => 89,
    'TLS_ALPN' => 90, 'TLS_SESSION_TTL' => 91, 'TLS_DISABLE_CIPHER' => 92,
    'TLS_PEER_IDENTITY' => 93, 'TLS_REQUEST_PEER_AUTH' => 94, 'TLS_PEER_CERTIFICATE_CHAIN' => 95,
    'TLS_ID' => 96, 'TLS_TRUSTED_CIPHERS' => 97, 'TLS_CHOSEN_CIPHER' => 98, 'TLS_ERROR' => 100,
    'TLS_REVOCATION_CHECKS' => 102, 'TLS_OCSP_STAPLED_CHECKS' => 103, 'TLS_OCSP_CHECKS' => 104,
    'TLS_CRL_CHECKS' => 105, 'TLS_CACHED_REV_CHECKS' => 106, 'TLS_CONTEXT' => 107,
    'TLS_SESSION_REUSE' => 108, 'TLS_RESUMED_SESSION' => 109, 'TLS_ENABLE_CIPHER' => 110,
    'TLS_VERSION_MIN' => 111, 'TLS_VERSION_MAX' => 112, 'TLS_VERSION_CONN' => 113,
    'TLS_SERVER_OCSP_STAPLING' => 122, 'TLS_1_2' => 0x0303, 'TLS_1_3' => 0x0304,
    'TCP_UPGRADE_TLS' => 33, 'AF_HOSTNAME' => 43,
];
$bad = 0;
foreach ($expected as $name => $value) {
    if (!defined($name) || constant($name) !== $value) {
        echo "$name: ", defined($name) ? var_export(constant($name), true) : 'undefined', "\n";
        $bad++;
    }
}
echo count($expected) - $bad, " of ", count($expected), " constants right\n";
foreach (['ssa_socket_error', 'ssa_is_tls', 'ssa_get_option', 'ssa_set_option', 'ssa_version'] as $f) {
    echo $f, ': ', function_exists($f) ? 'yes' : 'no', "\n";
}
var_dump((bool)preg_match('/^\d+\.\d+/', ssa_version()));
var_dump(in_array('ssa', stream_get_transports(), true));
var_dump(in_array('ssa', stream_get_wrappers(), true));
?>
--EXPECT--
33 of 33 constants right
ssa_socket_error: yes
ssa_is_tls: yes
ssa_get_option: yes
ssa_set_option: yes
ssa_version: yes
bool(true)
bool(true)
bool(true)

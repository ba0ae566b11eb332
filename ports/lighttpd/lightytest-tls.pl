# perl lightytest-tls.pl <LightyTest.pm >LightyTest-tls.pm
#
# Turns lighttpd's tests/LightyTest.pm into a harness that runs lighttpd's own tests over TLS:
# each server makes its own listener (the bind override the harness writes for platforms
# without socket activation) with ssl.engine, ssl.pemfile $TLS_RUN_PEM and ssl.privkey
# $TLS_RUN_KEY; each request goes over an IPPROTO_TLS socket to "localhost", so perl must run
# with libssa preloaded (ssa-run) and a policy that trusts the certificate's CA (SSA_CONFIG).
use strict;
use warnings;
local $/;
my $s = <STDIN>;
my $n = 0;
$n += $s =~ s/if \(\$\^O eq "MSWin32"\) \{/if (1) { # TLS run: lighttpd makes its own listener/;
$n += $s =~ s/(server\.port = \$ENV\{'PORT'\}\n)/$1ssl.engine = "enable"\nssl.pemfile = "\$ENV{'TLS_RUN_PEM'}"\nssl.privkey = "\$ENV{'TLS_RUN_KEY'}"\n/;
$n += $s =~ s/my \$remote =\n\t\tIO::Socket::INET->new\(\n\t\t\tProto    => "tcp",\n\t\t\tPeerAddr => \$host,\n\t\t\tPeerPort => \$self->\{PORT\}\);/my \$remote = IO::Socket->new;
	\$remote->socket(Socket::PF_INET(), Socket::SOCK_STREAM(), 205) # IPPROTO_TLS
	  && \$remote->setsockopt(205, 85, "localhost") # TLS_REMOTE_HOSTNAME
	  && \$remote->connect(Socket::pack_sockaddr_in(\$self->{PORT}, Socket::inet_aton(\$host)))
	  or undef \$remote;/;
die "lightytest-tls.pl: $n of 3 changes applied\n" unless $n == 3;
print $s;

package ssa

/*
#include <poll.h>
#include <ssa/ssa.h>

// A poll with no wait: the fd of a TLS connect becomes writable only when the handshake ended.
static int ssa_go_writable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	return poll(&p, 1, 0) > 0;
}
*/
import "C"

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Dialer holds the options of outgoing connections. The zero value verifies the server
// against the name in the address with the administrator's policy.
type Dialer struct {
	Timeout      time.Duration // whole dial, including the handshake; 0: the policy's limit
	ServerName   string        // name to verify and send as SNI instead of the address's host
	RootCAs      string        // PEM file or directory of trust anchors replacing the policy's
	Certificates []CertFile    // client certificates, for servers that ask for one
	ALPN         []string      // protocols to offer, most preferred first
	MinVersion   uint16        // VersionTLS12 or VersionTLS13; 0: the policy's
	MaxVersion   uint16
}

// Dial connects to address ("host:port") over TLS and verifies the server's certificate
// against host. network is "tls", "tls4" or "tls6".
func Dial(network, address string) (net.Conn, error) {
	return new(Dialer).DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context bounding resolution, connection and handshake.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return new(Dialer).DialContext(ctx, network, address)
}

func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext resolves the host and tries each of its addresses in turn. The result is a
// *Conn.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.dial(ctx, network, address)
	if err != nil {
		var oe *net.OpError
		if !errors.As(err, &oe) {
			err = &net.OpError{Op: "dial", Net: network, Err: err}
		}
		return nil, err
	}
	return c, nil
}

func (d *Dialer) dial(ctx context.Context, network, address string) (*Conn, error) {
	fam, err := family(network)
	if err != nil {
		return nil, err
	}
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if host == "" {
		return nil, &net.AddrError{Err: "missing host", Addr: address}
	}
	port, err := net.DefaultResolver.LookupPort(ctx, "tcp", service)
	if err != nil {
		return nil, err
	}
	o := options{hostname: d.ServerName, hostOpt: C.TLS_REMOTE_HOSTNAME, rootCAs: d.RootCAs,
		certs: d.Certificates, alpn: d.ALPN, minV: d.MinVersion, maxV: d.MaxVersion}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		// With no name set, the library verifies the certificate against the IP address.
		addrs = []netip.Addr{ip.Unmap()}
	} else {
		if o.hostname == "" {
			o.hostname = host
		}
		if len(o.hostname) > 255 {
			return nil, &Error{Errno: syscall.EINVAL, Reason: "host name longer than 255 bytes"}
		}
		if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
	}
	var first error
	for _, a := range addrs {
		if a = a.Unmap(); !fits(fam, a) {
			continue
		}
		c, err := o.connect(ctx, netip.AddrPortFrom(a, uint16(port)))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = &net.OpError{Op: "dial", Net: network,
				Addr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(port))), Err: err}
		}
		if ctx.Err() != nil {
			break
		}
	}
	if first == nil {
		first = &net.AddrError{Err: "no suitable address", Addr: host}
	}
	return nil, first
}

// connect makes one TLS connection: connect(2) on a non-blocking socket, then a wait in Go's
// poller for the fd to become writable, which the library makes happen only once the
// handshake and verification have ended.
func (o *options) connect(ctx context.Context, ap netip.AddrPort) (*Conn, error) {
	fam := syscall.AF_INET6
	if ap.Addr().Is4() {
		fam = syscall.AF_INET
	}
	fd, err := newSocket(fam)
	if err != nil {
		return nil, err
	}
	c, err := o.connectFD(ctx, fd, ap)
	if err != nil {
		if c != nil {
			c.Close()
		} else {
			C.ssa_close(fd)
		}
		return nil, err
	}
	return c, nil
}

func (o *options) connectFD(ctx context.Context, fd C.int, ap netip.AddrPort) (*Conn, error) {
	if err := o.apply(fd); err != nil {
		return nil, err
	}
	c, err := newConn(fd)
	if err != nil {
		return nil, err
	}
	sa, n := toSockaddr(ap)
	if rc, err := C.ssa_connect(fd, sa.ptr(), C.socklen_t(n)); rc < 0 && err != syscall.EINPROGRESS {
		return c, sysErr(fd, err)
	} else if rc < 0 {
		if err := c.waitConnect(ctx); err != nil {
			return c, err
		}
	}
	return c, c.setAddrs()
}

var longAgo = time.Unix(1, 0)

func (c *Conn) waitConnect(ctx context.Context) error {
	raw, err := c.nc.SyscallConn()
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetWriteDeadline(dl)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // cancellation interrupts the poller wait through the deadline
		select {
		case <-ctx.Done():
			c.nc.SetWriteDeadline(longAgo)
		case <-stop:
		}
		close(done)
	}()
	var soerr int
	var gerr error
	err = raw.Write(func(s uintptr) bool {
		if C.ssa_go_writable(C.int(s)) == 0 {
			return false // not yet: wait for the poller's next wake-up
		}
		soerr, gerr = getInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		return true
	})
	close(stop)
	<-done
	c.nc.SetWriteDeadline(time.Time{})
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return context.DeadlineExceeded // the poller's timer ran just before the context's
	case err != nil:
		return err
	case gerr != nil:
		return gerr
	case soerr != 0:
		return &Error{Errno: syscall.Errno(soerr), Reason: lastError(c.fd)}
	}
	return nil
}

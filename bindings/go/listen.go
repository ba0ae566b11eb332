package ssa

// #include <ssa/ssa.h>
import "C"

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
)

// ListenConfig holds the options of a TLS listener. Without Certificates the server's
// certificates come from the administrator's policy.
type ListenConfig struct {
	Certificates []CertFile // several: chosen by the client's SNI, the first is the default
	ALPN         []string   // protocols to accept, most preferred first
	ServerName   string     // serve only this name (TLS_HOSTNAME)
	MinVersion   uint16
	MaxVersion   uint16
	Backlog      int // 0: 128
}

// Listen listens on address ("host:port", host may be empty) for TLS connections with the
// policy's certificates. network is "tls", "tls4" or "tls6".
func Listen(network, address string) (net.Listener, error) {
	return new(ListenConfig).Listen(context.Background(), network, address)
}

// Listen returns a *Listener; ctx bounds only the resolution of address.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	l, err := lc.listen(ctx, network, address)
	if err != nil {
		var oe *net.OpError
		if !errors.As(err, &oe) {
			err = &net.OpError{Op: "listen", Net: network, Err: err}
		}
		return nil, err
	}
	return l, nil
}

func (lc *ListenConfig) listen(ctx context.Context, network, address string) (*Listener, error) {
	fam, err := family(network)
	if err != nil {
		return nil, err
	}
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := net.DefaultResolver.LookupPort(ctx, "tcp", service)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	switch {
	case host != "":
		if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
	case fam == syscall.AF_INET:
		addrs = []netip.Addr{netip.IPv4Unspecified()}
	case fam == syscall.AF_INET6:
		addrs = []netip.Addr{netip.IPv6Unspecified()}
	default: // "tls" on all addresses: dual stack if the host has IPv6
		addrs = []netip.Addr{netip.IPv6Unspecified(), netip.IPv4Unspecified()}
	}
	o := options{hostname: lc.ServerName, hostOpt: C.TLS_HOSTNAME, certs: lc.Certificates,
		alpn: lc.ALPN, minV: lc.MinVersion, maxV: lc.MaxVersion}
	backlog := lc.Backlog
	if backlog <= 0 {
		backlog = 128
	}
	var first error
	for _, a := range addrs {
		if a = a.Unmap(); !fits(fam, a) {
			continue
		}
		ap := netip.AddrPortFrom(a, uint16(port))
		l, err := o.listen(ap, backlog)
		if err == nil {
			return l, nil
		}
		if first == nil {
			first = &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
		}
	}
	if first == nil {
		first = &net.AddrError{Err: "no suitable address", Addr: host}
	}
	return nil, first
}

func (o *options) listen(ap netip.AddrPort, backlog int) (*Listener, error) {
	fam := syscall.AF_INET6
	if ap.Addr().Is4() {
		fam = syscall.AF_INET
	}
	fd, err := newSocket(fam)
	if err != nil {
		return nil, err
	}
	l, err := o.listenFD(fd, ap, backlog)
	if err != nil {
		C.ssa_close(fd)
		return nil, err
	}
	return l, nil
}

func (o *options) listenFD(fd C.int, ap netip.AddrPort, backlog int) (*Listener, error) {
	// As Go's own listeners do, so that a restarted server can bind at once.
	if err := setInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return nil, err
	}
	if err := o.apply(fd); err != nil {
		return nil, err
	}
	sa, n := toSockaddr(ap)
	if rc, err := C.ssa_bind(fd, sa.ptr(), C.socklen_t(n)); rc < 0 {
		return nil, sysErr(fd, err)
	}
	if rc, err := C.ssa_listen(fd, C.int(backlog)); rc < 0 {
		return nil, sysErr(fd, err)
	}
	addr, err := tcpAddr(fd, false)
	if err != nil {
		return nil, err
	}
	f, err := dupFile(fd) // the library makes this readable when a handshaken connection waits
	if err != nil {
		return nil, err
	}
	l := &Listener{f: f, fd: fd, addr: addr}
	runtime.SetFinalizer(l, (*Listener).Close) // the library's descriptor is no os.File
	return l, nil
}

// Listener accepts TLS connections whose handshake has succeeded.
type Listener struct {
	f    *os.File // a duplicate of fd registered with Go's poller
	addr *net.TCPAddr

	mu sync.Mutex
	fd C.int // -1 once closed
}

// Accept waits for the next connection and returns it as a *Conn.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nfd, err := l.accept()
		if err != nil {
			return nil, l.opError(err)
		}
		c, err := newConn(nfd)
		if err != nil {
			C.ssa_close(nfd)
			return nil, l.opError(err) // EMFILE: http.Server waits and retries
		}
		if c.setAddrs() == nil {
			return c, nil
		}
		c.Close() // gone already: not worth failing Accept (and ending http.Server) for
	}
}

func (l *Listener) accept() (C.int, error) {
	raw, err := l.f.SyscallConn()
	if err != nil {
		return -1, err
	}
	var nfd C.int
	var aerr error
	err = raw.Read(func(uintptr) bool {
		// The poller's own descriptor is a dup: accept on the one the library knows. l.fd
		// stays open while we are here, as Close first waits for this call to leave.
		for {
			var errno error
			if nfd, errno = C.ssa_accept4(l.fd, nil, nil, C.SOCK_NONBLOCK|C.SOCK_CLOEXEC); nfd >= 0 {
				return true
			}
			switch errno {
			case syscall.EINTR, syscall.ECONNABORTED:
				continue
			case syscall.EAGAIN:
				return false // wait for the poller; it is edge-triggered, so only on EAGAIN
			}
			aerr = sysErr(l.fd, errno)
			return true
		}
	})
	if err != nil {
		return -1, net.ErrClosed // the listener has no deadlines: only Close fails the poller
	}
	return nfd, aerr
}

func (l *Listener) opError(err error) error {
	return &net.OpError{Op: "accept", Net: "tls", Addr: l.addr, Err: err}
}

// Close stops listening; a pending Accept returns net.ErrClosed.
func (l *Listener) Close() error {
	err := l.f.Close() // wakes Accept and waits for it to leave
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return &net.OpError{Op: "close", Net: "tls", Addr: l.addr, Err: net.ErrClosed}
	}
	C.ssa_close(l.fd)
	l.fd = -1
	return err
}

// Addr is the TCP address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.addr }

var _ net.Listener = (*Listener)(nil)

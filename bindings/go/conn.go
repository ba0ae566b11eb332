package ssa

// #include <ssa/ssa.h>
import "C"

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Conn is a TLS connection. Reads, writes and deadlines go through Go's poller on a duplicate
// of the descriptor; option getters and Close go through the library on the original.
type Conn struct {
	nc           *net.UnixConn
	laddr, raddr *net.TCPAddr

	mu sync.RWMutex // keeps fd from being closed (and its number reused) under a getter
	fd C.int        // -1 once closed
}

// newConn wraps a TLS descriptor whose handshake has ended (or is pending, for connect).
func newConn(fd C.int) (*Conn, error) {
	f, err := dupFile(fd)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: nc.(*net.UnixConn), fd: fd}
	runtime.SetFinalizer(c, (*Conn).Close) // the library's descriptor is no os.File
	// As Go's net package does for every TCP connection: without it a small write waits
	// for the peer's delayed ACK (about 40 ms) whenever Nagle holds it back.
	_ = setInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	return c, nil
}

// setAddrs records the TCP addresses once the handshake has ended.
func (c *Conn) setAddrs() error {
	var err error
	if c.laddr, err = tcpAddr(c.fd, false); err != nil {
		return err
	}
	c.raddr, err = tcpAddr(c.fd, true)
	return err
}

// opError presents errors of the Unix socket pair as errors of the TLS connection.
func (c *Conn) opError(op string, err error) error {
	var oe *net.OpError
	if err == nil || err == io.EOF || !errors.As(err, &oe) {
		return err
	}
	e := &net.OpError{Op: op, Net: "tls", Source: c.laddr, Addr: c.raddr, Err: oe.Err}
	var errno syscall.Errno
	if errors.As(oe.Err, &errno) {
		e.Err = &Error{Errno: errno, Reason: c.reason()}
	}
	return e
}

func (c *Conn) reason() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.fd < 0 {
		return ""
	}
	return lastError(c.fd)
}

func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.nc.Read(b)
	return n, c.opError("read", err)
}

func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.nc.Write(b)
	return n, c.opError("write", err)
}

// Close flushes what was written, sends close_notify and releases the socket. It unblocks
// Read and Write calls of other goroutines.
func (c *Conn) Close() error {
	err := c.nc.Close() // wakes blocked calls and waits for them to leave
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return c.opError("close", err)
	}
	C.ssa_close(c.fd)
	c.fd = -1
	return c.opError("close", err)
}

// CloseWrite sends close_notify and a TCP FIN; the connection stays readable.
func (c *Conn) CloseWrite() error {
	return c.withFD("shutdown", func(fd C.int) error {
		if rc, err := C.ssa_shutdown(fd, C.SHUT_WR); rc < 0 {
			return sysErr(fd, err)
		}
		return nil
	})
}

func (c *Conn) LocalAddr() net.Addr                { return c.laddr }
func (c *Conn) RemoteAddr() net.Addr               { return c.raddr }
func (c *Conn) SetDeadline(t time.Time) error      { return c.nc.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.nc.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// withFD runs f on the library's descriptor unless the connection is closed.
func (c *Conn) withFD(op string, f func(C.int) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var err error
	if c.fd < 0 {
		err = net.ErrClosed
	} else if err = f(c.fd); err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "tls", Source: c.laddr, Addr: c.raddr, Err: err}
}

func (c *Conn) str(opt int) (s string, err error) {
	err = c.withFD("getsockopt", func(fd C.int) (e error) { s, e = getString(fd, opt); return })
	return
}

func (c *Conn) int(opt int) (v int, err error) {
	err = c.withFD("getsockopt", func(fd C.int) (e error) { v, e = getInt(fd, C.IPPROTO_TLS, opt); return })
	return
}

// PeerIdentity is the verified subject of the peer's certificate, in one-line form.
func (c *Conn) PeerIdentity() (string, error) { return c.str(C.TLS_PEER_IDENTITY) }

// PeerCertificateChain is the peer's chain as PEM, leaf first.
func (c *Conn) PeerCertificateChain() (string, error) { return c.str(C.TLS_PEER_CERTIFICATE_CHAIN) }

// NegotiatedProtocol is the ALPN protocol agreed on, "" if none.
func (c *Conn) NegotiatedProtocol() (string, error) { return c.str(C.TLS_ALPN) }

// CipherSuite is the IANA name of the negotiated cipher suite.
func (c *Conn) CipherSuite() (string, error) { return c.str(C.TLS_CHOSEN_CIPHER) }

// ServerName is, on an accepted connection, the name the client asked for (SNI).
func (c *Conn) ServerName() (string, error) { return c.str(C.TLS_HOSTNAME) }

// Version is the negotiated TLS version (VersionTLS12 or VersionTLS13).
func (c *Conn) Version() (uint16, error) {
	v, err := c.int(C.TLS_VERSION_CONN)
	return uint16(v), err
}

// Resumed tells whether the handshake resumed an earlier session.
func (c *Conn) Resumed() (bool, error) {
	v, err := c.int(C.TLS_RESUMED_SESSION)
	return v != 0, err
}

// ID is the library's stable 64-bit identifier of this TLS socket.
func (c *Conn) ID() (uint64, error) {
	var v C.uint64_t
	err := c.withFD("getsockopt", func(fd C.int) error {
		n := C.socklen_t(unsafe.Sizeof(v))
		if rc, err := C.ssa_getsockopt(fd, C.IPPROTO_TLS, C.TLS_ID, unsafe.Pointer(&v), &n); rc < 0 {
			return sysErr(fd, err)
		}
		return nil
	})
	return uint64(v), err
}

var _ net.Conn = (*Conn)(nil)

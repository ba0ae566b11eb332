// Package ssa gives Go programs TLS through the Secure Socket API: the TLS engine, its policy
// and its keys belong to libssa, and the program only sees a socket.
//
// A connection's descriptor is a real kernel descriptor (one end of a Unix socket pair that the
// engine relays through TLS), so reads, writes and deadlines go through Go's own poller; only
// the calls with TLS meaning (socket, connect, listen, accept, options, close) go through cgo.
package ssa

/*
#cgo LDFLAGS: -lssa
#include <stdlib.h>
#include <ssa/ssa.h>
*/
import "C"

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

// Values of Dialer.MinVersion, MaxVersion and Conn.Version.
const (
	VersionTLS12 = 0x0303
	VersionTLS13 = 0x0304
)

// Error is a failure reported by the library: the errno of the call (EPROTO for TLS and
// certificate failures, ETIMEDOUT for a handshake timeout, ...) and the TLS_ERROR text.
// It unwraps to Errno, so errors.Is(err, syscall.EPROTO) works.
type Error struct {
	Errno  syscall.Errno
	Reason string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return e.Errno.Error()
	}
	return e.Errno.Error() + ": " + e.Reason
}

func (e *Error) Unwrap() error   { return e.Errno }
func (e *Error) Timeout() bool   { return e.Errno.Timeout() }
func (e *Error) Temporary() bool { return e.Errno.Temporary() }

// CertFile names a PEM certificate chain (leaf first) and its private key.
type CertFile struct {
	Chain, Key string
}

// options are the TLS options a Dialer or ListenConfig sets before connect or listen.
type options struct {
	hostname   string // TLS_REMOTE_HOSTNAME (client) or TLS_HOSTNAME (listener)
	hostOpt    int
	rootCAs    string
	certs      []CertFile
	alpn       []string
	minV, maxV uint16
}

// lastError is fd's TLS_ERROR text, to be read right after the failing call.
func lastError(fd C.int) string {
	var buf [512]C.char
	if C.ssa_last_error(fd, &buf[0], C.size_t(len(buf))) == nil {
		return ""
	}
	return C.GoString(&buf[0])
}

// sysErr turns the errno of a failed call on fd into an *Error carrying the reason.
func sysErr(fd C.int, err error) error {
	return &Error{Errno: errnoOf(err), Reason: lastError(fd)}
}

func errnoOf(err error) syscall.Errno {
	if errno, ok := err.(syscall.Errno); ok && errno != 0 {
		return errno
	}
	return syscall.EIO // the call failed without saying how
}

func newSocket(family int) (C.int, error) {
	fd, err := C.ssa_socket(C.int(family), C.SOCK_STREAM|C.SOCK_NONBLOCK|C.SOCK_CLOEXEC, C.IPPROTO_TLS)
	if fd < 0 {
		return -1, &Error{Errno: errnoOf(err)}
	}
	return fd, nil
}

func setsockopt(fd C.int, level, opt int, p unsafe.Pointer, n int) error {
	if rc, err := C.ssa_setsockopt(fd, C.int(level), C.int(opt), p, C.socklen_t(n)); rc < 0 {
		return sysErr(fd, err)
	}
	return nil
}

func setString(fd C.int, opt int, v string) error {
	if v == "" {
		return nil
	}
	cs := C.CString(v)
	defer C.free(unsafe.Pointer(cs))
	return setsockopt(fd, C.IPPROTO_TLS, opt, unsafe.Pointer(cs), len(v)+1)
}

func setInt(fd C.int, level, opt, v int) error {
	cv := C.int(v)
	return setsockopt(fd, level, opt, unsafe.Pointer(&cv), int(unsafe.Sizeof(cv)))
}

func getInt(fd C.int, level, opt int) (int, error) {
	var v C.int
	n := C.socklen_t(unsafe.Sizeof(v))
	if rc, err := C.ssa_getsockopt(fd, C.int(level), C.int(opt), unsafe.Pointer(&v), &n); rc < 0 {
		return 0, sysErr(fd, err)
	}
	return int(v), nil
}

// getString reads a string option, growing the buffer when the library answers ERANGE with
// the size it needs (a peer chain can be many kilobytes).
func getString(fd C.int, opt int) (string, error) {
	buf := make([]byte, 256)
	for {
		n := C.socklen_t(len(buf))
		rc, err := C.ssa_getsockopt(fd, C.IPPROTO_TLS, C.int(opt), unsafe.Pointer(&buf[0]), &n)
		if rc < 0 && err == syscall.ERANGE && int(n) > len(buf) {
			buf = make([]byte, n)
			continue
		}
		if rc < 0 {
			return "", sysErr(fd, err)
		}
		s := buf[:n]
		for len(s) > 0 && s[len(s)-1] == 0 {
			s = s[:len(s)-1]
		}
		return string(s), nil
	}
}

func (o *options) apply(fd C.int) error {
	if err := setString(fd, o.hostOpt, o.hostname); err != nil {
		return err
	}
	if err := setString(fd, C.TLS_TRUSTED_PEER_CERTIFICATES, o.rootCAs); err != nil {
		return err
	}
	for _, c := range o.certs {
		if err := setString(fd, C.TLS_CERTIFICATE_CHAIN, c.Chain); err != nil {
			return err
		}
		if err := setString(fd, C.TLS_PRIVATE_KEY, c.Key); err != nil {
			return err
		}
	}
	if err := setString(fd, C.TLS_ALPN, strings.Join(o.alpn, ",")); err != nil {
		return err
	}
	if o.minV != 0 {
		if err := setInt(fd, C.IPPROTO_TLS, C.TLS_VERSION_MIN, int(o.minV)); err != nil {
			return err
		}
	}
	if o.maxV != 0 {
		return setInt(fd, C.IPPROTO_TLS, C.TLS_VERSION_MAX, int(o.maxV))
	}
	return nil
}

// sockaddr is a struct sockaddr_storage as bytes; Linux lays out sockaddr_in and sockaddr_in6
// with the port in network order at offset 2 and the address at 4 or 8.
type sockaddr [128]byte

func (sa *sockaddr) ptr() *C.struct_sockaddr { return (*C.struct_sockaddr)(unsafe.Pointer(sa)) }

func toSockaddr(ap netip.AddrPort) (sa sockaddr, n int) {
	a, port := ap.Addr(), ap.Port()
	sa[2], sa[3] = byte(port>>8), byte(port)
	if a.Is4() {
		*(*uint16)(unsafe.Pointer(&sa[0])) = syscall.AF_INET
		b := a.As4()
		copy(sa[4:], b[:])
		return sa, syscall.SizeofSockaddrInet4
	}
	*(*uint16)(unsafe.Pointer(&sa[0])) = syscall.AF_INET6
	b := a.As16()
	copy(sa[8:], b[:])
	if z := a.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			*(*uint32)(unsafe.Pointer(&sa[24])) = uint32(ifi.Index)
		}
	}
	return sa, syscall.SizeofSockaddrInet6
}

func fromSockaddr(sa *sockaddr) *net.TCPAddr {
	port := int(sa[2])<<8 | int(sa[3])
	switch *(*uint16)(unsafe.Pointer(&sa[0])) {
	case syscall.AF_INET:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), sa[4:8]...)), Port: port}
	case syscall.AF_INET6:
		a := &net.TCPAddr{IP: net.IP(append([]byte(nil), sa[8:24]...)), Port: port}
		if idx := *(*uint32)(unsafe.Pointer(&sa[24])); idx != 0 {
			if ifi, err := net.InterfaceByIndex(int(idx)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	}
	return nil
}

// tcpAddr is the real TCP address of fd's connection (local or peer).
func tcpAddr(fd C.int, peer bool) (*net.TCPAddr, error) {
	var sa sockaddr
	n := C.socklen_t(len(sa))
	var rc C.int
	var err error
	if peer {
		rc, err = C.ssa_getpeername(fd, sa.ptr(), &n)
	} else {
		rc, err = C.ssa_getsockname(fd, sa.ptr(), &n)
	}
	if rc < 0 {
		return nil, sysErr(fd, err)
	}
	if a := fromSockaddr(&sa); a != nil {
		return a, nil
	}
	return nil, &Error{Errno: syscall.EAFNOSUPPORT}
}

// dupFile gives Go's poller its own descriptor of the same open file: the original stays with
// the library, which needs it for options and must be the one to close it (ssa_close).
func dupFile(fd C.int) (*os.File, error) {
	nfd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return nil, &Error{Errno: errno}
	}
	return os.NewFile(nfd, "ssa"), nil
}

// family maps a network name to an address family filter (0: either).
func family(network string) (int, error) {
	switch network {
	case "tls":
		return 0, nil
	case "tls4":
		return syscall.AF_INET, nil
	case "tls6":
		return syscall.AF_INET6, nil
	}
	return 0, net.UnknownNetworkError(network)
}

func fits(family int, a netip.Addr) bool {
	return family == 0 || (family == syscall.AF_INET) == a.Is4()
}

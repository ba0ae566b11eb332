package ssa

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

// Go's own crypto/tls as the peer on either side.

func goTLSConfig(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pkiFile("localhost-chain.pem"), pkiFile("localhost.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(pkiFile("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "localhost"}
}

func TestCryptoTLSClient(t *testing.T) {
	l := listen(t, nil, echo)
	c, err := tls.Dial("tcp", l.Addr().String(), goTLSConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "ping")
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
		t.Fatalf("read %q, %v", b, err)
	}
}

// A peer that cuts the connection without close_notify: the data comes through, then
// ECONNRESET rather than a clean EOF, so truncation is visible.
func TestTruncation(t *testing.T) {
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", goTLSConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		// Read first: closing with the client's Finished unread would send RST, not FIN.
		io.ReadFull(c, make([]byte, 2))
		io.WriteString(c, "partial")
		c.(*tls.Conn).NetConn().Close() // FIN without close_notify
	}()
	c, err := Dial("tls", fmt.Sprintf("localhost:%d", ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "go")
	b, err := io.ReadAll(c)
	if string(b) != "partial" || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %q, %v", b, err)
	}
	t.Log(err)
}

// Peer closes cleanly: io.EOF after the data.
func TestCleanEOF(t *testing.T) {
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", goTLSConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, "all")
			c.Close()
		}
	}()
	c, err := Dial("tls", fmt.Sprintf("localhost:%d", ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, err := io.ReadAll(c); string(b) != "all" || err != nil {
		t.Fatalf("read %q, %v", b, err)
	}
}

func TestIPv6(t *testing.T) {
	ln, err := Listen("tls6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, c.RemoteAddr().String())
			c.Close()
		}
	}()
	c, err := Dial("tls6", ln.Addr().String()) // verified against IP:::1
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, err := io.ReadAll(c); string(b) != c.LocalAddr().String() || err != nil {
		t.Fatalf("server saw %q, client is %v; %v", b, c.LocalAddr(), err)
	}
}

package ssa

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDialOpenSSL(t *testing.T) {
	port := sServer(t, "localhost")
	for _, host := range []string{"localhost", "127.0.0.1"} { // by name, and by IP (SAN IP)
		nc, err := Dial("tls", fmt.Sprintf("%s:%d", host, port))
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		c := nc.(*Conn)
		if _, err := io.WriteString(c, "hello ssa\n"); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "ass olleh\n" {
			t.Fatalf("reply %q, %v", line, err)
		}
		if id, err := c.PeerIdentity(); err != nil || !strings.Contains(id, "CN=localhost") {
			t.Errorf("PeerIdentity = %q, %v", id, err)
		}
		if pem, err := c.PeerCertificateChain(); err != nil || strings.Count(pem, "BEGIN CERTIFICATE") != 2 {
			t.Errorf("PeerCertificateChain: %v\n%s", err, pem)
		}
		if v, err := c.Version(); err != nil || (v != VersionTLS12 && v != VersionTLS13) {
			t.Errorf("Version = %#x, %v", v, err)
		}
		if s, err := c.CipherSuite(); err != nil || !strings.HasPrefix(s, "TLS_") {
			t.Errorf("CipherSuite = %q, %v", s, err)
		}
		if r, err := c.Resumed(); err != nil || r {
			t.Errorf("Resumed = %v, %v", r, err)
		}
		if id, err := c.ID(); err != nil || id == 0 {
			t.Errorf("ID = %d, %v", id, err)
		}
		ra, ok := c.RemoteAddr().(*net.TCPAddr)
		if !ok || ra.Port != port || !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("RemoteAddr = %v", c.RemoteAddr())
		}
		if la, ok := c.LocalAddr().(*net.TCPAddr); !ok || la.Port == 0 {
			t.Errorf("LocalAddr = %v", c.LocalAddr())
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}
}

// wantEPROTO checks a verification failure: EPROTO with the library's reason.
func wantEPROTO(t *testing.T, err error, reason string) {
	t.Helper()
	var e *Error
	var oe *net.OpError
	switch {
	case !errors.Is(err, syscall.EPROTO):
		t.Fatalf("want EPROTO, got %v", err)
	case !errors.As(err, &e) || !strings.Contains(e.Reason, reason):
		t.Fatalf("want reason containing %q, got %v", reason, err)
	case !errors.As(err, &oe) || oe.Op != "dial":
		t.Fatalf("want a *net.OpError, got %T", err)
	}
	t.Log(err)
}

func TestWrongHostName(t *testing.T) {
	port := sServer(t, "localhost")
	d := &Dialer{ServerName: "wrong.test"}
	_, err := d.Dial("tls", fmt.Sprintf("localhost:%d", port))
	wantEPROTO(t, err, "wrong.test")

	port = sServer(t, "wronghost")
	_, err = Dial("tls", fmt.Sprintf("localhost:%d", port))
	wantEPROTO(t, err, "localhost")
}

func TestUnknownCA(t *testing.T) {
	port := sServer(t, "unknownca")
	_, err := Dial("tls", fmt.Sprintf("localhost:%d", port))
	wantEPROTO(t, err, "certificate")

	// RootCAs replaces the policy's trust store: the test CA is no longer trusted.
	port = sServer(t, "localhost")
	d := &Dialer{RootCAs: pkiFile("unknown-root.pem")}
	_, err = d.Dial("tls", fmt.Sprintf("localhost:%d", port))
	wantEPROTO(t, err, "certificate")

	d = &Dialer{RootCAs: pkiFile("ca.pem")}
	c, err := d.Dial("tls", fmt.Sprintf("localhost:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Dial("tls", addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want ECONNREFUSED, got %v", err)
	}
}

func TestListenDial(t *testing.T) {
	lc := &ListenConfig{
		Certificates: []CertFile{{pkiFile("localhost-chain.pem"), pkiFile("localhost.key")}},
		ALPN:         []string{"h2", "http/1.1"},
	}
	type seen struct {
		sni, alpn string
		remote    net.Addr
	}
	server := make(chan seen, 1)
	l := listen(t, lc, func(c *Conn) {
		sni, _ := c.ServerName()
		alpn, _ := c.NegotiatedProtocol()
		server <- seen{sni, alpn, c.RemoteAddr()}
		echo(c)
	})
	d := &Dialer{ALPN: []string{"http/1.1"}, MinVersion: VersionTLS13}
	nc, err := d.Dial("tls", fmt.Sprintf("localhost:%d", l.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*Conn)
	defer c.Close()
	msg := strings.Repeat("0123456789", 10000)
	go io.WriteString(c, msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo: %v", err)
	}
	s := <-server
	if s.sni != "localhost" || s.alpn != "http/1.1" || s.remote.String() != c.LocalAddr().String() {
		t.Errorf("server saw SNI %q, ALPN %q, peer %v; client is %v", s.sni, s.alpn, s.remote, c.LocalAddr())
	}
	if p, err := c.NegotiatedProtocol(); p != "http/1.1" || err != nil {
		t.Errorf("client ALPN = %q, %v", p, err)
	}
	if v, err := c.Version(); v != VersionTLS13 || err != nil {
		t.Errorf("Version = %#x, %v", v, err)
	}
	if l.Addr().(*net.TCPAddr).Port == 0 {
		t.Errorf("Addr = %v", l.Addr())
	}
}

// A listener without certificates serves those of the policy; "tls" on no host listens on
// every address.
func TestListenPolicyCertificates(t *testing.T) {
	ln, err := Listen("tls", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, "hi")
			c.Close()
		}
	}()
	c, err := Dial("tls", fmt.Sprintf("localhost:%d", ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, err := io.ReadAll(c); string(b) != "hi" || err != nil {
		t.Fatalf("read %q, %v", b, err)
	}
}

func TestCloseWrite(t *testing.T) {
	l := listen(t, nil, func(c *Conn) {
		b, err := io.ReadAll(c) // ends at the client's close_notify
		fmt.Fprintf(c, "got %d bytes, %v", len(b), err)
	})
	c := dial(t, l)
	io.WriteString(c, "12345")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(c); string(b) != "got 5 bytes, <nil>" || err != nil {
		t.Fatalf("read %q, %v", b, err)
	}
}

// A TCP server that accepts and never speaks TLS.
func silentServer(t *testing.T) string {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String()
}

func TestDialContextTimeout(t *testing.T) {
	addr := silentServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := DialContext(ctx, "tls", addr)
	var ne net.Error
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want a timeout, got %v", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Fatalf("took %v", d)
	}

	d := &Dialer{Timeout: 200 * time.Millisecond}
	if _, err = d.Dial("tls", addr); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dialer.Timeout: got %v", err)
	}
}

func TestDialContextCancel(t *testing.T) {
	addr := silentServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := DialContext(ctx, "tls", addr); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

// Without a deadline of its own, the dial ends at the policy's handshake timeout (1 s here).
func TestPolicyHandshakeTimeout(t *testing.T) {
	addr := silentServer(t)
	start := time.Now()
	_, err := Dial("tls", addr)
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("want ETIMEDOUT, got %v", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	t.Log(err)
}

func TestBadInput(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, c := range []struct{ network, addr string }{
		{"tls", ""},
		{"tls", ":443"},
		{"tls", "localhost"},
		{"tls", long + ":443"},
		{"tls", "localhost:nosuchservice"},
		{"tls", "localhost:99999"},
		{"tcp", "localhost:443"},
		{"tls4", "[::1]:443"},
	} {
		if conn, err := Dial(c.network, c.addr); err == nil {
			conn.Close()
			t.Errorf("Dial(%q, %q) succeeded", c.network, c.addr)
		} else if _, ok := err.(*net.OpError); !ok {
			t.Errorf("Dial(%q, %q): %T %v", c.network, c.addr, err, err)
		}
	}
	if _, err := (&Dialer{ServerName: long}).Dial("tls", "127.0.0.1:1"); err == nil {
		t.Error("300-byte ServerName accepted")
	}
	if _, err := (&Dialer{ServerName: "bad name!"}).Dial("tls", "127.0.0.1:1"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("bad ServerName: %v", err)
	}
	if _, err := (&Dialer{RootCAs: "/nonexistent.pem"}).Dial("tls", "127.0.0.1:1"); err == nil {
		t.Error("missing RootCAs file accepted")
	}
	for _, addr := range []string{"", "127.0.0.1", "127.0.0.1:x", "256.0.0.1:0"} {
		if l, err := Listen("tls", addr); err == nil {
			l.Close()
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
	lc := &ListenConfig{Certificates: []CertFile{{"/nonexistent.pem", "/nonexistent.key"}}}
	if _, err := lc.Listen(context.Background(), "tls", "127.0.0.1:0"); err == nil {
		t.Error("missing certificate file accepted")
	}
}

func TestUseAfterClose(t *testing.T) {
	l := listen(t, nil, echo)
	c := dial(t, l)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write: %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read: %v", err)
	}
	if _, err := c.PeerIdentity(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("PeerIdentity: %v", err)
	}
	if err := c.CloseWrite(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("CloseWrite: %v", err)
	}
	if err := c.SetDeadline(time.Now()); err == nil {
		t.Error("SetDeadline after Close succeeded")
	}
	if err := c.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	if err := l.Close(); err == nil {
		t.Error("second Listener.Close succeeded")
	}
}

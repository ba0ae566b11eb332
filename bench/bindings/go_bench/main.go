// Go side of bench/bindings.sh: one server and one client, TLS from crypto/tls ("native") or
// from the SSA binding ("ssa").
//
//	go_bench server -variant native|ssa -cert CHAIN -key KEY
//	    listens on 127.0.0.1, port 0; prints "PORT n", then serves each connection in its own
//	    goroutine until killed.
//	go_bench client -variant native|ssa -port P -ca CA.pem
//	    -scenario bulk -bytes N | -scenario handshake -conns C -concurrency K
//	    prints one "RESULT key=value ..." line.
//
// Wire protocol (the same in every language): the client's first byte says the scenario.
// 'B' + 8-byte big-endian N + N bytes: the server reads and discards them, replies 1 byte.
// 'H': the server replies 1 byte; both close.
// Both variants: TLS 1.3 only, the server certificate verified against CA.pem for "localhost",
// no session tickets and no client session cache, so that every handshake is a full one;
// TCP_NODELAY on every connection (Go's net and the ssa binding set it by default).
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"ssa"
)

const chunk = 256 * 1024

var (
	variant     = flag.String("variant", "", "native or ssa")
	certFile    = flag.String("cert", "", "server chain (PEM, leaf first)")
	keyFile     = flag.String("key", "", "server key")
	caFile      = flag.String("ca", "", "CA the client trusts")
	port        = flag.Int("port", 0, "server port (client)")
	scenario    = flag.String("scenario", "", "bulk or handshake")
	nbytes      = flag.Int64("bytes", 1<<30, "bulk: bytes to send")
	conns       = flag.Int("conns", 500, "handshake: connections")
	concurrency = flag.Int("concurrency", 1, "handshake: client goroutines")
)

type variantOps struct {
	listen     func() (net.Listener, error)
	handshake  func(net.Conn) error // server side, after Accept
	dial       func(addr string) (net.Conn, error)
	negotiated func(net.Conn) (version, cipher string)
	resumed    func(net.Conn) bool
}

// ---- crypto/tls ----

func native() *variantOps {
	var clientCfg *tls.Config
	return &variantOps{
		listen: func() (net.Listener, error) {
			cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				return nil, err
			}
			return tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
				Certificates:           []tls.Certificate{cert},
				MinVersion:             tls.VersionTLS13,
				SessionTicketsDisabled: true,
			})
		},
		handshake: func(c net.Conn) error { return c.(*tls.Conn).Handshake() },
		dial: func(addr string) (net.Conn, error) {
			if clientCfg == nil {
				pem, err := os.ReadFile(*caFile)
				if err != nil {
					return nil, err
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, errors.New("no certificate in " + *caFile)
				}
				// Verification on (no InsecureSkipVerify), no ClientSessionCache.
				clientCfg = &tls.Config{RootCAs: pool, ServerName: "localhost",
					MinVersion: tls.VersionTLS13, SessionTicketsDisabled: true}
			}
			c, err := tls.Dial("tcp", addr, clientCfg) // TCP_NODELAY is Go's default
			return c, err
		},
		negotiated: func(c net.Conn) (string, string) {
			st := c.(*tls.Conn).ConnectionState()
			return versionName(st.Version), tls.CipherSuiteName(st.CipherSuite)
		},
		resumed: func(c net.Conn) bool { return c.(*tls.Conn).ConnectionState().DidResume },
	}
}

// ---- the SSA binding ----

func ssaVariant() *variantOps {
	d := &ssa.Dialer{RootCAs: *caFile, ServerName: "localhost", MinVersion: ssa.VersionTLS13}
	return &variantOps{
		listen: func() (net.Listener, error) {
			lc := &ssa.ListenConfig{Certificates: []ssa.CertFile{{Chain: *certFile, Key: *keyFile}},
				MinVersion: ssa.VersionTLS13}
			return lc.Listen(context.Background(), "tls4", "127.0.0.1:0")
		},
		handshake: func(net.Conn) error { return nil }, // Accept returns handshaken connections
		dial: func(addr string) (net.Conn, error) {
			c, err := d.Dial("tls4", addr)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		negotiated: func(c net.Conn) (string, string) {
			sc := c.(*ssa.Conn)
			v, err := sc.Version()
			if err != nil {
				return "error:" + err.Error(), ""
			}
			cs, _ := sc.CipherSuite()
			return versionName(v), cs
		},
		resumed: func(c net.Conn) bool {
			r, err := c.(*ssa.Conn).Resumed()
			if err != nil {
				log.Fatalf("TLS_RESUMED_SESSION: %v", err)
			}
			return r
		},
	}
}

func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "1.3"
	case tls.VersionTLS12:
		return "1.2"
	}
	return "0x" + strconv.FormatUint(uint64(v), 16)
}

// ---- server ----

func serve(ops *variantOps) {
	ln, err := ops.listen()
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Printf("accept: %v", err)
			var ne net.Error
			if errors.As(err, &ne) && !ne.Timeout() && errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			if err := handle(ops, c); err != nil {
				log.Printf("connection: %v", err)
			}
		}(c)
	}
}

func handle(ops *variantOps, c net.Conn) error {
	if err := ops.handshake(c); err != nil {
		return err
	}
	var op [1]byte
	if _, err := io.ReadFull(c, op[:]); err != nil {
		return err
	}
	switch op[0] {
	case 'B':
		var hdr [8]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return err
		}
		left := int64(binary.BigEndian.Uint64(hdr[:]))
		buf := make([]byte, chunk)
		for left > 0 {
			n := int64(len(buf))
			if left < n {
				n = left
			}
			k, err := c.Read(buf[:n])
			left -= int64(k)
			if err != nil && left > 0 {
				return err
			}
		}
		_, err := c.Write([]byte{'k'})
		return err
	case 'H':
		_, err := c.Write([]byte{'h'})
		return err
	}
	return fmt.Errorf("unknown scenario byte %q", op[0])
}

// ---- client ----

func bulk(ops *variantOps, addr string) {
	data := make([]byte, chunk)
	rand.Read(data)
	c, err := ops.dial(addr)
	if err != nil {
		log.Fatalf("dial: %v", err)
	}
	version, cipher := ops.negotiated(c)
	n := *nbytes
	hdr := make([]byte, 9)
	hdr[0] = 'B'
	binary.BigEndian.PutUint64(hdr[1:], uint64(n))
	t0 := time.Now()
	if _, err := c.Write(hdr); err != nil {
		log.Fatalf("write: %v", err)
	}
	for left := n; left > 0; {
		k := int64(chunk)
		if left < k {
			k = left
		}
		if _, err := c.Write(data[:k]); err != nil {
			log.Fatalf("write: %v", err)
		}
		left -= k
	}
	var r [1]byte
	if _, err := io.ReadFull(c, r[:]); err != nil || r[0] != 'k' {
		log.Fatalf("receipt: %v %q", err, r[0])
	}
	dt := time.Since(t0).Seconds()
	c.Close()
	fmt.Printf("RESULT scenario=bulk bytes=%d secs=%.4f mibps=%.1f tls=%s cipher=%s\n",
		n, dt, float64(n)/dt/1048576, version, cipher)
}

func handshakes(ops *variantOps, addr string) {
	var next, resumed int64
	// One untimed connection first: configurations, trust store, engine threads.
	c, err := ops.dial(addr)
	if err != nil {
		log.Fatalf("dial: %v", err)
	}
	version, cipher := ops.negotiated(c)
	var r [1]byte
	if _, err := c.Write([]byte{'H'}); err != nil {
		log.Fatal(err)
	}
	if _, err := io.ReadFull(c, r[:]); err != nil {
		log.Fatal(err)
	}
	c.Close()
	errs := make(chan error, *concurrency)
	var wg sync.WaitGroup
	t0 := time.Now()
	for g := 0; g < *concurrency; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r [1]byte
			for atomic.AddInt64(&next, 1) <= int64(*conns) {
				c, err := ops.dial(addr)
				if err != nil {
					errs <- fmt.Errorf("dial: %w", err)
					return
				}
				if _, err := c.Write([]byte{'H'}); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, r[:]); err != nil || r[0] != 'h' {
					errs <- fmt.Errorf("reply: %v %q", err, r[0])
					return
				}
				if ops.resumed(c) {
					atomic.AddInt64(&resumed, 1)
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	dt := time.Since(t0).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		log.Fatal(err)
	}
	fmt.Printf("RESULT scenario=handshake conns=%d concurrency=%d secs=%.4f hps=%.1f resumed=%d tls=%s cipher=%s\n",
		*conns, *concurrency, dt, float64(*conns)/dt, resumed, version, cipher)
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("go_bench: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: go_bench server|client [flags]")
	}
	role := os.Args[1]
	flag.CommandLine.Parse(os.Args[2:])
	var ops *variantOps
	switch *variant {
	case "native":
		ops = native()
	case "ssa":
		ops = ssaVariant()
	default:
		log.Fatalf("-variant native|ssa, not %q", *variant)
	}
	switch role {
	case "server":
		serve(ops)
	case "client":
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(*port))
		switch *scenario {
		case "bulk":
			bulk(ops, addr)
		case "handshake":
			handshakes(ops, addr)
		default:
			log.Fatalf("-scenario bulk|handshake, not %q", *scenario)
		}
	default:
		log.Fatalf("role server or client, not %q", role)
	}
}

package ssa

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var pki string // tests/pki.sh output

// TestMain sets the policy before the first TLS socket: the test CA as trust store, a short
// handshake timeout, and the localhost certificate for listeners without their own.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "ssa-go-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if pki = os.Getenv("SSA_TEST_PKI"); pki == "" {
		pki = filepath.Join(tmp, "pki")
		out, err := exec.Command("bash", "../../tests/pki.sh", pki).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "pki.sh: %v\n%s", err, out)
			return 1
		}
	}
	conf := filepath.Join(tmp, "ssa.conf")
	policy := fmt.Sprintf(`default = {
  trust-file = "%[1]s/ca.pem";
  handshake-timeout = 1.0;
  server-certificates = ( { chain = "%[1]s/localhost-chain.pem"; key = "%[1]s/localhost.key"; } );
};
`, pki)
	if err := os.WriteFile(conf, []byte(policy), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("SSA_CONFIG", conf)
	return m.Run()
}

func pkiFile(name string) string { return filepath.Join(pki, name) }

// sServer starts `openssl s_server -rev` (answers each line reversed) with a leaf from the
// test PKI and returns its port.
func sServer(t *testing.T, leaf string) int {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	cmd := exec.Command("openssl", "s_server", "-accept", "127.0.0.1:0", "-rev",
		"-cert", pkiFile(leaf+".pem"), "-key", pkiFile(leaf+".key"), "-cert_chain", pkiFile("int.pem"))
	stdin, err := cmd.StdinPipe() // s_server exits on EOF of its stdin
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	ports := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var port int
			if _, err := fmt.Sscanf(sc.Text(), "ACCEPT 127.0.0.1:%d", &port); err == nil {
				ports <- port
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case p := <-ports:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("openssl s_server did not start")
	}
	return 0
}

// listen starts a Go TLS server running handle on each connection.
func listen(t *testing.T, lc *ListenConfig, handle func(*Conn)) *Listener {
	t.Helper()
	if lc == nil {
		lc = new(ListenConfig)
	}
	ln, err := lc.Listen(context.Background(), "tls4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := ln.(*Listener)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c.(*Conn))
			}()
		}
	}()
	return l
}

func echo(c *Conn) { io.Copy(c, c) }

func dial(t *testing.T, l *Listener) *Conn {
	t.Helper()
	c, err := Dial("tls", fmt.Sprintf("localhost:%d", l.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*Conn)
}

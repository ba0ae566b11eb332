package ssa

// The checks of golang.org/x/net/nettest's TestConn, written out for a TLS connection.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

func wantTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want a timeout, got %v", err)
	}
}

func TestDeadlinePast(t *testing.T) {
	c := dial(t, listen(t, nil, echo))
	c.SetDeadline(time.Now().Add(-time.Second))
	_, err := c.Read(make([]byte, 1))
	wantTimeout(t, err)
	_, err = c.Write([]byte("x"))
	wantTimeout(t, err)
	c.SetDeadline(time.Time{}) // the connection still works after a timeout
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
}

func TestDeadlineFuture(t *testing.T) {
	c := dial(t, listen(t, nil, echo))
	start := time.Now()
	c.SetReadDeadline(start.Add(100 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	wantTimeout(t, err)
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("Read timed out after %v", d)
	}
}

// A deadline moved later while Read waits applies to that Read.
func TestDeadlineExtend(t *testing.T) {
	c := dial(t, listen(t, nil, echo))
	start := time.Now()
	c.SetReadDeadline(start.Add(100 * time.Millisecond))
	time.AfterFunc(50*time.Millisecond, func() { c.SetReadDeadline(start.Add(400 * time.Millisecond)) })
	_, err := c.Read(make([]byte, 1))
	wantTimeout(t, err)
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("Read timed out after %v, before the extended deadline", d)
	}
	// Extended again, data arriving in time is read.
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	c.Write([]byte("y"))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
}

// A peer that never reads makes Write block; its deadline ends it.
func TestWriteDeadline(t *testing.T) {
	block := make(chan struct{})
	c := dial(t, listen(t, nil, func(*Conn) { <-block }))
	defer close(block)
	c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 1<<16)
	var err error
	for i := 0; i < 1<<12 && err == nil; i++ { // at most 256 MiB
		_, err = c.Write(buf)
	}
	wantTimeout(t, err)
}

func TestConcurrentReadWrite(t *testing.T) {
	c := dial(t, listen(t, nil, echo))
	msg := bytes.Repeat([]byte("concurrent "), 1<<17) // 1.4 MB, more than the buffers hold
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for p := msg; len(p) > 0; p = p[min(len(p), 4096):] {
			if _, err := c.Write(p[:min(len(p), 4096)]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var got []byte
	go func() {
		defer wg.Done()
		got = make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	if !bytes.Equal(got, msg) {
		t.Fatal("echoed data differs")
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func TestCloseUnblocksRead(t *testing.T) {
	c := dial(t, listen(t, nil, echo))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Read block; the result is the same if it has not
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}

func TestPartialReads(t *testing.T) {
	msg := bytes.Repeat([]byte("abcdefghij"), 100)
	c := dial(t, listen(t, nil, func(c *Conn) { c.Write(msg) }))
	var got []byte
	b := make([]byte, 1)
	for {
		n, err := c.Read(b)
		got = append(got, b[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil || n != 1 {
			t.Fatalf("Read = %d, %v", n, err)
		}
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %d bytes, want %d", len(got), len(msg))
	}
}

func TestListenerCloseUnblocksAccept(t *testing.T) {
	ln, err := Listen("tls4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ln.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Accept")
	}
}

func countFDs() int {
	fds, _ := os.ReadDir("/proc/self/fd")
	return len(fds)
}

// checkNoLeak runs 20 connections made by connect and expects the process to have as many
// descriptors afterwards as before: ours, the poller's dup and the engine's are all released
// (the engine's shortly after Close).
func checkNoLeak(t *testing.T, connect func() net.Conn) {
	connect().Close() // warm up: engine threads and their descriptors exist from here on
	time.Sleep(100 * time.Millisecond)
	before := countFDs()
	for i := 0; i < 20; i++ {
		c := connect()
		if _, err := c.Write([]byte("x\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	for deadline := time.Now().Add(3 * time.Second); countFDs() > before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors before 20 connections, %d after", before, countFDs())
		}
	}
}

// This side closes first (openssl s_server waits for more lines).
func TestNoDescriptorLeak(t *testing.T) {
	addr := fmt.Sprintf("localhost:%d", sServer(t, "localhost"))
	checkNoLeak(t, func() net.Conn {
		c, err := Dial("tls", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

// Both ends in this process: the server's end closes after the client's close_notify. Fails
// while libssa keeps the object (and net_fd, engine_fd) of a socket the application closes
// after the peer's close_notify: settle() in core/ssa_relay.c sets keep_registered because
// the HUP on E went unseen, and ssa_close() ran before that, so nothing removes it.
func TestNoDescriptorLeakPeerClosedFirst(t *testing.T) {
	l := listen(t, nil, echo)
	checkNoLeak(t, func() net.Conn { return dial(t, l) })
}

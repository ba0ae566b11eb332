package ssa

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
)

// net/http on both ends: http.Server.Serve on a Listener, http.Transport dialing through a
// Dialer for https URLs.
func TestHTTP(t *testing.T) {
	ln, err := Listen("tls4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %s", r.URL.Path, r.RemoteAddr)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	d := &Dialer{ALPN: []string{"http/1.1"}}
	client := &http.Client{Transport: &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tls", addr)
		},
	}}
	defer client.CloseIdleConnections()
	for i := 0; i < 3; i++ { // later requests reuse the connection
		url := fmt.Sprintf("https://localhost:%d/x%d", ln.Addr().(*net.TCPAddr).Port, i)
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("hello /x%d from 127.0.0.1:", i)
		if err != nil || resp.StatusCode != 200 || len(body) < len(want) || string(body[:len(want)]) != want {
			t.Fatalf("%s: %d %q %v", url, resp.StatusCode, body, err)
		}
	}
}

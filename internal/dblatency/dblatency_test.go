package dblatency

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// echo serves on ln: every connection gets its bytes back, and EOF after
// the client's.
func echo(t *testing.T, ln net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
}

func tcpEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, ln)
	return ln.Addr().String()
}

func startProxy(t *testing.T, target string, delay time.Duration) *Proxy {
	t.Helper()
	p, err := Start(context.Background(), target, delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back.
func roundTrip(t *testing.T, c net.Conn, msg []byte) time.Duration {
	t.Helper()
	began := time.Now()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echoed %q, sent %q", got, msg)
	}
	return time.Since(began)
}

// A request and its answer through the proxy cost at least the delay.
func TestRoundTripCostsTheDelay(t *testing.T) {
	const delay = 40 * time.Millisecond
	p := startProxy(t, tcpEcho(t), delay)
	c := dial(t, p)
	for i := range 5 {
		if d := roundTrip(t, c, []byte(fmt.Sprintf("ping %d", i))); d < delay {
			t.Fatalf("round trip %d took %v, less than the %v injected", i, d, delay)
		}
	}
}

// The delay is a pipeline, not a queue: messages sent a fraction of a round
// trip apart are all in flight at once, so 100 of them take about one round
// trip more than sending them, far from 100 round trips.
func TestPipelinedMessagesOverlap(t *testing.T) {
	const (
		delay    = 50 * time.Millisecond
		messages = 100
		size     = 8
	)
	p := startProxy(t, tcpEcho(t), delay)
	c := dial(t, p)
	roundTrip(t, c, []byte("warm-up!")) // the connect's own round trip is not measured
	// Written by the sender, read by the receiver after the message came
	// back: the race detector cannot see the order the socket gives them.
	sent := make([]atomic.Int64, messages)
	began := time.Now()
	errs := make(chan error, 1)
	go func() {
		for i := range messages {
			sent[i].Store(time.Now().UnixNano())
			if _, err := fmt.Fprintf(c, "%0*d", size, i); err != nil {
				errs <- err
				return
			}
			time.Sleep(delay / 25)
		}
		errs <- nil
	}()
	buf := make([]byte, size)
	for i := range messages {
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%0*d", size, i); string(buf) != want {
			t.Fatalf("message %d came back as %q", i, buf)
		}
		if d := time.Since(time.Unix(0, sent[i].Load())); d < delay {
			t.Fatalf("message %d came back after %v, less than the %v injected", i, d, delay)
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took >= 20*delay {
		t.Fatalf("%d pipelined messages took %v: the proxy serializes them (one round trip is %v)", messages, took, delay)
	}
}

// Large transfers arrive whole and in order, both ways at once.
func TestLargeTransferIntact(t *testing.T) {
	p := startProxy(t, tcpEcho(t), 10*time.Millisecond)
	c := dial(t, p)
	want := make([]byte, 16<<20)
	_, _ = rand.Read(want)
	errs := make(chan error, 1)
	go func() {
		// Writes of odd sizes, so reads and chunks never line up.
		rest := want
		for len(rest) > 0 {
			n := min(len(rest), 7919)
			if _, err := c.Write(rest[:n]); err != nil {
				errs <- err
				return
			}
			rest = rest[n:]
		}
		errs <- c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c) // ends at the echo server's EOF, forwarded after ours
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes back, sent %d; equal %v", len(got), len(want), bytes.Equal(got, want))
	}
}

// Close cuts every open connection, refuses new ones and returns once the
// proxy's goroutines are done; a second Close is harmless.
func TestCloseEndsEverything(t *testing.T) {
	p := startProxy(t, tcpEcho(t), 20*time.Millisecond)
	conns := []net.Conn{dial(t, p), dial(t, p), dial(t, p)}
	for _, c := range conns {
		roundTrip(t, c, []byte("up"))
	}
	// One with a chunk still held by the proxy.
	if _, err := conns[0].Write([]byte("in flight")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
			t.Fatalf("connection %d after Close: %v (want it ended)", i, err)
		}
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("the closed proxy accepted a connection")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// isReset is a connection the peer cut rather than ended.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// The proxy ends with its context.
func TestContextEndsTheProxy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, tcpEcho(t), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the proxy still accepts after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Close()
}

// A target that is down costs its clients their connection, not the proxy:
// once it is back (a database restarted on the same socket), new
// connections reach it. The target here is a Unix socket, as an embedded
// PostgreSQL's is.
func TestRestartedTargetIsReachedAgain(t *testing.T) {
	sock := filepath.Join(t.TempDir(), ".s.PGSQL.5432")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, ln)
	p := startProxy(t, sock, 2*time.Millisecond)
	before := dial(t, p)
	roundTrip(t, before, []byte("before"))

	ln.Close() // "restart": the old listener is gone
	c := dial(t, p)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes through a proxy whose target is down", n)
	}

	ln2, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, ln2)
	roundTrip(t, dial(t, p), []byte("after"))
}

func TestTargetAndConnString(t *testing.T) {
	p := startProxy(t, tcpEcho(t), 0)
	host, port, _ := net.SplitHostPort(p.Addr())
	cases := []struct {
		name, in, target string
		dbname, user     string
	}{
		{"embedded", `host='/tmp/lotzero proof/pg' port=5432 user=lotzero dbname=lotzero sslmode=disable`,
			"/tmp/lotzero proof/pg/.s.PGSQL.5432", "lotzero", "lotzero"},
		{"keyword tcp", `dbname = 'it\'s' host=db.example port=6543 user=app password='a b\'c'`,
			"db.example:6543", "it's", "app"},
		{"url", "postgres://app:secret@db.example:5433/shop?sslmode=disable", "db.example:5433", "shop", "app"},
		{"url socket", "postgresql:///shop?host=/var/run/postgresql&user=app", "/var/run/postgresql/.s.PGSQL.5432", "shop", "app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Target(tc.in)
			if err != nil || got != tc.target {
				t.Fatalf("Target = %q, %v; want %q", got, err, tc.target)
			}
			via, err := p.ConnString(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := pgconn.ParseConfig(via)
			if err != nil {
				t.Fatalf("rewritten %q: %v", via, err)
			}
			if cfg.Host != host || fmt.Sprint(cfg.Port) != port || cfg.Database != tc.dbname || cfg.User != tc.user {
				t.Fatalf("rewritten %q reads as host %s port %d db %q user %q", via, cfg.Host, cfg.Port, cfg.Database, cfg.User)
			}
		})
	}
	if _, err := Target("host=a,b dbname=x"); err == nil {
		t.Fatal("several hosts were accepted")
	}
}

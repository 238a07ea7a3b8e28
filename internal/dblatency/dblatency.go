// Package dblatency puts distance between a client and its database on one
// machine: a TCP proxy that holds every byte for half a round trip in each
// direction, so a request and its answer cost the round trip to a database
// in another Region (Aurora DSQL commits cross-Region) while the bytes,
// their order and the link's throughput stay as they were. The proof and the
// ledger benchmarks put it between LotZero and PostgreSQL.
package dblatency

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Proxy forwards every connection it accepts to its target, delaying each
// direction by half the round trip.
type Proxy struct {
	ln      net.Listener
	network string // of the target: "tcp" or "unix"
	target  string
	delay   time.Duration
	log     zerolog.Logger

	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // both ends of every open link
	closed bool
}

// chunkQueue is how many reads one direction may hold in flight before its
// reader waits: a bound on memory, far above what a round trip of database
// traffic needs (at 64 KiB a read, 64 MiB per half round trip).
const chunkQueue = 1024

const readSize = 64 << 10

// Start listens on a loopback port of its own and forwards what it accepts
// to target: host:port, or the path of a Unix socket (PostgreSQL started by
// internal/pgembed listens only on one; see Target). A request and its
// answer through the proxy take delay longer than without it. The proxy
// lives until Close or until ctx is done; a logger in ctx (zerolog.Ctx)
// hears about targets it could not reach.
func Start(ctx context.Context, target string, delay time.Duration) (*Proxy, error) {
	if delay < 0 {
		return nil, fmt.Errorf("dblatency: negative delay %v", delay)
	}
	network := "tcp"
	if strings.HasPrefix(target, "/") {
		network = "unix"
	} else if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("dblatency: target %q is neither host:port nor a socket path: %w", target, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dblatency: listen: %w", err)
	}
	p := &Proxy{
		ln: ln, network: network, target: target, delay: delay,
		log:  zerolog.Ctx(ctx).With().Str("component", "dblatency").Str("target", target).Logger(),
		done: make(chan struct{}), conns: map[net.Conn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	if ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				p.Close()
			case <-p.done:
			}
		}()
	}
	return p, nil
}

// Addr is the proxy's host:port on 127.0.0.1.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Delay is the round trip the proxy adds.
func (p *Proxy) Delay() time.Duration { return p.delay }

// Close stops accepting, cuts every open connection and waits for the
// proxy's goroutines to end. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	close(p.done)
	err := p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn().Err(err).Msg("accept failed; the proxy stops")
			}
			return
		}
		if !p.track(client) {
			client.Close()
			return
		}
		p.wg.Add(1)
		go p.link(client)
	}
}

// track registers an open connection so Close can cut it; false once closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// link joins one client to a fresh connection to the target. Every link
// dials anew, so a database that restarted is reached again by the
// client's next connection, as it would be without the proxy.
func (p *Proxy) link(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	// Connecting across the distance costs a round trip too (TCP's
	// handshake) before the first byte can flow.
	if !p.sleep(p.delay) {
		return
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	server, err := d.Dial(p.network, p.target)
	if err != nil {
		p.log.Warn().Err(err).Msg("target unreachable; the client's connection is closed")
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	// The round trip is split so that the two halves add up to it exactly.
	toServer, toClient := p.delay/2, p.delay-p.delay/2
	var dirs sync.WaitGroup
	dirs.Add(2)
	go func() { defer dirs.Done(); p.pipe(client, server, toServer) }()
	go func() { defer dirs.Done(); p.pipe(server, client, toClient) }()
	dirs.Wait()
}

// chunk is one read, due to be written at a time.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst, each read held until delay after it arrived. The
// reader never waits on the writer's clock, so reads in flight overlap and
// throughput is what it would be without the delay; order is kept because
// one writer releases the chunks in arrival order. When src ends, dst's
// write side is closed after the last chunk (the peer sees EOF, as it
// would directly); when either side fails, the whole link is cut.
func (p *Proxy) pipe(src, dst net.Conn, delay time.Duration) {
	queue := make(chan chunk, chunkQueue)
	go func() {
		defer close(queue)
		buf := make([]byte, readSize)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				queue <- chunk{data: append([]byte(nil), buf[:n]...), due: time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for c := range queue {
		if wait := time.Until(c.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-p.done:
				drain(queue)
				return
			}
		}
		if _, err := dst.Write(c.data); err != nil {
			// The other side is gone: cut both so the reader (and the
			// opposite direction) end too.
			src.Close()
			dst.Close()
			drain(queue)
			return
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err == nil {
			return
		}
	}
	dst.Close()
}

// drain discards what a reader still queues until it sees its connection
// closed, so it never blocks on a full queue.
func drain(queue <-chan chunk) {
	for range queue {
	}
}

// sleep waits d, or returns false when the proxy closes first.
func (p *Proxy) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.done:
		return false
	}
}

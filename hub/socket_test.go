package hub

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// tcpPair is a loopback TCP connection: the server's end as a socket, and
// the peer's end.
func tcpPair(t *testing.T) (*socket, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = server.Close(); _ = peer.Close() })
	k := newSocket(server)
	if k.raw == nil {
		t.Fatal("a TCP connection's socket has no descriptor to write without waiting")
	}
	return k, peer
}

// socketSession is a session writing to k, without gorilla on top: what a
// session's writers do is all that is exercised.
func socketSession(t *testing.T, k *socket, queueBytes int) *session {
	t.Helper()
	h := newTestHub(t, wsLedger{newFakeLedger()}, Options{AuthSecret: "test-secret-test-secret-test-secret", QueueBytes: queueBytes})
	s := h.newSession(nil, Identity{User: "u", Roles: []string{RoleBidder}}, "eu-west-1", false)
	s.conn = &wsConn{sock: k}
	s.closeOnce.Do(func() {}) // no gorilla connection to send a close frame on
	return s
}

// readFrame reads one unmasked server frame: its first byte and payload.
func readFrame(r io.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, errors.New("a server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return h[0], p, err
}

// expectFrames reads want from the peer: each a whole text frame, in order.
func expectFrames(t *testing.T, peer net.Conn, want [][]byte) {
	t.Helper()
	for i, f := range want {
		op, p, err := readFrame(peer)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if op != opText || !bytes.Equal(p, f) {
			t.Fatalf("frame %d: op %#x, %d bytes starting %.8q, want a text frame of %d bytes starting %.8q", i, op, len(p), p, len(f), f)
		}
	}
}

// awaitWriterIdle waits for s's writer to give its role back: it may still
// be on its way out when the peer has read everything, and a push before
// then is its to send (a test pushing until one starts a writer would
// queue the frame twice).
func awaitWriterIdle(t *testing.T, s *session) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s.out.mu.Lock()
		writing := s.out.writing
		s.out.mu.Unlock()
		if !writing {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never gave its role back")
		}
	}
}

// payload is frame i's content: its number, padded to size.
func payload(i, size int) []byte {
	b := bytes.Repeat([]byte{'.'}, size)
	copy(b, fmt.Sprint(i))
	return b
}

// TestFirstWriteNeverWaits: a room's first write to a socket that is full
// returns at once and leaves the rest to the session's writer goroutine;
// meanwhile a ping finds no turn and is skipped, not cut into a frame; once
// the peer reads, every frame arrives whole and in order, whatever its
// length's encoding (7, 16 and 64 bits).
func TestFirstWriteNeverWaits(t *testing.T) {
	k, peer := tcpPair(t)
	// A small send buffer fills at once, behind the peer's receive window.
	_ = k.Conn.(*net.TCPConn).SetWriteBuffer(4096)
	s := socketSession(t, k, 64<<20)
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 200_000}
	var want [][]byte
	for i := range 3 * len(sizes) {
		want = append(want, payload(i, sizes[i%len(sizes)]))
	}
	idle := 0
	for _, f := range want {
		if s.enqueue(f) {
			idle++
		}
	}
	if idle != 1 {
		t.Fatalf("%d pushes found the writer idle, want the first only", idle)
	}
	done := make(chan struct{})
	go func() {
		writeFirst([]*session{s})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the first write waited for a peer that does not read")
	}
	// The turn went to the writer goroutine with what was left, half a
	// frame: nothing may come between, a close frame or ping least of all.
	if k.tryTake() {
		t.Fatal("the first write gave up the turn with a frame half out")
	}
	if err := k.control(context.Background(), opPing, nil, time.Now().Add(50*time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ping during a blocked data write: %v, want it skipped for want of a turn", err)
	}
	expectFrames(t, peer, want)
	// The writer's role ended with the queue: the next push starts one.
	awaitWriterIdle(t, s)
	if !s.enqueue([]byte("next")) {
		t.Fatal("a push after the writer's role ended did not start one")
	}
	writeFirst([]*session{s})
	if _, p, err := readFrame(peer); err != nil || string(p) != "next" {
		t.Fatalf("after the backlog: %q %v", p, err)
	}
	// And with the socket free, a ping goes out whole.
	if err := k.control(context.Background(), opPing, []byte("hi"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if op, p, err := readFrame(peer); err != nil || op != opPing || string(p) != "hi" {
		t.Fatalf("ping: op %#x %q %v", op, p, err)
	}
}

// TestNothingFollowsTheCloseFrame: once gorilla's close frame is out, the
// session's writers drop what is queued and end their role, so the peer
// never sees a data frame after the close frame.
func TestNothingFollowsTheCloseFrame(t *testing.T) {
	k, peer := tcpPair(t)
	s := socketSession(t, k, 1<<20)
	closeFrame := []byte{opClose, 2, 0x03, 0xe8}
	if _, err := k.Write(closeFrame); err != nil {
		t.Fatal(err)
	}
	if !s.enqueue([]byte("late")) {
		t.Fatal("the writer was not idle")
	}
	writeFirst([]*session{s})
	s.send([]byte("later")) // through a writer goroutine
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s.out.mu.Lock()
		writing, queued := s.out.writing, len(s.out.money)
		s.out.mu.Unlock()
		if !writing && queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writers kept their role after the close frame")
		}
	}
	got := make([]byte, 64)
	_ = peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n, _ := io.ReadAtLeast(peer, got, len(closeFrame)+1)
	if !bytes.Equal(got[:n], closeFrame) {
		t.Fatalf("the peer read % x, want the close frame alone (% x)", got[:n], closeFrame)
	}
}

// TestFrameHeader: the length encodings of RFC 6455 §5.2 at their edges.
func TestFrameHeader(t *testing.T) {
	var b [10]byte
	for n, want := range map[int][]byte{
		0:       {0x81, 0},
		125:     {0x81, 125},
		126:     {0x81, 126, 0, 126},
		65535:   {0x81, 126, 0xff, 0xff},
		65536:   {0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0},
		1 << 32: {0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0},
	} {
		if got := frameHeader(&b, opText, n); !bytes.Equal(got, want) {
			t.Errorf("header for %d bytes: % x, want % x", n, got, want)
		}
	}
}

// TestCloseFrameIsWhole: only a whole close frame shuts the socket, not
// the second of two writes of a long frame that starts with its byte.
func TestCloseFrameIsWhole(t *testing.T) {
	for _, c := range []struct {
		p    []byte
		want bool
	}{
		{[]byte{opClose, 0}, true},
		{[]byte{opClose, 2, 0x03, 0xe8}, true},
		{[]byte{opClose, 2, 0x03, 0xe8, 'x'}, false}, // a payload's bytes
		{[]byte{opClose}, false},
		{[]byte{opText, 0}, false},
	} {
		if got := isCloseFrame(c.p); got != c.want {
			t.Errorf("% x: %v, want %v", c.p, got, c.want)
		}
	}
}

// TestSingleFramesAndLongBatches: a lone frame (framed in the session's
// own buffers) cut by a full socket is finished by the writer goroutine
// before the frames queued behind it, and a first write of more frames than
// one vectored write takes (1,024 buffers) sends them whole and in order.
func TestSingleFramesAndLongBatches(t *testing.T) {
	k, peer := tcpPair(t)
	_ = k.Conn.(*net.TCPConn).SetWriteBuffer(4096)
	_ = peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	s := socketSession(t, k, 64<<20)

	big := payload(0, 1<<20)
	if !s.enqueue(big) {
		t.Fatal("the writer was not idle")
	}
	writeFirst([]*session{s})
	if k.tryTake() {
		t.Fatal("a 1 MiB frame went out at once: the socket was not full")
	}
	want := [][]byte{big}
	for i := 1; i <= 20; i++ {
		want = append(want, payload(i, 300))
		if s.enqueue(want[i]) {
			t.Fatal("a writer was started while one was running")
		}
	}
	expectFrames(t, peer, want)

	// 700 frames queued before the first write: 1,400 buffers.
	awaitWriterIdle(t, s)
	if !s.enqueue([]byte("first")) {
		t.Fatal("a push after the writer's role ended did not start one")
	}
	want = [][]byte{[]byte("first")}
	for i := 1; i < 700; i++ {
		want = append(want, payload(i, 10+i%50))
		if s.enqueue(want[i]) {
			t.Fatal("a writer was started while the first write was due")
		}
	}
	writeFirst([]*session{s})
	expectFrames(t, peer, want)
}

// TestPingGivesWayToTheCloseFrame: a ping waiting on a full socket, none
// of it out, holds the turn only until its session closes: the close
// frame then gets the turn at once, not after the ping's whole deadline.
func TestPingGivesWayToTheCloseFrame(t *testing.T) {
	k, peer := tcpPair(t) // the peer never reads
	_ = k.Conn.(*net.TCPConn).SetWriteBuffer(4096)
	_ = peer.(*net.TCPConn).SetReadBuffer(4096)
	// Fill the socket until it stays full: the peer's window closes a
	// little after the send buffer first fills.
	junk := [][]byte{make([]byte, 1<<20)}
	for full := 0; full < 3; time.Sleep(50 * time.Millisecond) {
		left, err := k.tryWrite(junk)
		if err != nil {
			t.Fatal(err)
		}
		if size(left) == size(junk) {
			full++
		} else {
			full = 0
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.control(ctx, opPing, nil, time.Now().Add(time.Minute)) }()
	// The ping has the turn and waits for the socket.
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the ping did not wait for a full socket: %v", err)
	default:
	}
	if k.tryTake() {
		t.Fatal("the ping waits for the socket without the turn")
	}
	cancel() // the session closes
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the ping ended with %v, want the session's end", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ping kept the turn after its session closed")
	}
	if !k.tryTake() {
		t.Fatal("the ping ended without giving the turn back")
	}
	k.give()
}

// wrappedListener hands out connections that are not *net.TCPConn, as a
// listener wrapped by middleware (or TLS in process) does.
type wrappedListener struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (l wrappedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

// TestWrappedConnectionsAreCountedAndServed: a connection that is not a
// plain TCP socket has no direct write; it is counted in /metrics (a plain
// one is not) and still gets a room's events, through a writer goroutine.
func TestWrappedConnectionsAreCountedAndServed(t *testing.T) {
	h := newTestHub(t, wsLedger{newFakeLedger()}, Options{AuthSecret: "test-secret-test-secret-test-secret"})
	counted := func() float64 {
		var m dto.Metric
		if err := h.metrics.waitingWrites.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	dialTestHub(t, h, "plain")
	if n := counted(); n != 0 {
		t.Fatalf("a plain TCP session counted as without direct writes: %v", n)
	}
	srv := httptest.NewUnstartedServer(h.Handler(nil))
	srv.Listener = wrappedListener{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	conn := dialServer(t, h, srv, "wrapped")
	if n := counted(); n != 1 {
		t.Fatalf("sessions without direct writes: %v, want 1", n)
	}
	h.mu.RLock()
	s := onlySession(h, "wrapped")
	h.mu.RUnlock()
	if !s.enqueue([]byte(`{"type":"event"}`)) {
		t.Fatal("the writer was not idle")
	}
	writeFirst([]*session{s})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, frame, err := conn.Read(ctx); err != nil || string(frame) != `{"type":"event"}` {
		t.Fatalf("the wrapped session's event: %q %v", frame, err)
	}
}

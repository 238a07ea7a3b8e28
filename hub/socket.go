package hub

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// socket is a session's TCP connection as the hub writes to it. The
// session's data frames bypass gorilla/websocket: a room's event is first
// written without waiting (tryWrite), from a few goroutines for the whole
// room, and only a socket that would block gets a writer goroutine of its
// own — instead of a goroutine per session per event and gorilla's lock
// and deadline per frame, about a tenth of the server's CPU in a crowd
// (README, "Fan-out: the crowd"). gorilla still reads, and writes the
// handshake and close frames through this type's Write; every write to
// the connection, whoever makes it, holds the socket's turn, so no frame
// is ever cut by another.
type socket struct {
	net.Conn
	raw      syscall.RawConn // nil when the connection has no descriptor (TLS, tests): every write may wait
	turn     chan struct{}   // holds one token: the right to write
	deadline atomic.Int64    // gorilla's write deadline (unix ns, 0 none), applied only while it holds the turn
	shut     atomic.Bool     // a close frame went out: nothing may follow it

	// The writev in progress, for writevNow; only the turn's holder
	// touches them. raw.Write takes a func: a closure per call was a heap
	// allocation per session per event, half of what a crowd's bids
	// allocated (and so of its garbage collections), so the method value
	// is made once.
	iov       [][]byte
	wrote     int
	werr      error
	writevNow func(fd uintptr) bool
}

func newSocket(c net.Conn) *socket {
	k := &socket{Conn: c, turn: make(chan struct{}, 1)}
	k.turn <- struct{}{}
	if tcp, ok := c.(*net.TCPConn); ok {
		if raw, err := tcp.SyscallConn(); err == nil {
			k.raw = raw
			k.writevNow = k.writev
		}
	}
	return k
}

// writev writes k.iov to fd once, never waiting: a full socket is the
// writer goroutine's.
func (k *socket) writev(fd uintptr) bool {
	for {
		k.wrote, k.werr = unix.Writev(int(fd), k.iov)
		if k.werr != unix.EINTR {
			return true
		}
	}
}

// take waits for the turn until deadline (zero: as long as it takes).
func (k *socket) take(deadline time.Time) bool {
	if k.tryTake() {
		return true
	}
	if deadline.IsZero() {
		<-k.turn
		return true
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-k.turn:
		return true
	case <-t.C:
		return false
	}
}

// tryTake takes the turn if nobody holds it.
func (k *socket) tryTake() bool {
	select {
	case <-k.turn:
		return true
	default:
		return false
	}
}

func (k *socket) give() { k.turn <- struct{}{} }

// SetWriteDeadline records gorilla's deadline for its next Write; the
// connection gets it only while that Write holds the turn, so it never
// cuts a data frame in progress.
func (k *socket) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		k.deadline.Store(0)
	} else {
		k.deadline.Store(t.UnixNano())
	}
	return nil
}

func (k *socket) SetDeadline(t time.Time) error {
	_ = k.SetWriteDeadline(t)
	if t.IsZero() {
		_ = k.Conn.SetWriteDeadline(t)
	}
	return k.Conn.SetReadDeadline(t)
}

// isCloseFrame reports whether p is a whole close frame as gorilla writes
// one (unmasked, its payload at most 125 bytes, in one Write), not the
// second half of a longer frame that happens to start with the same byte.
func isCloseFrame(p []byte) bool {
	return len(p) >= 2 && p[0] == opClose && int(p[1]) == len(p)-2
}

// Write is gorilla's way out (the handshake, close frames, a reply before
// the session exists): whole, in its turn, within gorilla's deadline.
func (k *socket) Write(p []byte) (int, error) {
	var deadline time.Time
	if ns := k.deadline.Load(); ns != 0 {
		deadline = time.Unix(0, ns)
	}
	if !k.take(deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	defer k.give()
	if isCloseFrame(p) {
		k.shut.Store(true) // taken in the turn: a data frame is either out already or dropped
	}
	n, err := k.writeWithin(deadline, [][]byte{p})
	return int(n), err
}

// writeWithin writes bufs, waiting for the connection until deadline (zero:
// as long as it takes); the caller holds the turn. The deadline is cleared
// before the turn passes on, so it never reaches a data frame.
func (k *socket) writeWithin(deadline time.Time, bufs [][]byte) (int64, error) {
	if !deadline.IsZero() {
		_ = k.Conn.SetWriteDeadline(deadline)
		defer func() { _ = k.Conn.SetWriteDeadline(time.Time{}) }()
	}
	b := net.Buffers(bufs)
	return b.WriteTo(k.Conn)
}

// tryWrite writes as much of bufs as the connection takes now, without
// waiting; the caller holds the turn. It returns what is left (nil when
// all went out). Without a descriptor it writes nothing and leaves all.
func (k *socket) tryWrite(bufs [][]byte) ([][]byte, error) {
	if k.raw == nil {
		return bufs, nil
	}
	for len(bufs) > 0 {
		k.iov, k.wrote = bufs[:min(len(bufs), maxIovecs)], 0
		err := k.raw.Write(k.writevNow)
		n := k.wrote
		if err == nil {
			err = k.werr
		}
		k.iov, k.werr = nil, nil
		if errors.Is(err, unix.EAGAIN) {
			return bufs, nil
		}
		if err != nil {
			return bufs, err
		}
		if bufs = consumed(bufs, n); len(bufs) > 0 && n == 0 {
			return bufs, nil
		}
	}
	return nil, nil
}

// writeAll writes bufs, waiting as long as it takes; the caller holds the
// turn. A stuck peer is the hub's write watchdog's (dropStuckWriters).
func (k *socket) writeAll(bufs [][]byte) error {
	_, err := k.writeWithin(time.Time{}, bufs)
	return err
}

// maxIovecs bounds one writev: Linux takes at most 1024 buffers.
const maxIovecs = 1024

// consumed drops the first n bytes of bufs.
func consumed(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs = append([][]byte{bufs[0][n:]}, bufs[1:]...)
	}
	return bufs
}

// WebSocket opcodes the hub writes itself (RFC 6455 §5.2), with FIN set.
const (
	opText  = 0x81
	opPing  = 0x89
	opPong  = 0x8a
	opClose = 0x88
)

// frameHeader writes the header of an unmasked server frame carrying n
// payload bytes into b and returns it.
func frameHeader(b *[10]byte, op byte, n int) []byte {
	b[0] = op
	switch {
	case n < 126:
		b[1] = byte(n)
		return b[:2]
	case n <= 0xffff:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		return b[:4]
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
		return b[:10]
	}
}

// control writes a ping or pong in the first turn free before deadline;
// none free means a data write is stuck (the watchdog's case), and the
// frame is skipped. It then waits for the connection up to the deadline,
// holding the turn: a frame cut there would corrupt the stream, so the
// connection is closed. While none of the frame has gone out, the wait
// also ends when ctx does (the session is closing): a full socket then
// holds up the session's close frame no longer than controlSlice.
func (k *socket) control(ctx context.Context, op byte, payload []byte, deadline time.Time) error {
	if !k.take(deadline) {
		return os.ErrDeadlineExceeded
	}
	defer k.give()
	if k.shut.Load() {
		return net.ErrClosed
	}
	var hdr [10]byte
	left := [][]byte{frameHeader(&hdr, op, len(payload)), payload}
	total := size(left)
	left, err := k.tryWrite(left)
	for err == nil && left != nil {
		untouched := size(left) == total
		if untouched && ctx.Err() != nil {
			return ctx.Err()
		}
		slice := deadline
		if untouched && k.raw != nil { // a TLS connection's write deadline breaks it for good
			slice = earliest(deadline, time.Now().Add(controlSlice))
		}
		var n int64
		n, err = k.writeWithin(slice, left)
		if left = consumed(left, int(n)); size(left) == 0 {
			return nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && slice.Before(deadline) && !time.Now().Before(slice) {
			err = nil // a slice ended, not the deadline
		}
	}
	if err != nil && left != nil && size(left) < total {
		_ = k.Conn.Close() // part of the frame went out
	}
	return err
}

// controlSlice is how often a control frame waiting for a full socket, none
// of it out yet, looks whether its session is closing.
const controlSlice = 100 * time.Millisecond

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func size(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// hijacker hands gorilla's upgrade the connection as a socket, so every
// write gorilla makes takes its turn.
type hijacker struct {
	http.ResponseWriter
	sock *socket
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response does not implement http.Hijacker")
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.sock = newSocket(c)
	return h.sock, rw, nil
}

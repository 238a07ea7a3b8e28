package hub

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn is the server's side of one WebSocket connection. gorilla/websocket
// reads it and writes the handshake and close frames; the session's own
// frames and pings go to its socket directly (socket.go). gorilla leaves the
// close handshake to its caller; wsConn adds it: the close frame sent once,
// the peer given closeTimeout to answer, never a bare reset while the frame
// could still go out.
//
// One goroutine reads (the hello, then the session's read loop) and ends the
// connection with end; at most one writes data frames (the session's
// writer); closeWith may be called from any goroutine.
type wsConn struct {
	*websocket.Conn
	sock      *socket // what the Conn reads from and writes to
	closeOnce sync.Once
}

// closeTimeout bounds each half of the close handshake: the wait for a write
// in progress before the close frame can go out, then the peer's answer.
const closeTimeout = 5 * time.Second

// Session connections get small read buffers (requests are small) and
// gorilla borrows a write buffer from a shared pool only while it writes a
// frame (a reply before the session exists, a close frame), so an idle
// connection holds none. gorilla writes a frame larger than its buffer in
// two socket writes: it only ever writes such a frame before the session's
// writers exist, and its own lock keeps its frames apart.
const (
	sessionReadBuffer  = 1024
	sessionWriteBuffer = 4096
)

// newUpgrader builds the hub's upgrader. The Origin check is the hub's own
// (originAllowed), after the upgrade, so a refused browser gets a 1008 close
// it can show rather than a bare HTTP 403.
func newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  sessionReadBuffer,
		WriteBufferSize: sessionWriteBuffer,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true },
	}
}

// closeWith sends the close frame, once: it waits up to closeTimeout for a
// write in progress to end (a stuck one keeps it out), then gives the peer
// closeTimeout to answer, through the reader's deadline. A second caller
// waits for the first.
func (c *wsConn) closeWith(code int, reason string) {
	c.closeOnce.Do(func() {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeTimeout))
		_ = c.SetReadDeadline(time.Now().Add(closeTimeout))
	})
}

// end is the reader's last act: the close frame with code, unless one went
// out already, the peer's answer awaited (frames before it discarded), then
// the socket closed.
func (c *wsConn) end(code int, reason string) {
	c.closeWith(code, reason)
	err := c.readUntilError()
	var closed *websocket.CloseError
	var nerr net.Error
	if !errors.As(err, &closed) && !(errors.As(err, &nerr) && nerr.Timeout()) {
		// The reader stopped before the peer's close frame, on a frame over
		// the read limit or a protocol error that gorilla answered with its
		// own close frame: what the peer still sends is discarded until it
		// closes, because closing a socket with unread bytes resets the
		// connection under that frame.
		_ = c.NetConn().SetReadDeadline(time.Now().Add(closeTimeout))
		_, _ = io.Copy(io.Discard, c.NetConn())
	}
	_ = c.Close()
}

// readUntilError discards frames until the peer's close frame, the read
// deadline closeWith set, or a broken connection. After a read error it
// returns that error at once.
func (c *wsConn) readUntilError() error {
	for {
		if _, _, err := c.NextReader(); err != nil {
			return err
		}
	}
}

package hub

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/protocol"
	"golang.org/x/time/rate"
)

// session is one authenticated WebSocket connection: a read loop that runs
// commands, and a writer that drains its bounded queue.
type session struct {
	h      *Hub
	id     string
	conn   *wsConn // nil in unit tests
	ident  Identity
	region string
	batch  bool // the hello asked for batch frames (protocol/README.md)
	out    *queue

	ctx    context.Context
	cancel context.CancelFunc

	cmdLimit   *rate.Limiter
	chatLimit  *rate.Limiter
	reactLimit *rate.Limiter
	inflight   chan struct{}
	cmds       sync.WaitGroup

	writingSince atomic.Int64 // start of the write in progress (monotonic ns), 0 when none
	pingSent     atomic.Int64 // when the last ping was sent (monotonic ns), 0 before the first
	pingDue      atomic.Int64 // when the next ping is due (monotonic ns)
	spread       uint32       // random: the session's group in a crowd room's board rollout
	pongSeen     atomic.Int64 // when the last pong arrived (monotonic ns)
	hdr          [10]byte     // the writer's: a single frame's header (framed)
	iov          [2][]byte    // the writer's: a single frame's header and payload

	mu      sync.Mutex
	rooms   map[string]*room
	joining int // joins in progress (MaxRoomsPerSession)
	strikes int

	closeOnce sync.Once
}

func (h *Hub) newSession(conn *wsConn, ident Identity, region string, batch bool) *session {
	ctx, cancel := context.WithCancel(context.Background())
	o := h.opts
	s := &session{
		h: h, id: uuid.NewString(), conn: conn, ident: ident, region: region, batch: batch,
		out: newQueue(o.QueueBytes), ctx: ctx, cancel: cancel,
		cmdLimit:   rate.NewLimiter(rate.Limit(o.CommandRate), o.CommandBurst),
		chatLimit:  rate.NewLimiter(rate.Limit(o.ChatRate), o.ChatBurst),
		reactLimit: rate.NewLimiter(rate.Limit(o.ReactRate), o.ReactBurst),
		inflight:   make(chan struct{}, o.MaxInFlight),
		rooms:      map[string]*room{},
		spread:     rand.Uint32(),
	}
	// The first ping falls anywhere in the interval, so a crowd that
	// arrived together is not pinged together ever after (see pingDue).
	s.pingDue.Store(nanotime() + rand.Int64N(int64(max(o.PingInterval, 1))))
	if conn != nil {
		conn.SetPongHandler(func(string) error {
			s.pongSeen.Store(nanotime())
			return nil
		})
		// The pong goes out in the socket's turn, as gorilla's own handler
		// would, within a second, and not at all when a write is stuck or
		// the session is closing.
		conn.SetPingHandler(func(data string) error {
			err := conn.sock.control(s.ctx, opPong, []byte(data), time.Now().Add(time.Second))
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	return s
}

// send queues a money frame (see queue) and starts the session's writer
// if none runs.
func (s *session) send(frame []byte) {
	if s.enqueue(frame) {
		go s.write(nil)
	}
}

// enqueue queues a money frame and reports whether the caller must start
// the writer (none runs); a session whose queue cannot take the frame even
// after dropping its social frames is closed with 4009, so it never delays
// anyone else.
func (s *session) enqueue(frame []byte) bool {
	ok, start, dropped := s.out.push(frame)
	if dropped > 0 {
		s.h.metrics.socialDropped.Add(float64(dropped))
	}
	if !ok {
		if s.ctx.Err() == nil {
			s.h.metrics.slowCloses.Inc()
			s.close(protocol.CloseTooSlow, "too slow: reconnect and join with since")
		}
		return false
	}
	return start
}

// sendSocial queues a chat, reaction or presence frame (or their batch):
// behind every money frame, and dropped rather than closing the session
// when the queue is under pressure.
func (s *session) sendSocial(frame []byte) {
	if s.enqueueSocial(frame) {
		go s.write(nil)
	}
}

// enqueueSocial queues a social frame and reports whether the caller must
// start the writer.
func (s *session) enqueueSocial(frame []byte) bool {
	return s.queued(s.out.pushSocial(frame))
}

// enqueueView queues the newest frame of a view (queue.pushView) and
// reports whether the caller must start the writer.
func (s *session) enqueueView(view string, frame []byte) bool {
	return s.queued(s.out.pushView(view, frame))
}

// queued counts a social push's drops and reports whether it must start
// the writer.
func (s *session) queued(_, start bool, dropped int) bool {
	if dropped > 0 {
		s.h.metrics.socialDropped.Add(float64(dropped))
	}
	return start
}

func (s *session) sendJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.h.log.Error().Err(err).Msg("encode frame")
		return
	}
	s.send(b)
}

// close ends the session once with a close code. The close handshake runs
// in the background: it may wait for a slow peer.
func (s *session) close(code int, reason string) {
	s.closeOnce.Do(func() {
		s.cancel()
		if n := s.out.close(); n > 0 {
			s.h.metrics.droppedFrames.Add(float64(n))
		}
		if s.conn == nil {
			return // a unit test's session
		}
		// The close frame goes out once the write in progress ends, within
		// closeTimeout; the reader then waits for the peer's answer and
		// closes the socket (wsConn.end): never a bare reset while the
		// frame could go out.
		go s.conn.closeWith(code, reason)
	})
}

// write is the session's writer goroutine: it sends rest (what a first
// write left, see writeNow; then the caller handed over the socket's turn
// with it, so nothing comes between the halves of a frame), then drains the
// queue, waiting on the socket as long as it takes, and returns once the
// queue is empty (see queue). Writes carry no deadline: one that expired
// would cut a frame in half, leaving no way to send the 4009 close frame;
// the hub's write watchdog closes a connection whose write has been stuck
// longer than WriteTimeout instead, its close frame going out if the peer
// reads again.
func (s *session) write(rest [][]byte) {
	k := s.conn.sock
	for {
		if rest == nil {
			frames := s.out.next()
			if frames == nil {
				return
			}
			rest = s.framed(frames)
			s.writingSince.Store(nanotime())
			k.take(time.Time{})
		}
		var err error
		if !k.shut.Load() {
			err = k.writeAll(rest)
		}
		k.give()
		s.writingSince.Store(0)
		rest = nil
		if err != nil {
			s.close(protocol.CloseGoingAway, "write failed")
			return
		}
	}
}

// writeNow is a room event's first write to a session whose writer was
// idle, made by one of a few goroutines that take the room's sessions in
// turn (writeFirst): what the socket takes at once goes out here, and only
// a socket that would block, or is busy, gets a writer goroutine. The
// caller holds the writer's role, as write's caller does.
func (s *session) writeNow() {
	k := s.conn.sock
	if k.raw == nil || !k.tryTake() {
		go s.write(nil)
		return
	}
	for {
		frames := s.out.next()
		if frames == nil {
			k.give()
			return
		}
		if k.shut.Load() {
			continue // a close frame went out: what follows is dropped
		}
		left, err := k.tryWrite(s.framed(frames))
		if err != nil {
			k.give()
			s.close(protocol.CloseGoingAway, "write failed")
			return
		}
		if left != nil {
			s.writingSince.Store(nanotime())
			go s.write(left) // with the turn: a frame may be half out
			return
		}
	}
}

// framed puts each frame behind its WebSocket header, for one vectored
// write. A single frame, the usual case, uses the session's own buffers:
// the writer's role is one goroutine's at a time, and a first write's
// remainder is sent before write frames anything else.
func (s *session) framed(frames [][]byte) [][]byte {
	if len(frames) == 1 {
		s.iov[0] = frameHeader(&s.hdr, opText, len(frames[0]))
		s.iov[1] = frames[0]
		return s.iov[:]
	}
	hdrs := make([][10]byte, len(frames))
	bufs := make([][]byte, 0, 2*len(frames))
	for i, f := range frames {
		bufs = append(bufs, frameHeader(&hdrs[i], opText, len(f)), f)
	}
	return bufs
}

// stuck reports whether a write has been in progress since before cutoff.
func (s *session) stuck(cutoff int64) bool {
	since := s.writingSince.Load()
	return since != 0 && since < cutoff
}

// ping runs once per PingInterval: a session whose previous ping got no
// pong since is closed, else it is pinged again. The pong arrives through
// the read loop, so no goroutine waits for it.
func (s *session) ping() {
	if s.ctx.Err() != nil {
		return
	}
	if sent := s.pingSent.Load(); sent != 0 && s.pongSeen.Load() < sent {
		s.close(protocol.CloseGoingAway, "ping timeout")
		return
	}
	s.pingSent.Store(nanotime())
	// A write in progress delays the ping; a stuck one is the watchdog's.
	_ = s.conn.sock.control(s.ctx, opPing, nil, time.Now().Add(s.h.opts.PingInterval))
}

// readLoop reads requests until the connection ends. Each request runs in
// its own goroutine, at most MaxInFlight at once per session. A closing
// session's frames are discarded while its reader waits for the peer's
// close frame.
func (s *session) readLoop() {
	for {
		_, frame, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		if s.ctx.Err() != nil {
			continue
		}
		select {
		case s.inflight <- struct{}{}:
		case <-s.ctx.Done():
			continue
		}
		// The drain check and the in-flight count move together under the
		// hub's drain lock, so Shutdown never waits while a command slips in.
		s.h.drainMu.RLock()
		if s.h.draining.Load() {
			s.h.drainMu.RUnlock()
			<-s.inflight
			s.reply(errorReply(requestID(frame), protocol.Errorf(protocol.ErrBusy, "the server is shutting down; reconnect")))
			continue
		}
		s.cmds.Add(1)
		s.h.inflight.Add(1)
		s.h.drainMu.RUnlock()
		go func() {
			defer func() {
				<-s.inflight
				s.cmds.Done()
				s.h.inflight.Done()
			}()
			s.handle(frame)
		}()
	}
}

// requestID digs the id out of a frame that may not parse as a request.
func requestID(frame []byte) string {
	var r struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(frame, &r) == nil {
		if s, ok := r.ID.(string); ok && len(s) <= protocol.MaxIDLen {
			return s
		}
	}
	return ""
}

// retryAfter is how long until the limits would let a request of typ
// through: the hint a rate_limited reply carries.
func (s *session) retryAfter(typ string) time.Duration {
	wait := func(l *rate.Limiter) time.Duration {
		r := l.Reserve()
		defer r.Cancel()
		return r.Delay()
	}
	d := wait(s.cmdLimit)
	switch typ {
	case "chat":
		d = max(d, wait(s.chatLimit))
	case "react":
		d = max(d, wait(s.reactLimit))
	}
	return d
}

// invalidFrameCost is how many command tokens a frame that does not parse
// costs: garbage is never cheaper than a request, and a flood of it reaches
// 4029 sooner than a flood of valid requests.
const invalidFrameCost = 2

// limited applies the rate limits to every frame, valid or not (typ
// "invalid"); a session that keeps hitting them is closed with 4029.
func (s *session) limited(typ string) bool {
	var ok bool
	if typ == "invalid" {
		ok = s.cmdLimit.AllowN(time.Now(), invalidFrameCost)
	} else {
		ok = s.cmdLimit.Allow()
	}
	switch typ {
	case "chat":
		ok = ok && s.chatLimit.Allow()
	case "react":
		ok = ok && s.reactLimit.Allow()
	}
	s.mu.Lock()
	if ok {
		s.strikes = 0
	} else {
		s.strikes++
	}
	strikes := s.strikes
	s.mu.Unlock()
	if !ok {
		s.h.metrics.limited.WithLabelValues("rate").Inc()
	}
	if strikes >= s.h.opts.RateStrikes {
		s.close(protocol.CloseRateLimited, "rate limited")
	}
	return !ok
}

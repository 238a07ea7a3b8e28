package fanoutbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lotzero/lotzero/protocol"
)

// client is one lean session. The clients share the machine's cores with
// the server they measure, so each does the least a correct client can: a
// WebSocket library without a context and timer per message (gorilla's;
// the product's Go client, protocol.Client, uses coder/websocket), one
// buffer for every frame, and the seq and kind read from the event's head
// rather than a full JSON decode. It still checks every ledger event
// arrives once and in seq order.
type client struct {
	conn *websocket.Conn
	seq  int64 // the join reply's seq, then the last ledger event received
	lot  string
	// arrivals are this session's bid arrivals; mu guards them against
	// the report reading while a late frame still comes in.
	mu       sync.Mutex
	arrivals []arrival
	dups     atomic.Int64
	gaps     atomic.Int64

	closing    atomic.Bool  // the run is ending: a closed connection is expected
	closedWith atomic.Int64 // the close code when the server closed it (-1: no code)

	// What reached it of the room's chat.
	chatLines, chatCounted, batches atomic.Int64
	// A chatter's replies, and when the next line may go (after a
	// rate_limited reply's retry_after_ms).
	chatSent, chatShown, chatHidden, chatLimited, chatFailed atomic.Int64
	retryAt                                                  atomic.Int64
}

type arrival struct {
	seq int64
	at  time.Time
}

var dialer = websocket.Dialer{ReadBufferSize: 4096, WriteBufferSize: 1024, HandshakeTimeout: time.Minute}

// join dials, says hello, joins and waits for the join reply.
func join(ctx context.Context, ws, token, region, lot string) (*client, error) {
	hello, _ := json.Marshal(protocol.Hello{Type: "hello", Token: token, Region: region, Batch: true})
	joinReq, _ := json.Marshal(protocol.Request{Type: "join", ID: "join", Lot: lot})
	c, err := open(ctx, ws, hello, joinReq)
	if err != nil {
		return nil, err
	}
	for {
		_, frame, err := c.ReadMessage()
		if err != nil {
			c.Close()
			return nil, err
		}
		seq, mine, err := joinReply(frame)
		if !mine {
			continue
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		return &client{conn: c, seq: seq, lot: lot}, nil
	}
}

// joinReply reads the join's reply out of frame: mine is false for any
// other frame. Only what the run needs, in one pass: the seq the events
// follow. Decoded in full (the lot, up to 100 watchers' names), 10,000
// join replies cost the clients a quarter to a third of their CPU in the
// arrival, on the cores the server shares.
func joinReply(frame []byte) (seq int64, mine bool, err error) {
	var r struct {
		Type   string          `json:"type"`
		Re     string          `json:"re"`
		OK     bool            `json:"ok"`
		Error  *protocol.Error `json:"error"`
		Result struct {
			Seq *int64 `json:"seq"`
		} `json:"result"`
	}
	err = json.Unmarshal(frame, &r) // a field of the wrong type still leaves type and re
	if r.Type != "reply" || r.Re != "join" {
		return 0, false, nil
	}
	switch {
	case err != nil:
		return 0, true, fmt.Errorf("join reply: %w: %.200s", err, frame)
	case !r.OK && r.Error != nil:
		return 0, true, r.Error
	case !r.OK:
		return 0, true, fmt.Errorf("join refused without an error: %.200s", frame)
	case r.Result.Seq == nil:
		return 0, true, fmt.Errorf("join reply without a seq: %.200s", frame)
	}
	return *r.Result.Seq, true, nil
}

// open dials and sends the first frames.
func open(ctx context.Context, ws string, frames ...[]byte) (*websocket.Conn, error) {
	c, _, err := dialer.DialContext(ctx, ws, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	for _, f := range frames {
		if err := c.WriteMessage(websocket.TextMessage, f); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// tally adds up what the sessions saw wrong: duplicates, gaps, closes.
func tally(res *Result, clients []*client) {
	for _, c := range clients {
		if c != nil {
			res.Duplicates += int(c.dups.Load())
			res.OutOfOrder += int(c.gaps.Load())
			if code := int(c.closedWith.Load()); code != 0 {
				res.Closed[code]++
			}
		}
	}
}

// failure names a failed join for the report.
func failure(err error) string {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		return perr.Code
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("closed %d", ce.Code)
	}
	return err.Error()
}

// read follows the session's ledger events: each must be the next seq
// after the join's snapshot. Bid arrivals are kept and counted in col;
// chat lines, batches and a chatter's replies are counted.
func (c *client) read(col *collector) {
	var buf bytes.Buffer
	for {
		frame, err := c.next(&buf)
		if err != nil {
			if !c.closing.Load() {
				code := int64(-1)
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					code = int64(ce.Code)
				}
				c.closedWith.Store(code)
			}
			return
		}
		now := time.Now()
		switch {
		case bytes.HasPrefix(frame, []byte(`{"type":"batch"`)):
			c.batch(frame)
			continue
		case bytes.HasPrefix(frame, []byte(`{"type":"reply"`)):
			c.reply(frame)
			continue
		case !bytes.HasPrefix(frame, []byte(`{"type":"event"`)):
			continue
		}
		kind, seq := eventHead(frame)
		if seq == 0 {
			if kind == "chat" {
				c.chatLines.Add(1)
			}
			continue
		}
		c.got(seq, kind == "bid", now, col)
	}
}

// got checks an event's seq follows the last one (counting duplicates and
// gaps) and, when it is measured, keeps and counts its arrival.
func (c *client) got(seq int64, measured bool, now time.Time, col *collector) {
	switch {
	case seq <= c.seq:
		c.dups.Add(1)
		return
	case seq != c.seq+1:
		c.gaps.Add(1)
	}
	c.seq = seq
	if measured {
		c.mu.Lock()
		c.arrivals = append(c.arrivals, arrival{seq, now})
		c.mu.Unlock()
		col.arrived(seq)
	}
}

// eventHead reads an event frame's kind and seq (0 for a social event)
// from the fields before its data: the server writes them first, and none
// of them can hold an escaped quote (ids, kind, time, Region).
func eventHead(frame []byte) (kind string, seq int64) {
	if i := bytes.Index(frame, []byte(`,"data":`)); i >= 0 {
		frame = frame[:i]
	}
	if i := bytes.Index(frame, []byte(`"kind":"`)); i >= 0 {
		rest := frame[i+len(`"kind":"`):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			kind = string(rest[:j])
		}
	}
	return kind, numberAfter(frame, []byte(`"seq":`))
}

// numberAfter reads the unsigned integer right after the first key in b
// (0 when there is none).
func numberAfter(b, key []byte) int64 {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0
	}
	n := int64(0)
	for _, d := range b[i+len(key):] {
		if d < '0' || d > '9' {
			break
		}
		n = n*10 + int64(d-'0')
	}
	return n
}

// next reads the next frame into buf, reusing its memory; the frame is
// valid until the next call.
func (c *client) next(buf *bytes.Buffer) ([]byte, error) {
	_, r, err := c.conn.NextReader()
	if err != nil {
		return nil, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// batch counts a batch frame's chat lines and its suppressed chat count
// (the frame ends with "suppressed":{"chat":n,…}}). Ledger events never
// come in batches.
func (c *client) batch(frame []byte) {
	c.batches.Add(1)
	c.chatLines.Add(int64(bytes.Count(frame, []byte(`"kind":"chat"`))))
	i := bytes.LastIndex(frame, []byte(`"suppressed":{`))
	if i < 0 {
		return
	}
	c.chatCounted.Add(numberAfter(frame[i:], []byte(`"chat":`)))
}

// reply counts a chatter's chat reply.
func (c *client) reply(frame []byte) {
	var r struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  *protocol.Error `json:"error"`
	}
	if json.Unmarshal(frame, &r) != nil {
		return
	}
	var res protocol.ChatResult
	switch {
	case r.OK && json.Unmarshal(r.Result, &res) == nil && res.Broadcast:
		c.chatShown.Add(1)
	case r.OK:
		c.chatHidden.Add(1)
	case r.Error != nil && r.Error.Code == protocol.ErrRateLimited:
		c.chatLimited.Add(1)
		c.retryAt.Store(time.Now().Add(time.Duration(r.Error.RetryAfterMS) * time.Millisecond).UnixNano())
	default:
		c.chatFailed.Add(1)
	}
}

// chat sends lines at rate per second until stop, starting at a random
// point of the first interval (people do not type in step), and waits out
// a rate_limited reply's retry_after_ms.
func (c *client) chat(ctx context.Context, n int, rate float64, stop <-chan struct{}) {
	every := time.Duration(float64(time.Second) / rate)
	next := time.Now().Add(time.Duration(rand.Int64N(int64(every))))
	for {
		next = time.Unix(0, max(next.UnixNano(), c.retryAt.Load()))
		select {
		case <-stop:
			return
		case <-time.After(time.Until(next)):
		}
		i := c.chatSent.Load() // ids unique across rounds: a reused one is a retry
		line, _ := json.Marshal(protocol.Request{Type: "chat", ID: fmt.Sprintf("c%d", i), Lot: c.lot,
			Text: fmt.Sprintf("chatter %d says line %d: going once, going twice", n, i)})
		if c.conn.WriteMessage(websocket.TextMessage, line) != nil {
			return
		}
		c.chatSent.Add(1)
		next = next.Add(every)
	}
}

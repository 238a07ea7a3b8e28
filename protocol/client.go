package protocol

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Message is one pushed frame: an event, an outbid, a wallet update, a
// live view (leaderboard, feed, reactions), or a reply nobody waits for. Exactly one of the pointers is set; Raw is the
// frame as received.
type Message struct {
	Type   string
	Raw    []byte
	Event  *Event
	Outbid *Outbid
	Wallet *WalletMsg
	Reply  *Reply // a reply no Do call is waiting for (requests sent with WriteRaw)
	// The live views (extensions of v1).
	Leaderboard *Leaderboard
	Feed        *FeedFrame
	Reactions   *ReactionsFrame
	// Batch is a batch frame's counts of what the room did not show: the
	// client delivers a batch's events one Message each (Type "event", Raw
	// the event's own frame), then this Message only when Suppressed is
	// not empty.
	Batch *Batch
	// Received is when the frame was read off the connection, for bots that
	// measure how late events arrive.
	Received time.Time
}

// Client is a bot's connection: it authenticates, matches replies to
// requests by id, and delivers everything else on Messages in order.
type Client struct {
	conn    *websocket.Conn
	Welcome Welcome

	mu      sync.Mutex
	pending map[string]chan Reply
	next    atomic.Int64
	prefix  string // makes generated request ids unique across clients of one user
	msgs    chan Message
	done    chan struct{}
	err     error // why the read loop ended
}

// DialOptions tune Dial. The zero value is fine.
type DialOptions struct {
	// Buffer is how many pushed messages may wait unread before the client
	// stops reading (and the server eventually closes it as too slow).
	// Zero means 4096.
	Buffer int
	// HTTPHeader is sent with the upgrade (e.g. Origin).
	HTTPHeader http.Header
	// Unbatched leaves batch frames off (the hello does not ask for them):
	// a busy room's social events then come one frame each, as in v1.
	// Messages look the same either way.
	Unbatched bool
}

// Dial connects to a LotZero server's WebSocket (ws://host:port/ws), sends
// hello and waits for welcome. A refused hello returns a *websocket.CloseError
// inside the error (4001 for a bad token).
func Dial(ctx context.Context, url, token, region string, opts *DialOptions) (*Client, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: opts.HTTPHeader})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	conn.SetReadLimit(1 << 20)
	hello, _ := json.Marshal(Hello{Type: "hello", Token: token, Region: region, Batch: !opts.Unbatched})
	if err := conn.Write(ctx, websocket.MessageText, hello); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("send hello: %w", err)
	}
	_, frame, err := conn.Read(ctx)
	if err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("await welcome: %w", err)
	}
	var prefix [4]byte
	_, _ = rand.Read(prefix[:])
	c := &Client{conn: conn, pending: map[string]chan Reply{}, msgs: make(chan Message, opts.Buffer), done: make(chan struct{}),
		prefix: hex.EncodeToString(prefix[:])}
	if err := json.Unmarshal(frame, &c.Welcome); err != nil || c.Welcome.Type != "welcome" {
		conn.CloseNow()
		return nil, fmt.Errorf("expected welcome, got %s", frame)
	}
	go c.readLoop()
	return c, nil
}

func (c *Client) readLoop() {
	defer close(c.done)
	defer close(c.msgs)
	for {
		_, frame, err := c.conn.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		var head struct {
			Type string `json:"type"`
			Re   string `json:"re"`
		}
		if json.Unmarshal(frame, &head) != nil {
			continue
		}
		m := Message{Type: head.Type, Raw: frame, Received: time.Now()}
		switch head.Type {
		case "reply":
			var r Reply
			if json.Unmarshal(frame, &r) == nil {
				c.mu.Lock()
				ch := c.pending[r.Re]
				delete(c.pending, r.Re)
				c.mu.Unlock()
				if ch != nil {
					ch <- r
					continue
				}
				m.Reply = &r
			}
		case "event":
			m.Event = new(Event)
			_ = json.Unmarshal(frame, m.Event)
		case "outbid":
			m.Outbid = new(Outbid)
			_ = json.Unmarshal(frame, m.Outbid)
		case "wallet":
			m.Wallet = new(WalletMsg)
			_ = json.Unmarshal(frame, m.Wallet)
		case "leaderboard":
			m.Leaderboard = new(Leaderboard)
			_ = json.Unmarshal(frame, m.Leaderboard)
		case "feed":
			m.Feed = new(FeedFrame)
			_ = json.Unmarshal(frame, m.Feed)
		case "reactions":
			m.Reactions = new(ReactionsFrame)
			_ = json.Unmarshal(frame, m.Reactions)
		case "batch":
			var b Batch
			if json.Unmarshal(frame, &b) != nil {
				continue
			}
			for _, raw := range b.Events {
				ev := Message{Type: "event", Raw: raw, Event: new(Event), Received: m.Received}
				_ = json.Unmarshal(raw, ev.Event)
				c.msgs <- ev
			}
			if len(b.Suppressed) == 0 {
				continue
			}
			m.Batch = &b
		}
		c.msgs <- m
	}
}

// Messages delivers pushed frames in the order received. It is closed when
// the connection ends; Err then says why.
func (c *Client) Messages() <-chan Message { return c.msgs }

// Err is why the connection ended (nil while it is open).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Do sends req and waits for its reply. An empty req.ID gets a fresh one.
// A reply with ok=false is returned as a reply, not an error; the error is
// for transport failures.
func (c *Client) Do(ctx context.Context, req Request) (Reply, error) {
	if req.ID == "" {
		req.ID = fmt.Sprintf("%s-%d", c.prefix, c.next.Add(1))
	}
	ch := make(chan Reply, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return Reply{}, err
	}
	c.pending[req.ID] = ch
	c.mu.Unlock()
	frame, err := json.Marshal(req)
	if err != nil {
		return Reply{}, err
	}
	if err := c.conn.Write(ctx, websocket.MessageText, frame); err != nil {
		c.forget(req.ID)
		return Reply{}, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return Reply{}, fmt.Errorf("connection closed before the reply: %w", c.Err())
		}
		return r, nil
	case <-ctx.Done():
		c.forget(req.ID)
		return Reply{}, ctx.Err()
	}
}

func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// WriteRaw sends a frame as is: tests use it to send malformed input.
func (c *Client) WriteRaw(ctx context.Context, frame []byte) error {
	return c.conn.Write(ctx, websocket.MessageText, frame)
}

// Abort drops the connection at once, without a close handshake, as a
// network failure would.
func (c *Client) Abort() {
	_ = c.conn.CloseNow()
	<-c.done
}

// Close closes the connection normally.
func (c *Client) Close() error {
	err := c.conn.Close(websocket.StatusNormalClosure, "bye")
	<-c.done
	return err
}

// Decode decodes an ok reply's result into v, or returns its error.
func (r Reply) Decode(v any) error {
	if !r.OK {
		if r.Error == nil {
			return errors.New("reply not ok and without an error")
		}
		return r.Error
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(r.Result, v)
}

// Session is the answer of POST /api/session.
type Session struct {
	Token string   `json:"token"`
	User  string   `json:"user"`
	Roles []string `json:"roles"`
}

// Login asks a demo-mode server for a token: POST /api/session. baseURL is
// http://host:port.
func Login(ctx context.Context, baseURL, user, region string, roles ...string) (Session, error) {
	body, _ := json.Marshal(map[string]any{"user": user, "region": region, "roles": roles})
	var s Session
	err := PostJSON(ctx, baseURL+"/api/session", "", body, &s)
	return s, err
}

// PostJSON posts a JSON body and decodes the JSON answer into out; an error
// answer becomes an *Error.
func PostJSON(ctx context.Context, url, token string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return doJSON(req, token, out)
}

// GetJSON fetches url and decodes its JSON answer into out.
func GetJSON(ctx context.Context, url, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	return doJSON(req, token, out)
}

func doJSON(req *http.Request, token string, out any) error {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error *Error `json:"error"`
		}
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != nil {
			return e.Error
		}
		return fmt.Errorf("%s %s: %s", req.Method, req.URL, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// WSURL turns http://host:port into ws://host:port/ws.
func WSURL(baseURL string) string {
	return "ws" + strings.TrimPrefix(strings.TrimSuffix(baseURL, "/"), "http") + "/ws"
}

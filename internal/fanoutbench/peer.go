package fanoutbench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// RunCentrifugo measures the reference server, Centrifugo, with the same
// client method as Run: Sessions connections dialled at the same instant,
// each subscribing to one channel, then Bids publications Interval apart
// through its HTTP API, each timed from its sending to its arrival at
// every session, which must get every one once and in order. cfg.URL is
// the server (http://host:port, its client and HTTP API insecure, as for a
// benchmark); cfg.Pid, when set, lets the run read its CPU and memory. A
// publication commits nothing, where a LotZero bid is a ledger transaction.
func RunCentrifugo(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Sessions < 1 || cfg.Bids < 1 || cfg.URL == "" {
		return Result{}, fmt.Errorf("the peer needs --url, and sessions and bids of at least 1")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	res := Result{Sessions: cfg.Sessions, Users: cfg.Sessions, JoinFailures: map[string]int{}, Closed: map[int]int{}}
	raiseFileLimit()
	base := strings.TrimSuffix(cfg.URL, "/")
	ws := "ws" + strings.TrimPrefix(base, "http") + "/connection/websocket"
	res.RSSBase = rss(cfg.Pid)

	cfg.say("%d sessions subscribing at once", cfg.Sessions)
	col := newCollector()
	clients := dialAll(cfg.Sessions, &res, func(int) (*client, error) { return subscribe(ctx, ws) },
		func(c *client) { c.readPushes(col) })
	defer closeAll(clients)
	cfg.say("%d of %d subscribed in %v", res.Joined, cfg.Sessions, res.JoinTime.Round(time.Millisecond))
	time.Sleep(2 * time.Second) // as Run: the crowd settles before memory is read
	res.RSSLoaded = rss(cfg.Pid)
	if res.RSSBase > 0 && res.RSSLoaded > res.RSSBase && res.Joined > 0 {
		res.RSSPerConn = float64(res.RSSLoaded-res.RSSBase) / float64(res.Joined)
	}

	sent := map[int64]time.Time{}
	cpu0, t0 := cpuTime(cfg.Pid), time.Now()
	for seq := int64(1); seq <= int64(cfg.Bids); seq++ {
		body := fmt.Sprintf(`{"channel":"lot","data":{"type":"event","seq":%d,"kind":"bid","amount":%d,"bidder":"fanbidder","bidder_region":"us-east-1"}}`, seq, seq*100)
		sent[seq] = time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/publish", strings.NewReader(body))
		if err != nil {
			return res, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return res, fmt.Errorf("publish: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return res, fmt.Errorf("publish: HTTP %d", resp.StatusCode)
		}
		col.await(seq, res.Joined, 10*time.Second)
		time.Sleep(cfg.Interval)
	}
	if used := cpuTime(cfg.Pid) - cpu0; used > 0 {
		res.ServerCPUPerBid = used / time.Duration(cfg.Bids)
		res.QuietCores = used.Seconds() / time.Since(t0).Seconds()
	}
	res.RSSAfter = rss(cfg.Pid)
	all := latencyOf(latencies(clients, sent))
	res.Quiet = all
	res.Samples, res.P50, res.P99, res.Max = all.Samples, all.P50, all.P99, all.Max
	res.Missing = res.Joined*cfg.Bids - res.Samples
	tally(&res, clients)
	if res.Joined != cfg.Sessions || res.Missing != 0 || res.Duplicates != 0 || res.OutOfOrder != 0 {
		return res, ErrLoss
	}
	if len(res.Closed) > 0 {
		return res, ErrClosed
	}
	return res, nil
}

// subscribe connects to Centrifugo and subscribes to the channel "lot"
// (its JSON protocol: commands and replies one per line, matched by id).
func subscribe(ctx context.Context, ws string) (*client, error) {
	c, err := open(ctx, ws, []byte(`{"id":1,"connect":{}}`+"\n"+`{"id":2,"subscribe":{"channel":"lot"}}`))
	if err != nil {
		return nil, err
	}
	for {
		_, frame, err := c.ReadMessage()
		if err != nil {
			c.Close()
			return nil, err
		}
		for _, line := range bytes.Split(frame, []byte("\n")) {
			if !bytes.Contains(line, []byte(`"id":2`)) {
				continue
			}
			if bytes.Contains(line, []byte(`"error"`)) {
				c.Close()
				return nil, fmt.Errorf("subscribe: %s", line)
			}
			return &client{conn: c}, nil
		}
	}
}

// readPushes follows the channel's publications as read does a room's
// ledger events: each must carry the next seq. Centrifugo's pings are
// empty lines answered with an empty command.
func (c *client) readPushes(col *collector) {
	var buf bytes.Buffer
	for {
		frame, err := c.next(&buf)
		if err != nil {
			if !c.closing.Load() {
				c.closedWith.Store(-1)
			}
			return
		}
		now := time.Now()
		for line := range bytes.SplitSeq(frame, []byte("\n")) {
			if len(bytes.TrimSpace(line)) <= 2 {
				if c.conn.WriteMessage(websocket.TextMessage, []byte(`{}`)) != nil {
					return
				}
				continue
			}
			seq := numberAfter(line, []byte(`"seq":`))
			if seq == 0 || !bytes.Contains(line, []byte(`"push"`)) {
				continue
			}
			c.got(seq, true, now, col)
		}
	}
}

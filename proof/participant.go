package proof

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lotzero/lotzero/proof/checker"
	"github.com/lotzero/lotzero/protocol"
)

// participant is one racer, on a real WebSocket session. When its
// connection breaks it reconnects, and an operation whose outcome it lost is
// retried under the same request id, which returns the first outcome.
type participant struct {
	id     int
	user   string
	region string
	token  string
	wss    []string // its node's WebSocket URL first, then the others'
	rec    *recorder
	// shared, when set, is the participant whose session this one races on:
	// one user's many racers share a few sessions, as a server caps the
	// sessions of one user (each session carries several requests at once).
	shared *participant

	dial   sync.Mutex // one dial at a time for the session
	mu     sync.Mutex
	client *protocol.Client
	before checker.Wallet
}

// session is the participant that owns the connection p races on.
func (p *participant) session() *participant {
	if p.shared != nil {
		return p.shared
	}
	return p
}

// connect dials until it succeeds or ctx ends (a node may be restarting).
func (p *participant) connect(ctx context.Context) (*protocol.Client, error) {
	if p.shared != nil {
		return p.shared.connect(ctx)
	}
	p.dial.Lock()
	defer p.dial.Unlock()
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c != nil && c.Err() == nil {
		return c, nil
	}
	for attempt := 0; ; attempt++ {
		// A node that does not answer is left for the next: its sessions
		// move to another node, as a load balancer would move them.
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := protocol.Dial(dctx, p.wss[attempt%len(p.wss)], p.token, p.region, &protocol.DialOptions{Buffer: 256})
		cancel()
		if err == nil {
			p.mu.Lock()
			first := p.client == nil
			p.client = c
			if first {
				p.before = walletOf(c.Welcome.Wallet)
			}
			p.mu.Unlock()
			go p.watchWallet(c)
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect %s: %w (last: %v)", p.user, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// watchWallet records every wallet the session is pushed.
func (p *participant) watchWallet(c *protocol.Client) {
	for m := range c.Messages() {
		if m.Wallet != nil {
			w := walletOf(m.Wallet.Wallet)
			p.rec.add(checker.Op{Process: p.id, Type: checker.Read, F: "wallet", User: p.user, Wallet: &w})
		}
	}
}

// drop cuts the connection at once, as a network fault would.
func (p *participant) drop() {
	p = p.session()
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c != nil {
		c.Abort()
	}
}

// close ends the session normally.
func (p *participant) close() {
	p = p.session()
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func walletOf(w protocol.Wallet) checker.Wallet {
	return checker.Wallet{Funded: w.Funded, Held: w.Held, Spent: w.Spent, Earned: w.Earned, Available: w.Available,
		Owed: w.Owed, Frozen: w.Frozen, PayoutPending: w.PayoutPending}
}

// outcome is how one operation ended, for the report's latency and counts.
type outcome struct {
	region  string
	code    string // "" for ok, the error code, or "info"
	latency time.Duration
}

// do runs one operation to a determinate outcome if it can: a lost
// connection is recorded as info and the request retried under the same id
// after reconnecting; busy (nothing changed) is retried a few times too.
func (p *participant) do(ctx context.Context, req protocol.Request, op checker.Op) (protocol.Reply, outcome) {
	op.Process, op.User, op.Region, op.ID = p.id, p.user, p.region, req.ID
	began := time.Now()
	busy, limited := 0, 0
	for {
		c, err := p.connect(ctx)
		if err != nil {
			return protocol.Reply{}, outcome{region: p.region, code: "info", latency: time.Since(began)}
		}
		inv := op
		inv.Type = checker.Invoke
		p.rec.add(inv)
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		reply, err := c.Do(rctx, req)
		cancel()
		if err != nil {
			info := op
			info.Type, info.Code = checker.Info, shortErr(err)
			p.rec.add(info)
			if ctx.Err() != nil {
				return protocol.Reply{}, outcome{region: p.region, code: "info", latency: time.Since(began)}
			}
			continue
		}
		done := op
		if reply.OK {
			done.Type = checker.OK
			fillResult(&done, req.Type, reply)
			p.rec.add(done)
			return reply, outcome{region: p.region, latency: time.Since(began)}
		}
		done.Type, done.Code = checker.Fail, reply.Error.Code
		p.rec.add(done)
		// rate_limited: nothing ran; a well-behaved bot waits as long as the
		// server says and asks again under the same id.
		if reply.Error.Code == protocol.ErrRateLimited && limited < 100 && ctx.Err() == nil {
			limited++
			time.Sleep(time.Duration(max(reply.Error.RetryAfterMS, 20)) * time.Millisecond)
			continue
		}
		// busy: nothing changed; internal: the server says to retry with the
		// same id. Either way the retry returns the request's real outcome.
		if (reply.Error.Code == protocol.ErrBusy || reply.Error.Code == protocol.ErrInternal) && busy < 10 && ctx.Err() == nil {
			busy++
			time.Sleep(time.Duration(busy*20) * time.Millisecond)
			continue
		}
		return reply, outcome{region: p.region, code: reply.Error.Code, latency: time.Since(began)}
	}
}

// fillResult records what an ok reply to a request of type typ says: its
// seq, and a bid's amount and standing or a purchase's or tick's price (and
// a purchase's quantity).
func fillResult(op *checker.Op, typ string, r protocol.Reply) {
	switch typ {
	case "bid":
		var res protocol.BidResult
		_ = r.Decode(&res)
		op.Seq, op.High = res.Seq, res.High
		if res.Amount != 0 {
			op.Amount = res.Amount
		}
	case "claim", "buy":
		var res protocol.PurchaseResult
		_ = r.Decode(&res)
		op.Seq, op.Price = res.Seq, res.Price
		if res.Qty != 0 {
			op.Qty = res.Qty
		}
	case "tick":
		var res protocol.TickResult
		_ = r.Decode(&res)
		op.Seq, op.Price = res.Seq, res.Price
	default: // open, close
		var res protocol.SeqResult
		_ = r.Decode(&res)
		op.Seq = res.Seq
	}
}

func shortErr(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

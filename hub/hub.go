// Package hub is the real-time half of LotZero: WebSocket sessions in
// per-lot rooms speaking protocol v1, commands run as ledger transactions,
// and every committed event pushed to every session that should see it, on
// every node, through the firehose.
package hub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v82"
	"golang.org/x/time/rate"
)

// Hub wires the ledger, the firehose and the sessions of one server node.
type Hub struct {
	opts    Options
	ledger  Ledger
	fh      firehose.Firehose
	tokens  *Tokens
	stripe  *stripe.Client // nil: card top-ups off
	log     zerolog.Logger
	metrics *metrics
	crowd   crowdWatch

	mu       sync.RWMutex
	rooms    map[string]*room
	users    map[string]map[*session]struct{}
	sessions map[*session]struct{}

	presence        *presenceView    // who is in each lot's room, across nodes, as last read
	personal        *seenSet         // ledger events whose outbid/wallet pushes this node made
	presenceChanges *presenceChanges // arrivals and departures awaiting their coalesced announcement
	walletMu        sync.Mutex       // orders wallet pushes
	walletSent      map[string]int64 // user -> version of the wallet last sent to their sessions here
	published       chan []ledger.EventKey
	pub             *publisher // publishes beside the replies (publisher.go)
	live            *liveViews // the social views' recording and live pushes

	upgrader   *websocket.Upgrader
	conns      atomic.Int64  // WebSocket connections open or being opened (MaxSessions)
	pending    *pendingSlots // connections yet to say hello (MaxPending, MaxPendingPerIP)
	draining   atomic.Bool
	drainMu    sync.RWMutex  // orders the drain flag against new in-flight commands
	auditLimit *rate.Limiter // paces GET /api/audit outside demo mode
	// warnWaitingWrites says once that connections lack the direct write.
	warnWaitingWrites sync.Once
	// beats is the presence heartbeat's buffer, reused round to round (one
	// goroutine's): a crowd of 10,000 made 4 MB of garbage every round.
	beats    []firehose.Heartbeat
	inflight sync.WaitGroup // commands in progress, across sessions
	bg       sync.WaitGroup // background loops
	stop     context.CancelFunc
}

// processStart anchors nanotime's monotonic readings.
var processStart = time.Now()

// New builds a hub. Call Run to start its background work.
func New(l Ledger, fh firehose.Firehose, opts Options) *Hub {
	opts = opts.withDefaults()
	h := &Hub{
		opts: opts, ledger: l, fh: fh, tokens: NewTokens(opts.AuthSecret, opts.MaxTokenTTL), stripe: newStripeClient(opts.Stripe), log: opts.Logger,
		metrics: newMetrics(l, fh), rooms: map[string]*room{}, users: map[string]map[*session]struct{}{},
		sessions: map[*session]struct{}{}, personal: newSeenSet(1 << 16), presenceChanges: newPresenceChanges(),
		walletSent: map[string]int64{}, published: make(chan []ledger.EventKey, 1024), pub: newPublisher(), live: newLiveViews(), auditLimit: rate.NewLimiter(rate.Every(opts.AuditEvery), 2),
		pending:  newPendingSlots(opts.MaxPending, opts.MaxPendingPerIP, opts.HelloTimeout),
		upgrader: newUpgrader(),
	}
	h.presence = newPresenceView(fh.Presence(), opts.Node, h.firehoseDown)
	return h
}

// Tokens is the hub's token authority (cmd uses it to mint tokens).
func (h *Hub) Tokens() *Tokens { return h.tokens }

// Run starts the firehose subscription, the outbox relay, the Dutch ticker,
// the English closer and presence heartbeats. They stop at Shutdown.
func (h *Hub) Run(ctx context.Context) error {
	ctx, h.stop = context.WithCancel(ctx)
	msgs, err := h.fh.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("subscribe to firehose: %w", err)
	}
	h.loop(func() { h.dispatch(ctx, msgs) })
	h.loop(func() { h.markLoop(ctx) })
	h.loop(func() { h.every(ctx, h.opts.RelayEvery, h.relayOutbox) })
	h.loop(func() { h.every(ctx, h.opts.TickEvery, h.schedule) })
	h.loop(func() { h.every(ctx, h.presenceTTL()/3, h.heartbeat) })
	h.loop(func() { h.every(ctx, h.opts.PresenceEvery, h.flushPresence) })
	h.loop(func() {
		h.every(ctx, h.opts.PingInterval/pingSlots, func(ctx context.Context) { h.pingDue(ctx, nanotime()) })
	})
	h.loop(func() { h.every(ctx, time.Second, h.dropStuckWriters) })
	h.loop(func() { h.every(ctx, h.opts.PruneEvery, h.pruneRequests) })
	for range 2 {
		h.loop(func() { h.recordLoop(ctx, h.live.now) })
	}
	h.loop(func() { h.recordLoop(ctx, h.live.later) })
	h.loop(func() { h.every(ctx, h.opts.ViewsEvery, h.flushViews) })
	if h.opts.CrowdArrived != nil {
		h.loop(func() { h.every(ctx, time.Second, h.afterCrowd) })
	}
	return nil
}

func (h *Hub) loop(f func()) {
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		f()
	}()
}

func (h *Hub) every(ctx context.Context, d time.Duration, f func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

// Shutdown drains the node: new commands are refused, commands in flight
// finish (and publish what they committed), sessions are closed with 1001,
// the outbox is relayed one last time and background work stops.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.drainMu.Lock()
	h.draining.Store(true)
	h.drainMu.Unlock()
	done := make(chan struct{})
	go func() {
		h.inflight.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("commands still in flight: %w", ctx.Err())
	}
	h.mu.RLock()
	all := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		all = append(all, s)
	}
	h.mu.RUnlock()
	for _, s := range all {
		s.close(protocol.CloseGoingAway, "server shutting down")
	}
	h.pub.waitPublishes() // each within publishTimeout
	relayCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	h.relayPending(relayCtx, 0)
	h.drainRecords(relayCtx)
	cancel()
	if h.stop != nil {
		h.stop()
	}
	h.bg.Wait()
	return err
}

// pingSlots is how many turns a PingInterval is cut into: each turn pings
// the sessions due in it. A crowd joins within a second, and pinging all
// of it at once every PingInterval is a write per session in one burst,
// as costly as a bid's fan-out and in its way; spread over the turns it
// is a small steady load.
const pingSlots = 25

// pingDue pings, a bounded number at a time, the sessions whose ping is
// due by now (monotonic ns) and sets their next one about PingInterval
// later; a session that has not answered its previous ping is closed (see
// session.ping). One loop for the node instead of a timer per connection.
func (h *Hub) pingDue(ctx context.Context, now int64) {
	h.mu.RLock()
	var due []*session
	for s := range h.sessions {
		if s.pingDue.Load() <= now {
			due = append(due, s)
		}
	}
	h.mu.RUnlock()
	interval := int64(h.opts.PingInterval)
	sem := make(chan struct{}, 256)
	for _, s := range due {
		// Each keeps its own point in the interval. One far behind (turns
		// that stalled on stuck writes) gets a fresh random point: setting
		// them all to now+interval would line them up for good.
		next := s.pingDue.Load() + interval
		if next < now+interval/2 {
			next = now + interval/2 + rand.Int64N(interval)
		}
		s.pingDue.Store(next)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		go func() {
			defer func() { <-sem }()
			s.ping()
		}()
	}
}

// dropStuckWriters closes every connection whose current write has not
// finished within WriteTimeout: its peer stopped reading. It is too slow,
// so it gets 4009 like an overflowing queue: the close frame is sent as
// soon as the stuck write lets it, and the library drops the connection
// if that has not happened within its own short close deadline (5s), so a
// peer that reads again soon learns why instead of finding a reset.
func (h *Hub) dropStuckWriters(context.Context) {
	cutoff := nanotime() - int64(h.opts.WriteTimeout)
	h.mu.RLock()
	var stuck []*session
	for s := range h.sessions {
		if s.stuck(cutoff) {
			stuck = append(stuck, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range stuck {
		if s.ctx.Err() != nil {
			continue // already closing; its close frame has its deadline
		}
		h.log.Info().Str("user", s.ident.User).Msg("closing a connection stuck in a write with 4009")
		h.metrics.slowCloses.Inc()
		s.close(protocol.CloseTooSlow, "too slow: reconnect and join with since")
	}
}

// pruneRequests deletes idempotency records past RequestRetention, so the
// requests table holds one retention's traffic, not all of history.
func (h *Hub) pruneRequests(ctx context.Context) {
	n, err := h.ledger.PruneRequests(ctx, h.opts.RequestRetention)
	if err != nil && ctx.Err() == nil {
		h.log.Warn().Err(err).Msg("prune request records")
	}
	if n > 0 {
		h.log.Info().Int("deleted", n).Dur("retention", h.opts.RequestRetention).Msg("pruned request records")
	}
}

// nanotime is a monotonic clock reading in nanoseconds.
func nanotime() int64 { return int64(time.Since(processStart)) }

// register and unregister track a session for user pushes and shutdown.
// register refuses (false) a session past its user's MaxSessionsPerUser.
func (h *Hub) register(s *session) bool {
	h.mu.Lock()
	if len(h.users[s.ident.User]) >= h.opts.MaxSessionsPerUser {
		h.mu.Unlock()
		return false
	}
	h.sessions[s] = struct{}{}
	if h.users[s.ident.User] == nil {
		h.users[s.ident.User] = map[*session]struct{}{}
	}
	h.users[s.ident.User][s] = struct{}{}
	h.mu.Unlock()
	h.metrics.sessions.Inc()
	h.crowd.note()
	return true
}

func (h *Hub) unregister(s *session) {
	h.mu.Lock()
	delete(h.sessions, s)
	if us := h.users[s.ident.User]; us != nil {
		delete(us, s)
		if len(us) == 0 {
			delete(h.users, s.ident.User)
		}
	}
	h.mu.Unlock()
	h.unwatch(s)
	h.forgetWallet(s.ident.User)
	h.metrics.sessions.Dec()
}

// hasSessions reports whether the user has a session on this node.
func (h *Hub) hasSessions(user string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users[user]) > 0
}

// userSessions returns the user's sessions on this node.
func (h *Hub) userSessions(user string) []*session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*session, 0, len(h.users[user]))
	for s := range h.users[user] {
		out = append(out, s)
	}
	return out
}

// protocolError maps a ledger error to the wire; unexpected errors are
// logged and shown as internal.
func (h *Hub) protocolError(err error) *protocol.Error {
	var le *ledger.Error
	if errors.As(err, &le) {
		if le.Code == ledger.CodeInternal {
			h.log.Error().Err(err).Msg("ledger internal error")
		}
		return protocol.Errorf(wireCode(le.Code), le.Message)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return protocol.Errorf(protocol.ErrBusy, "the request was interrupted; nothing changed unless a retry with the same id says so")
	}
	h.log.Error().Err(err).Msg("request failed")
	return protocol.Errorf(protocol.ErrInternal, "internal error; retry with the same id")
}

// seenSet remembers recent keys in a bounded FIFO window.
type seenSet struct {
	mu    sync.Mutex
	set   map[ledger.EventKey]struct{}
	order []ledger.EventKey
	limit int
}

func newSeenSet(limit int) *seenSet {
	return &seenSet{set: map[ledger.EventKey]struct{}{}, limit: limit}
}

// has reports whether k is remembered.
func (s *seenSet) has(k ledger.EventKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[k]
	return ok
}

// add reports whether k is new, remembering it.
func (s *seenSet) add(k ledger.EventKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[k]; ok {
		return false
	}
	s.set[k] = struct{}{}
	s.order = append(s.order, k)
	if len(s.order) > s.limit {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
	return true
}

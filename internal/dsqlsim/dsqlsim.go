// Package dsqlsim makes a local PostgreSQL behave as Aurora DSQL does
// wherever the ledger's correctness depends on it: a proxy of the
// PostgreSQL wire protocol between the nodes and the database that
//
//   - refuses, with DSQL's SQLSTATE, the statements DSQL refuses
//     (internal/dsqlrules; several DDL in one transaction; DDL with DML),
//     before they reach PostgreSQL, aborting the transaction as a failed
//     statement does;
//   - aborts a share of COMMITs with 40001 OC000 (an OCC conflict), and the
//     writing transactions a schema change made stale with 40001 OC001;
//   - fails a transaction over 3,000 modified rows or over its time limit
//     with 54000;
//   - closes connections after their lifetime (DSQL's one hour);
//   - adds a round trip's latency (internal/dblatency) and a commit's.
//
// PostgreSQL still decides everything else: what commits, what conflicts,
// every result. The proxy only says no where DSQL would, so a ledger that
// survives it survives those behaviours of DSQL. See session.go for how a
// refusal keeps the wire protocol's order, in the simple and the extended
// (pipelined) protocol alike.
package dsqlsim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lotzero/lotzero/internal/dblatency"
	"github.com/rs/zerolog"
)

// Options are the behaviours' knobs. The zero value emulates DSQL's limits
// with no injected aborts and no latency.
type Options struct {
	// AbortShare is the fraction, 0 to 1, of writing transactions' COMMITs
	// answered 40001 OC000 (a conflict) and rolled back. Read-only
	// transactions never conflict on DSQL and are never aborted. Zero means
	// none.
	AbortShare float64
	// StaleSchemaWindow: after a schema change (DDL that changed something),
	// a writing transaction on another connection that commits within this
	// window fails 40001 OC001, as DSQL's catalog catches up. A transaction
	// that began before the change fails so at any time. Zero means only
	// those.
	StaleSchemaWindow time.Duration
	// MaxRows is how many rows one transaction may modify. Zero means 3,000.
	MaxRows int
	// TxLimit is how long one transaction may run. Zero means 5 minutes.
	TxLimit time.Duration
	// ConnLifetime is how long a connection lives (DSQL: one hour, its IAM
	// token's bound). It is closed at the first transaction boundary after
	// that — unless CutMidTransaction, then at once. Zero means one hour.
	ConnLifetime time.Duration
	// CutMidTransaction closes an expired connection even inside a
	// transaction, the worst case a client must survive (a COMMIT whose
	// answer never comes).
	CutMidTransaction bool
	// RoundTrip is latency added to every round trip (internal/dblatency
	// between the proxy and PostgreSQL). Zero means none.
	RoundTrip time.Duration
	// CommitLatency is added to every COMMIT on top of its round trip: the
	// cross-Region commit. Zero means none.
	CommitLatency time.Duration
	// LostReplyShare is the fraction, 0 to 1, of writing transactions'
	// COMMITs that succeed but whose answer never reaches the client: the
	// connection is cut right after PostgreSQL committed, as a network
	// failure during a cross-Region COMMIT would. The client cannot tell
	// whether it committed (its "outcome unknown" path). Zero means none.
	LostReplyShare float64
	// Seed makes the aborted share reproducible. Zero means random.
	Seed uint64
}

func (o *Options) defaults() error {
	if o.AbortShare < 0 || o.AbortShare > 1 {
		return fmt.Errorf("dsqlsim: abort share %v is not between 0 and 1", o.AbortShare)
	}
	if o.LostReplyShare < 0 || o.LostReplyShare > 1 {
		return fmt.Errorf("dsqlsim: lost-reply share %v is not between 0 and 1", o.LostReplyShare)
	}
	if o.RoundTrip < 0 || o.CommitLatency < 0 || o.StaleSchemaWindow < 0 || o.TxLimit < 0 || o.ConnLifetime < 0 || o.MaxRows < 0 {
		return errors.New("dsqlsim: negative option")
	}
	if o.MaxRows == 0 {
		o.MaxRows = 3000
	}
	if o.TxLimit == 0 {
		o.TxLimit = 5 * time.Minute
	}
	if o.ConnLifetime == 0 {
		o.ConnLifetime = time.Hour
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	return nil
}

// Sim is a running proxy.
type Sim struct {
	opts    Options
	ln      net.Listener
	network string // how sessions reach PostgreSQL: "tcp" or "unix"
	target  string
	latency *dblatency.Proxy // nil without a round trip
	log     zerolog.Logger

	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	sessions map[*session]struct{}
	closed   bool
	rng      *rand.Rand
	schema   schemaClock
	refused  map[string]int64

	ids     atomic.Uint64
	markers atomic.Uint64
	stats   counters
}

// schemaClock is when the schema last changed, and by which connection.
type schemaClock struct {
	gen uint64
	at  time.Time
	by  uint64
}

// Start listens on a loopback port of its own and forwards what it accepts
// to target: host:port, or a Unix socket's path (internal/pgembed's servers;
// dblatency.Target reads it from a connection string). The proxy lives until
// Close or until ctx is done; a logger in ctx (zerolog.Ctx) hears what it
// does.
func Start(ctx context.Context, target string, opts Options) (*Sim, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	network := "tcp"
	if strings.HasPrefix(target, "/") {
		network = "unix"
	} else if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("dsqlsim: target %q is neither host:port nor a socket path: %w", target, err)
	}
	s := &Sim{
		opts: opts, network: network, target: target,
		log:  zerolog.Ctx(ctx).With().Str("component", "dsqlsim").Logger(),
		done: make(chan struct{}), sessions: map[*session]struct{}{},
		rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed>>1|1)), refused: map[string]int64{},
	}
	if opts.RoundTrip > 0 {
		// The latency sits between the proxy and PostgreSQL, so every
		// round trip the client makes, and the connection's set-up, pays it.
		p, err := dblatency.Start(context.WithoutCancel(ctx), target, opts.RoundTrip)
		if err != nil {
			return nil, fmt.Errorf("dsqlsim: %w", err)
		}
		s.latency, s.network, s.target = p, "tcp", p.Addr()
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		if s.latency != nil {
			s.latency.Close()
		}
		return nil, fmt.Errorf("dsqlsim: listen: %w", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	if ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				s.Close()
			case <-s.done:
			}
		}()
	}
	return s, nil
}

// Addr is the proxy's host:port on 127.0.0.1.
func (s *Sim) Addr() string { return s.ln.Addr().String() }

// ConnString is connString pointed at the proxy, every other setting kept.
func (s *Sim) ConnString(connString string) (string, error) {
	return dblatency.PointAt(connString, s.Addr())
}

// Options are the proxy's settings, defaults applied.
func (s *Sim) Options() Options { return s.opts }

// Close stops accepting, cuts every open connection and waits for the
// proxy's goroutines. It is idempotent.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	close(s.done)
	err := s.ln.Close()
	for ss := range s.sessions {
		ss.shut()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.latency != nil {
		s.latency.Close()
	}
	return err
}

func (s *Sim) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn().Err(err).Msg("accept failed; the proxy stops")
			}
			return
		}
		ss := newSession(s, c)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.sessions[ss] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.stats.connections.Add(1)
		go func() {
			defer s.wg.Done()
			ss.run()
			s.mu.Lock()
			delete(s.sessions, ss)
			s.mu.Unlock()
		}()
	}
}

// abortNext draws whether the next writing COMMIT is aborted with OC000.
// loseNext draws whether the next successful writing COMMIT loses its reply.
func (s *Sim) loseNext() bool {
	if s.opts.LostReplyShare <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64() < s.opts.LostReplyShare
}

func (s *Sim) abortNext() bool {
	if s.opts.AbortShare <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64() < s.opts.AbortShare
}

// schemaGen is the schema's generation a transaction begins on.
func (s *Sim) schemaGen() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.schema.gen
}

// schemaChanged records a DDL statement that changed the schema.
func (s *Sim) schemaChanged(by uint64) {
	s.mu.Lock()
	s.schema = schemaClock{gen: s.schema.gen + 1, at: time.Now(), by: by}
	s.mu.Unlock()
}

// stale reports whether a transaction that began on generation gen may not
// commit on connection id: the schema changed since it began, or another
// connection changed it within the window.
func (s *Sim) stale(gen, id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.schema.gen != gen {
		return true
	}
	return s.opts.StaleSchemaWindow > 0 && s.schema.gen > 0 && s.schema.by != id && time.Since(s.schema.at) < s.opts.StaleSchemaWindow
}

func (s *Sim) countRefusal(rule string) {
	s.mu.Lock()
	s.refused[rule]++
	s.mu.Unlock()
}

func (s *Sim) nextMarker() string {
	return fmt.Sprintf("dsqlsim_refused_%d", s.markers.Add(1))
}

// PoolConnString is ConnString with pgxpool settings that keep every
// connection under the proxy's lifetime — half of it, checked every
// second at most — as the ledger's DSQL backend keeps its connections
// under DSQL's hour (50 minutes). A client whose pool does not do that
// meets connections the proxy closed while they sat idle in the pool.
func (s *Sim) PoolConnString(connString string) (string, error) {
	dsn, err := s.ConnString(connString)
	if err != nil {
		return "", err
	}
	lifetime := s.opts.ConnLifetime / 2
	check := min(time.Second, lifetime/4)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return fmt.Sprintf("%s%spool_max_conn_lifetime=%s&pool_health_check_period=%s", dsn, sep, lifetime, check), nil
	}
	return fmt.Sprintf("%s pool_max_conn_lifetime=%s pool_health_check_period=%s", dsn, lifetime, check), nil
}

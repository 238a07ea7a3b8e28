// Package ledger is LotZero's strongly consistent money core: wallets, lots
// and their three mechanics (English, Dutch, drop), bids, holds, purchases,
// settlement, the append-only entries and the outbox of lot events. Every
// money operation is one optimistic (OCC) transaction, retried on conflict,
// with SQL that runs unchanged on PostgreSQL and Aurora DSQL. The invariants
// are stated once in README.md and checked by Audit. The ledger connects to
// a database it is given; starting one is cmd/lotzero's job.
package ledger

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// Options tune a Ledger. Zero values mean the documented defaults and are
// applied once, in New.
type Options struct {
	// MaxAttempts bounds how often one operation runs its transaction when
	// it keeps conflicting. Zero means 12.
	MaxAttempts int
	// MaxElapsed bounds the time spent retrying one operation, once it has
	// had a few attempts (minAttempts). Zero means 3s.
	MaxElapsed time.Duration
	// DemoBalance is what EnsureUser funds a new user with. Zero means
	// 1,000,000 minor units (10,000.00).
	DemoBalance int64
	// Clock returns the current time. Nil means time.Now; tests move it to
	// reach soft-close windows and lot ends without sleeping.
	Clock func() time.Time
	// MaxBatch bounds how many operations on one lot one transaction
	// decides (group commit, see lotLines); the row limit bounds it too.
	// Zero means DefaultMaxBatch; 1 turns batching off: one transaction
	// per operation. Correctness does not depend on it.
	MaxBatch int
	// Logger receives structured logs. The zero Logger discards.
	Logger zerolog.Logger
}

// DefaultMaxBatch is how many operations on one lot a transaction decides
// at most by default.
const DefaultMaxBatch = 1024

// DefaultDemoBalance funds every demo user: 10,000.00 in minor units.
const DefaultDemoBalance int64 = 1_000_000

func (o Options) withDefaults() Options {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 12
	}
	if o.MaxElapsed <= 0 {
		o.MaxElapsed = 3 * time.Second
	}
	if o.DemoBalance <= 0 {
		o.DemoBalance = DefaultDemoBalance
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// Ledger is the strongly consistent money core. All methods are safe for
// concurrent use; every money operation is one OCC transaction.
type Ledger struct {
	pool    *pgxpool.Pool
	dialect dialect
	backend Backend
	opts    Options
	log     zerolog.Logger
	stats   counters
	lines   lotLines
	// soldOutLots caches lots seen sold out (lot id -> kind): a settled fact.
	soldOutLots sync.Map
	// hosts remembers each lot's host (lot id -> user), which never
	// changes: a batch reads the host's wallet with its first round trip.
	hosts sync.Map
	// afterCommit, when set by a test, turns a committed attempt into one
	// whose COMMIT outcome looks unknown (a lost connection), to prove the
	// retry returns the first outcome instead of applying it twice.
	afterCommit func() error
	// beforeBatch and beforeFlush, when set by a test, run as a lot's batch
	// of n operations starts, and in each attempt after its operations were
	// decided and before its writes are sent: they hold a batch back while
	// more operations queue, and let another node commit in between.
	beforeBatch func(n int)
	beforeFlush func()
	// auditChunk is how many wallets and lots one audit transaction reads
	// (defaultAuditChunk; tests make it small to audit in many chunks).
	auditChunk int
}

// counters are the ledger's own metrics, read with Stats.
type counters struct {
	commits    atomic.Int64
	unknown    atomic.Int64
	operations atomic.Int64
	conflicts  atomic.Int64
	busy       atomic.Int64
}

// Stats is a snapshot of the ledger's transaction counters.
type Stats struct {
	Commits int64 // transactions committed
	// UnknownCommits are COMMITs whose answer never came (the connection
	// broke): each was settled by its retry, which found the stored
	// outcome or committed then.
	UnknownCommits int64
	// Operations are the operations those transactions decided: a batch
	// decides several in one commit (group commit, see lotLines).
	Operations int64
	Conflicts  int64 // attempts that failed with a retryable conflict (OCC retries)
	Busy       int64 // operations that gave up after the retry bound
}

// Stats returns the transaction counters since the ledger was created.
func (l *Ledger) Stats() Stats {
	return Stats{
		Commits: l.stats.commits.Load(), UnknownCommits: l.stats.unknown.Load(),
		Operations: l.stats.operations.Load(),
		Conflicts:  l.stats.conflicts.Load(),
		Busy:       l.stats.busy.Load(),
	}
}

// New wraps an open pool. Most callers want Open, which also picks and
// starts the backend; New is for callers that manage their own pool.
func New(pool *pgxpool.Pool, backend Backend, opts Options) *Ledger {
	opts = opts.withDefaults()
	d := dialectPostgres
	if backend == BackendDSQL {
		d = dialectDSQL
	}
	return &Ledger{pool: pool, dialect: d, backend: backend, opts: opts, log: opts.Logger,
		lines: lotLines{lines: map[uuid.UUID]*lotLine{}}, auditChunk: defaultAuditChunk}
}

// Backend names the database serving this ledger.
func (l *Ledger) Backend() Backend { return l.backend }

// Pool exposes the connection pool to the ledger's own tests and benchmarks
// (which corrupt rows on purpose to prove the audit fails); product code
// goes through the ledger's methods.
func (l *Ledger) Pool() *pgxpool.Pool { return l.pool }

func (l *Ledger) now() time.Time { return l.opts.Clock() }

// DemoBalance is what a new demo user is funded with.
func (l *Ledger) DemoBalance() int64 { return l.opts.DemoBalance }

// Ping checks the database answers.
func (l *Ledger) Ping(ctx context.Context) error { return l.pool.Ping(ctx) }

// Close closes the connection pool.
func (l *Ledger) Close() { l.pool.Close() }

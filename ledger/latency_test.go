package ledger

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lotzero/lotzero/internal/dblatency"
)

// benchLatencyEnv names the round trip the contended benchmarks may put
// between their ledger and PostgreSQL (a time.Duration, e.g. 20ms): how a
// node far from its database — a cross-Region Aurora DSQL commit — fares,
// measured on one machine. Unset means none.
const benchLatencyEnv = "LOTZERO_BENCH_DB_LATENCY"

// benchPoolConns is the measured pools' size: the test ledger's and the
// server's default (DefaultMaxConns), so a benchmark has the connections a
// node has.
const benchPoolConns = DefaultMaxConns

// envLatency is LOTZERO_BENCH_DB_LATENCY, or zero.
func envLatency(tb testing.TB) time.Duration {
	tb.Helper()
	v := os.Getenv(benchLatencyEnv)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		tb.Fatalf("%s=%q: want a duration such as 20ms", benchLatencyEnv, v)
	}
	return d
}

// poolAt opens a pool on the test's database whose every connection goes
// through a proxy adding latency per round trip (none at zero), warmed up
// to its full size: establishing a connection across the distance costs
// several round trips, which a node pays once, not per operation.
func (l *testLedger) poolAt(latency time.Duration) *pgxpool.Pool {
	l.t.Helper()
	ctx := context.Background()
	dsn := testPG.ConnString(l.db)
	if latency > 0 {
		target, err := dblatency.Target(dsn)
		if err != nil {
			l.t.Fatal(err)
		}
		proxy, err := dblatency.Start(ctx, target, latency)
		if err != nil {
			l.t.Fatal(err)
		}
		l.t.Cleanup(func() { proxy.Close() })
		if dsn, err = proxy.ConnString(dsn); err != nil {
			l.t.Fatal(err)
		}
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		l.t.Fatal(err)
	}
	cfg.MaxConns = benchPoolConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(pool.Close)
	conns := make([]*pgxpool.Conn, benchPoolConns)
	errs := make(chan error, len(conns))
	for i := range conns {
		go func() {
			var err error
			conns[i], err = pool.Acquire(ctx)
			errs <- err
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			l.t.Fatalf("warm the pool: %v", err)
		}
	}
	for _, c := range conns {
		c.Release()
	}
	return pool
}

// at is the test's ledger as seen from latency away: at zero the ledger
// itself, else a second Ledger on the same database reaching it through
// the proxy. Set-up (users, lots) goes through the near one, so only what
// a benchmark measures pays the distance; the far one has its own lot
// queues, so it must be the only one acting on the lots it is measured on.
func (l *testLedger) at(latency time.Duration) *Ledger {
	if latency == 0 {
		return l.Ledger
	}
	return New(l.poolAt(latency), BackendEmbedded, l.opts)
}

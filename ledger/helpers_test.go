package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lotzero/lotzero/internal/pgembed"
)

// testPG is the package's one real PostgreSQL, started by TestMain with the
// same embedded launcher the server uses; each test gets its own database.
var testPG *pgembed.Server

func TestMain(m *testing.M) {
	os.Exit(runWithPostgres(m))
}

func runWithPostgres(m *testing.M) int {
	root, err := os.MkdirTemp("", "lotzero-ledger-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ledger tests:", err)
		return 1
	}
	defer os.RemoveAll(root)
	// PostgreSQL runs as an unprivileged user when the tests run as root; it
	// must be able to enter the temporary directory.
	if err := os.Chmod(root, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "ledger tests:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	// Tests trade durability for speed (fsync off); LOTZERO_TEST_FSYNC=1
	// measures the benchmarks with the server's real durability settings.
	noSync := os.Getenv("LOTZERO_TEST_FSYNC") == ""
	pg, err := pgembed.Start(ctx, pgembed.Options{DataDir: filepath.Join(root, "pg"), NoSync: noSync})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ledger tests need a real PostgreSQL and could not start one:", err)
		return 1
	}
	testPG = pg
	code := m.Run()
	stopCtx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	if err := pg.Stop(stopCtx); err != nil {
		fmt.Fprintln(os.Stderr, "stop postgres:", err)
	}
	return code
}

// clock is a test clock: real time plus an offset tests can move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

type testLedger struct {
	*Ledger
	t     testing.TB
	clock *clock
	seq   atomic.Int64
	db    string
	opts  Options
	// corrupted marks a test that damaged rows on purpose: its final audit
	// is expected to fail and is skipped.
	corrupted bool
}

// newLedger gives a test a fresh, migrated database of its own. When the
// test ends, Audit must find nothing: every test doubles as an invariant check.
func newLedger(t testing.TB, opts ...func(*Options)) *testLedger {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "t_" + hex.EncodeToString(b[:])
	if err := testPG.EnsureDatabase(ctx, db); err != nil {
		t.Fatalf("create database: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(testPG.ConnString(db))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	binaryUUIDs(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	o := Options{Clock: c.Now}
	for _, f := range opts {
		f(&o)
	}
	l := New(pool, BackendEmbedded, o)
	if err := l.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	tl := &testLedger{Ledger: l, t: t, clock: c, db: db, opts: o}
	t.Cleanup(func() {
		if !t.Failed() && !tl.corrupted {
			tl.requireSound()
		}
		pool.Close()
	})
	return tl
}

func (l *testLedger) requireSound() {
	l.t.Helper()
	vs, err := l.Audit(context.Background())
	if err != nil {
		l.t.Fatalf("audit: %v", err)
	}
	for _, v := range vs {
		l.t.Errorf("audit violation: %s", v)
	}
}

// user creates a user funded with balance.
func (l *testLedger) user(name string, balance int64) string {
	l.t.Helper()
	if _, err := l.EnsureUser(context.Background(), name, "eu-west-1", balance); err != nil {
		l.t.Fatalf("user %s: %v", name, err)
	}
	return name
}

// as returns an actor with a fresh request id.
func (l *testLedger) as(user string) Actor {
	return Actor{User: user, Region: "us-east-1", RequestID: fmt.Sprintf("r%d", l.seq.Add(1))}
}

func (l *testLedger) lot(spec LotSpec) uuid.UUID {
	l.t.Helper()
	if _, err := l.Wallet(context.Background(), "host"); err != nil {
		l.user("host", 1)
	}
	res, _, err := l.CreateLot(context.Background(), l.as("host"), spec)
	if err != nil {
		l.t.Fatalf("create lot: %v", err)
	}
	return res.Lot
}

func (l *testLedger) getLot(id uuid.UUID) *Lot {
	l.t.Helper()
	lot, err := l.Lot(context.Background(), id)
	if err != nil {
		l.t.Fatal(err)
	}
	return lot
}

func (l *testLedger) wallet(user string) Wallet {
	l.t.Helper()
	w, err := l.Wallet(context.Background(), user)
	if err != nil {
		l.t.Fatal(err)
	}
	return w
}

func wantCode(t testing.TB, err error, code Code) {
	t.Helper()
	if got := CodeOf(err); got != code {
		t.Fatalf("want error %s, got %v", code, err)
	}
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func englishSpec() LotSpec {
	return LotSpec{Kind: KindEnglish, Title: "camera", StartPrice: 1_000, DurationS: 600}
}

// peer opens a second Ledger on the same database, as a second server node
// would: its own pool and its own in-process lot queues, so operations
// racing across the two meet only in the database, under OCC.
func (l *testLedger) peer() *Ledger {
	l.t.Helper()
	cfg, err := pgxpool.ParseConfig(testPG.ConnString(l.db))
	if err != nil {
		l.t.Fatal(err)
	}
	cfg.MaxConns = 16
	binaryUUIDs(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(pool.Close)
	return New(pool, BackendEmbedded, l.opts)
}

// nodes returns the ledger and a peer: tests alternate between them.
func (l *testLedger) nodes() [2]*Ledger { return [2]*Ledger{l.Ledger, l.peer()} }

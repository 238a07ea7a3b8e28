package dsqlsim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lotzero/lotzero/internal/dblatency"
	"github.com/lotzero/lotzero/internal/pgembed"
)

// The tests run a real PostgreSQL (internal/pgembed) and talk to it with
// pgx through the proxy: the claims are about what PostgreSQL ends up
// holding, never about a mock.
var testPG *pgembed.Server

func TestMain(m *testing.M) { os.Exit(runWithPostgres(m)) }

func runWithPostgres(m *testing.M) int {
	root, err := os.MkdirTemp("", "lotzero-dsqlsim-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(root)
	if err := os.Chmod(root, 0o755); err != nil { // PostgreSQL runs as postgres under root
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	pg, err := pgembed.Start(ctx, pgembed.Options{DataDir: filepath.Join(root, "pg"), NoSync: true})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dsqlsim tests need a real PostgreSQL:", err)
		return 1
	}
	testPG = pg
	code := m.Run()
	stop, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = pg.Stop(stop)
	return code
}

var databases atomic.Int64

// fixture is a fresh database, a proxy in front of it, and a direct
// connection string that bypasses the proxy (to look at what PostgreSQL
// holds).
type fixture struct {
	sim    *Sim
	direct string
	via    string
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("sim%d", databases.Add(1))
	if err := testPG.EnsureDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	direct := testPG.ConnString(name)
	target, err := dblatency.Target(direct)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := Start(ctx, target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	via, err := sim.ConnString(direct)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sim: sim, direct: direct, via: via}
	f.exec(t, `CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)`)
	return f
}

func (f *fixture) connect(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), f.via)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// exec runs sql on PostgreSQL directly, around the proxy.
func (f *fixture) exec(t *testing.T, sql string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), f.direct)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

// count reads one number from PostgreSQL directly.
func (f *fixture) count(t *testing.T, sql string) int64 {
	t.Helper()
	c, err := pgx.Connect(context.Background(), f.direct)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int64
	if err := c.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func pgCode(err error) (string, string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.Message
	}
	return "", ""
}

func wantCode(t *testing.T, err error, code, marker string) {
	t.Helper()
	got, msg := pgCode(err)
	if got != code || !strings.Contains(msg, marker) {
		t.Fatalf("want SQLSTATE %s (%q), got %v", code, marker, err)
	}
}

// extended runs sql in the extended protocol (Parse, Bind, Describe,
// Execute, Sync), as pgx does for any query with arguments.
func extended(ctx context.Context, c *pgx.Conn, sql string) error {
	return c.PgConn().ExecParams(ctx, sql, nil, nil, nil, nil).Read().Err
}

// Each statement DSQL refuses is refused with 0A000 in both protocols, and
// PostgreSQL never ran it: what it would have done is not there.
func TestForbiddenStatementsRefusedAndNeverRun(t *testing.T) {
	f := newFixture(t, Options{})
	f.exec(t, `INSERT INTO t VALUES (1, 1)`)
	ctx := context.Background()
	c := f.connect(t)
	cases := []struct{ sql, absent string }{
		{`TRUNCATE t`, `SELECT 1 - count(*) FROM t`},
		{`CREATE TABLE fk (id BIGINT PRIMARY KEY, t BIGINT REFERENCES t (id))`, `SELECT count(*) FROM pg_class WHERE relname = 'fk'`},
		{`CREATE SEQUENCE s`, `SELECT count(*) FROM pg_class WHERE relname = 's'`},
		{`CREATE TABLE ser (id BIGSERIAL PRIMARY KEY)`, `SELECT count(*) FROM pg_class WHERE relname = 'ser'`},
		{`CREATE TEMP TABLE tmp (a INT)`, `SELECT count(*) FROM pg_class WHERE relname = 'tmp'`},
		{`CREATE TABLE js (doc JSONB)`, `SELECT count(*) FROM pg_class WHERE relname = 'js'`},
		{`CREATE TABLE arr (tags TEXT[])`, `SELECT count(*) FROM pg_class WHERE relname = 'arr'`},
		{`CREATE TYPE mood AS ENUM ('a')`, `SELECT count(*) FROM pg_type WHERE typname = 'mood'`},
		{`CREATE FUNCTION f() RETURNS INT LANGUAGE plpgsql AS $$BEGIN RETURN 1; END$$`, `SELECT count(*) FROM pg_proc WHERE proname = 'f'`},
		{`SELECT pg_advisory_lock(1)`, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'`},
		{`SELECT * FROM t FOR SHARE`, `SELECT 0`},
		{`SELECT * FROM t FOR NO KEY UPDATE`, `SELECT 0`},
		{`LISTEN lots`, `SELECT 0`},
		{`SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`, `SELECT 0`},
	}
	for _, proto := range []string{"simple", "extended"} {
		for _, tc := range cases {
			var err error
			if proto == "simple" {
				_, err = c.Exec(ctx, tc.sql)
			} else {
				err = extended(ctx, c, tc.sql)
			}
			wantCode(t, err, "0A000", "")
			if n := f.count(t, tc.absent); n != 0 {
				t.Errorf("%s %q reached PostgreSQL (%s = %d)", proto, tc.sql, tc.absent, n)
			}
			if c.PgConn().TxStatus() != 'I' {
				t.Fatalf("autocommit refusal left status %c", c.PgConn().TxStatus())
			}
		}
	}
	if got := f.sim.Stats().RefusedTotal(); got != int64(2*len(cases)) {
		t.Errorf("refused %d, want %d: %+v", got, 2*len(cases), f.sim.Stats().Refused)
	}
	// The SQL pgx and the ledger send passes.
	if _, err := c.Exec(ctx, `SELECT id FROM t WHERE id = ANY($1) FOR UPDATE`, []int64{1}); err != nil {
		t.Fatal(err)
	}
}

// A refusal inside a transaction aborts it as a failing statement does:
// later statements fail (25P02, PostgreSQL's own) until ROLLBACK, and
// nothing of it commits — in the simple and the extended protocol.
func TestRefusalAbortsTheTransaction(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	c := f.connect(t)
	for i, proto := range []string{"simple", "extended"} {
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO t VALUES ($1, 1)`, i+1); err != nil {
			t.Fatal(err)
		}
		if proto == "simple" {
			_, err = tx.Exec(ctx, `SAVEPOINT a`)
		} else {
			err = extended(ctx, c, `SAVEPOINT a`)
		}
		wantCode(t, err, "0A000", "SAVEPOINT")
		if c.PgConn().TxStatus() != 'E' {
			t.Fatalf("%s: status %c after a refusal in a transaction, want E", proto, c.PgConn().TxStatus())
		}
		_, err = tx.Exec(ctx, `SELECT 1`)
		wantCode(t, err, "25P02", "")
		if err := tx.Commit(ctx); !errors.Is(err, pgx.ErrTxCommitRollback) {
			t.Fatalf("%s: commit of an aborted transaction: %v", proto, err)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatalf("%d rows committed from aborted transactions", n)
	}
}

// One DDL statement per transaction, and never with DML.
func TestDDLAloneInItsTransaction(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	c := f.connect(t)
	run := func(stmts ...string) error {
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return tx.Commit(ctx)
	}
	wantCode(t, run(`CREATE TABLE a (id INT PRIMARY KEY)`, `INSERT INTO t VALUES (1, 1)`), "0A000", "ddl and dml")
	wantCode(t, run(`INSERT INTO t VALUES (2, 1)`, `CREATE TABLE b (id INT PRIMARY KEY)`), "0A000", "ddl and dml")
	wantCode(t, run(`CREATE TABLE c (id INT PRIMARY KEY)`, `CREATE TABLE d (id INT PRIMARY KEY)`), "0A000", "multiple ddl")
	if n := f.count(t, `SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM pg_class WHERE relname IN ('a', 'b', 'c', 'd'))`); n != 0 {
		t.Fatalf("%d rows or tables from refused transactions reached PostgreSQL", n)
	}
	if err := run(`CREATE TABLE e (id INT PRIMARY KEY)`); err != nil {
		t.Fatalf("one DDL alone: %v", err)
	}
	if err := run(`INSERT INTO t VALUES (3, 1)`, `UPDATE t SET v = 2 WHERE id = 3`); err != nil {
		t.Fatalf("DML alone: %v", err)
	}
}

func writeTx(ctx context.Context, c *pgx.Conn, id int) error {
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO t VALUES ($1, 1)`, id); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Every COMMIT aborted at a share of 1: 40001 with OC000, nothing
// committed, the connection idle and usable; at 0 every one commits. A
// read-only transaction never conflicts on DSQL and always commits.
func TestCommitAbortShare(t *testing.T) {
	ctx := context.Background()
	all := newFixture(t, Options{AbortShare: 1})
	c := all.connect(t)
	for i := 1; i <= 20; i++ {
		wantCode(t, writeTx(ctx, c, i), "40001", "OC000")
		if c.IsClosed() || c.PgConn().TxStatus() != 'I' {
			t.Fatalf("after an aborted COMMIT: closed %v, status %c", c.IsClosed(), c.PgConn().TxStatus())
		}
	}
	if n := all.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatalf("%d rows committed though every COMMIT was aborted", n)
	}
	ro, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Exec(ctx, `SELECT count(*) FROM t`); err != nil {
		t.Fatal(err)
	}
	if err := ro.Commit(ctx); err != nil {
		t.Fatalf("read-only commit: %v", err)
	}
	if st := all.sim.Stats(); st.AbortedOC000 != 20 {
		t.Fatalf("stats: %+v", st)
	}

	none := newFixture(t, Options{AbortShare: 0})
	c = none.connect(t)
	for i := 1; i <= 20; i++ {
		if err := writeTx(ctx, c, i); err != nil {
			t.Fatal(err)
		}
	}
	if n := none.count(t, `SELECT count(*) FROM t`); n != 20 {
		t.Fatalf("%d of 20 committed", n)
	}
	if st := none.sim.Stats(); st.AbortedOC000 != 0 || st.Commits != 20 {
		t.Fatalf("stats: %+v", st)
	}
}

// A schema change fails the writing transactions it made stale with
// 40001 OC001 (the proxy keeps one schema clock for the database, not one
// per table): one that began before it, and (the window) one on another
// connection that commits soon after it. A DDL that changed nothing (IF NOT
// EXISTS, already there) stales nothing.
func TestStaleSchemaAfterDDL(t *testing.T) {
	ctx := context.Background()
	const window = 2 * time.Second
	f := newFixture(t, Options{StaleSchemaWindow: window})
	a, b := f.connect(t), f.connect(t)

	tx, err := a.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO t VALUES (1, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, `CREATE TABLE IF NOT EXISTS t (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("a DDL that changed nothing staled a transaction: %v", err)
	}

	tx, err = a.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO t VALUES (2, 1)`); err != nil {
		t.Fatal(err)
	}
	// (Another table: PostgreSQL would make an ALTER of t wait for a's lock.)
	if _, err := b.Exec(ctx, `CREATE TABLE other (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	wantCode(t, tx.Commit(ctx), "40001", "OC001")
	// Within the window a new transaction on another connection fails too.
	wantCode(t, writeTx(ctx, a, 3), "40001", "OC001")
	// The connection that made the change is not held back by it.
	if err := writeTx(ctx, b, 4); err != nil {
		t.Fatal(err)
	}
	time.Sleep(window)
	if err := writeTx(ctx, a, 5); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM t WHERE id IN (2, 3)`); n != 0 {
		t.Fatalf("%d stale rows committed", n)
	}
	if st := f.sim.Stats(); st.AbortedOC001 != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

// Over 3,000 modified rows the transaction fails with 54000 and nothing of
// it commits; 3,000 exactly commit.
func TestRowLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	c := f.connect(t)
	insert := func(from, to int) error {
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		// Two statements, so the limit is the transaction's, not one's.
		mid := (from + to) / 2
		if _, err := tx.Exec(ctx, `INSERT INTO t SELECT g, 0 FROM generate_series($1::bigint, $2::bigint) g`, from, mid); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO t SELECT g, 0 FROM generate_series($1::bigint, $2::bigint) g`, mid+1, to); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	wantCode(t, insert(1, 3001), "54000", "row limit")
	if n := f.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatalf("%d rows committed over the limit", n)
	}
	if err := insert(1, 3000); err != nil {
		t.Fatalf("3,000 rows: %v", err)
	}
	// The statement that passes the limit has run when its count is known:
	// the next one fails at once.
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE t SET v = v + 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE t SET v = v + 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `SELECT 1`)
	wantCode(t, err, "54000", "row limit")
	if err := tx.Commit(ctx); !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("commit after the limit: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM t WHERE v <> 0`); n != 0 {
		t.Fatalf("%d rows changed by a failed transaction", n)
	}
	if st := f.sim.Stats(); st.RowLimit != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

// A transaction older than the limit fails with 54000; nothing commits.
func TestTransactionTimeLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{TxLimit: 300 * time.Millisecond})
	c := f.connect(t)
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO t VALUES (1, 1)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	wantCode(t, tx.Commit(ctx), "54000", "age limit")
	if n := f.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatal("an expired transaction committed")
	}
	if c.IsClosed() || c.PgConn().TxStatus() != 'I' {
		t.Fatal("the connection should be idle and usable")
	}
	if err := writeTx(ctx, c, 2); err != nil {
		t.Fatal(err)
	}
	if st := f.sim.Stats(); st.TimeLimit != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// Connections end after their lifetime — between transactions, never
// inside one — and a pgx pool carries on with fresh ones.
func TestConnectionLifetime(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{ConnLifetime: 300 * time.Millisecond})
	c := f.connect(t)
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO t VALUES (1, 1)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // past the lifetime, inside a transaction
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("the transaction open at the lifetime's end must finish: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !c.IsClosed() && time.Now().Before(deadline) {
		if c.Ping(ctx) != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Ping(ctx); err == nil {
		t.Fatal("the connection outlived its lifetime")
	}

	cfg, err := pgxpool.ParseConfig(f.via)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	okAfter, failures := 0, 0
	stop := time.Now().Add(1500 * time.Millisecond)
	for i := 0; time.Now().Before(stop); i++ {
		if _, err := pool.Exec(ctx, `INSERT INTO t VALUES ($1, 1)`, 100+i); err != nil {
			failures++ // a query on a connection cut while idle in the pool
			continue
		}
		okAfter++
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := pool.Exec(ctx, `SELECT 1`); err != nil {
		// One more may meet a cut connection; the next has a fresh one.
		if _, err := pool.Exec(ctx, `SELECT 1`); err != nil {
			t.Fatalf("the pool did not recover: %v", err)
		}
	}
	st := f.sim.Stats()
	if st.ConnsClosed < 3 || okAfter == 0 {
		t.Fatalf("closed %d connections, %d queries ok, %d failed", st.ConnsClosed, okAfter, failures)
	}
	t.Logf("%d connections closed; pool: %d ok, %d failed on a cut connection", st.ConnsClosed, okAfter, failures)
}

// A pgx Batch that opens a transaction and pipelines queries with it (what
// the ledger's attempts do) passes through intact, fresh and from pgx's
// statement cache; a batch with a refused statement fails whole and leaves
// the connection usable, nothing of it committed.
func TestBatchPipelinePassesIntact(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	f.exec(t, `INSERT INTO t SELECT g, g * 10 FROM generate_series(1, 5) g`)
	c := f.connect(t)
	for round := 0; round < 3; round++ { // later rounds run from pgx's statement cache
		var b pgx.Batch
		b.BeginTx(pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		b.Queue(`SELECT v FROM t WHERE id = $1 FOR UPDATE`, 2)
		b.Queue(`UPDATE t SET v = v + 1 WHERE id = $1`, 3)
		b.Queue(`SELECT count(*) FROM t WHERE id = ANY($1)`, []int64{1, 2, 3})
		br := c.SendBatch(ctx, &b)
		tx := br.Tx()
		if _, err := br.Exec(); err != nil {
			t.Fatal(err)
		}
		var v, n int64
		if err := br.QueryRow().Scan(&v); err != nil || v != 20 {
			t.Fatalf("round %d: %d %v", round, v, err)
		}
		if tag, err := br.Exec(); err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("round %d: %v %v", round, tag, err)
		}
		if err := br.QueryRow().Scan(&n); err != nil || n != 3 {
			t.Fatalf("round %d: %d %v", round, n, err)
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v := f.count(t, `SELECT v FROM t WHERE id = 3`); v != 33 {
		t.Fatalf("v = %d after three committed batches, want 33", v)
	}

	var b pgx.Batch
	b.BeginTx(pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	b.Queue(`UPDATE t SET v = 0 WHERE id = $1`, 4)
	b.Queue(`SELECT v FROM t WHERE id = $1 FOR SHARE`, 4)
	b.Queue(`SELECT 1`)
	// pgx prepares the batch's new statements in one pipeline first: the
	// refused one fails that, and so the whole batch, before anything ran.
	br := c.SendBatch(ctx, &b)
	_, err := br.Exec()
	wantCode(t, err, "0A000", "FOR UPDATE")
	br.Close()
	if c.PgConn().TxStatus() != 'I' {
		t.Fatalf("status %c after a refused batch", c.PgConn().TxStatus())
	}
	if v := f.count(t, `SELECT v FROM t WHERE id = 4`); v != 40 {
		t.Fatalf("v = %d: the refused batch's update committed", v)
	}
	if err := writeTx(ctx, c, 99); err != nil {
		t.Fatalf("the connection after a refused batch: %v", err)
	}
}

// Latency and commit latency come from the same options; the proxy still
// carries everything through (the dblatency proxy in between).
func TestLatencyComposes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{RoundTrip: 5 * time.Millisecond, CommitLatency: 5 * time.Millisecond, AbortShare: 0})
	c := f.connect(t)
	for i := 1; i <= 5; i++ {
		if err := writeTx(ctx, c, i); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 5 {
		t.Fatalf("%d of 5", n)
	}
}

// A refusal decided by the transaction, not the text, falls on a cached
// statement's Bind in the middle of a pipelined batch: the statement before
// it ran, it failed with DSQL's error, nothing of the transaction commits.
func TestRefusalMidPipelineFromTheStatementCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	c := f.connect(t)
	run := func(dml bool) (int64, error) {
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		if err != nil {
			return 0, err
		}
		defer tx.Rollback(ctx)
		if dml {
			if _, err := tx.Exec(ctx, `INSERT INTO t VALUES ($1, 1)`, 7); err != nil {
				return 0, err
			}
		}
		var b pgx.Batch
		b.Queue(`SELECT count(*) FROM t`)
		b.Queue(`CREATE TABLE IF NOT EXISTS side (id BIGINT PRIMARY KEY)`)
		br := tx.SendBatch(ctx, &b)
		var n int64
		if err := br.QueryRow().Scan(&n); err != nil {
			return 0, err
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return n, err
		}
		if err := br.Close(); err != nil {
			return n, err
		}
		return n, tx.Commit(ctx)
	}
	if _, err := run(false); err != nil { // one DDL alone; warms pgx's statement cache
		t.Fatal(err)
	}
	n, err := run(true)
	wantCode(t, err, "0A000", "ddl and dml")
	if n != 1 {
		t.Fatalf("the statement before the refused one read %d rows, want 1 (its own insert)", n)
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatalf("%d rows from a refused transaction", n)
	}
	if _, err := run(false); err != nil {
		t.Fatalf("the connection after a refused pipeline: %v", err)
	}
}

// A COMMIT sent in the extended protocol is aborted the same way: the
// error, an idle connection, nothing committed.
func TestExtendedProtocolCommitAborted(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{AbortShare: 1})
	c := f.connect(t)
	if _, err := c.Exec(ctx, `BEGIN ISOLATION LEVEL REPEATABLE READ`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `INSERT INTO t VALUES ($1, 1)`, 1); err != nil {
		t.Fatal(err)
	}
	wantCode(t, extended(ctx, c, `COMMIT`), "40001", "OC000")
	if st := c.PgConn().TxStatus(); st != 'I' {
		t.Fatalf("status %c after an aborted COMMIT", st)
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatal("an aborted COMMIT committed")
	}
	if _, err := c.Exec(ctx, `SELECT 1`); err != nil {
		t.Fatalf("the connection after the aborted COMMIT: %v", err)
	}
}

// With CutMidTransaction the lifetime ends a connection inside its
// transaction: the client's COMMIT gets no answer (its outcome unknown to
// it), and PostgreSQL, having lost the connection, committed nothing.
func TestCutMidTransaction(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{ConnLifetime: 200 * time.Millisecond, CutMidTransaction: true})
	c := f.connect(t)
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO t VALUES (1, 1)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	err = tx.Commit(ctx)
	var pgErr *pgconn.PgError
	if err == nil || errors.As(err, &pgErr) {
		t.Fatalf("COMMIT on a cut connection: %v, want a connection error", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // PostgreSQL notices the lost client
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatal("a transaction cut before its COMMIT committed")
	}
	if st := f.sim.Stats(); st.ConnsClosed != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestLostCommitReply: with every reply lost, a writing COMMIT commits in
// PostgreSQL but the client gets a broken connection instead of an answer
// — the outcome it cannot know — and the proxy counts it.
func TestLostCommitReply(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{LostReplyShare: 1})
	c := f.connect(t)
	err := writeTx(ctx, c, 1)
	if err == nil {
		t.Fatal("a COMMIT whose answer was withheld reported success")
	}
	if code, _ := pgCode(err); code != "" {
		t.Fatalf("a lost answer came back as SQLSTATE %s, want a connection error: %v", code, err)
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 1 {
		t.Fatalf("%d rows committed, want the 1 whose answer was lost", n)
	}
	if st := f.sim.Stats(); st.LostReplies != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

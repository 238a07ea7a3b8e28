package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// dialect is the single switch between Aurora DSQL and PostgreSQL: DSQL
// builds indexes asynchronously and needs CREATE INDEX ASYNC.
type dialect int

const (
	dialectPostgres dialect = iota
	dialectDSQL
)

// migration is one DDL statement. Exactly one of SQL or Index is set; Index
// is "name ON table (cols)" and becomes CREATE INDEX [ASYNC] per dialect.
type migration struct {
	Version int
	SQL     string
	Index   string
}

func (m migration) statement(d dialect) string {
	if m.Index == "" {
		return m.SQL
	}
	if d == dialectDSQL {
		return "CREATE INDEX ASYNC IF NOT EXISTS " + m.Index
	}
	return "CREATE INDEX IF NOT EXISTS " + m.Index
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT PRIMARY KEY,
	applied_at_ms BIGINT NOT NULL
)`

// schema is the whole ledger schema, in order. Money is BIGINT minor units,
// times are BIGINT Unix milliseconds (0 = unset), ids are application UUIDs,
// and nothing outside DSQL's portable core is used (sqlrules_test.go checks).
func schema() []migration {
	return []migration{
		{Version: 1, SQL: `CREATE TABLE IF NOT EXISTS wallets (
	user_id TEXT PRIMARY KEY,
	funded BIGINT NOT NULL,
	held BIGINT NOT NULL,
	spent BIGINT NOT NULL,
	earned BIGINT NOT NULL,
	created_at_ms BIGINT NOT NULL,
	updated_at_ms BIGINT NOT NULL
)`},
		{Version: 2, SQL: `CREATE TABLE IF NOT EXISTS entries (
	id UUID PRIMARY KEY,
	user_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	amount BIGINT NOT NULL,
	lot_id UUID,
	hold_id UUID,
	request_id TEXT NOT NULL,
	region TEXT NOT NULL,
	at_ms BIGINT NOT NULL
)`},
		{Version: 3, Index: `entries_user ON entries (user_id, at_ms)`},
		{Version: 4, SQL: `CREATE TABLE IF NOT EXISTS lots (
	id UUID PRIMARY KEY,
	kind TEXT NOT NULL,
	title TEXT NOT NULL,
	host TEXT NOT NULL,
	status TEXT NOT NULL,
	seq BIGINT NOT NULL,
	version BIGINT NOT NULL,
	region TEXT NOT NULL,
	created_at_ms BIGINT NOT NULL,
	opened_at_ms BIGINT NOT NULL,
	closed_at_ms BIGINT NOT NULL,
	start_price BIGINT NOT NULL,
	reserve BIGINT NOT NULL,
	high_bid BIGINT NOT NULL,
	high_bidder TEXT NOT NULL,
	high_max BIGINT NOT NULL,
	high_region TEXT NOT NULL,
	bid_count BIGINT NOT NULL,
	duration_s BIGINT NOT NULL,
	extension_s BIGINT NOT NULL,
	hard_end_s BIGINT NOT NULL,
	ends_at_ms BIGINT NOT NULL,
	hard_end_at_ms BIGINT NOT NULL,
	price BIGINT NOT NULL,
	step BIGINT NOT NULL,
	floor_price BIGINT NOT NULL,
	interval_ms BIGINT NOT NULL,
	step_index BIGINT NOT NULL,
	next_tick_at_ms BIGINT NOT NULL,
	floor_action TEXT NOT NULL,
	qty_total BIGINT NOT NULL,
	qty_claimed BIGINT NOT NULL,
	per_user_limit BIGINT NOT NULL,
	proceeds BIGINT NOT NULL,
	winner TEXT NOT NULL
)`},
		{Version: 5, Index: `lots_status ON lots (status, kind)`},
		{Version: 6, SQL: `CREATE TABLE IF NOT EXISTS bids (
	id UUID PRIMARY KEY,
	lot_id UUID NOT NULL,
	seq BIGINT NOT NULL,
	user_id TEXT NOT NULL,
	amount BIGINT NOT NULL,
	proxy BOOLEAN NOT NULL,
	region TEXT NOT NULL,
	at_ms BIGINT NOT NULL
)`},
		{Version: 7, Index: `bids_lot ON bids (lot_id, seq)`},
		{Version: 8, SQL: `CREATE TABLE IF NOT EXISTS holds (
	id UUID PRIMARY KEY,
	lot_id UUID NOT NULL,
	user_id TEXT NOT NULL,
	amount BIGINT NOT NULL,
	captured BIGINT NOT NULL,
	status TEXT NOT NULL,
	created_at_ms BIGINT NOT NULL,
	updated_at_ms BIGINT NOT NULL
)`},
		{Version: 9, Index: `holds_lot ON holds (lot_id, status)`},
		{Version: 10, SQL: `CREATE TABLE IF NOT EXISTS purchases (
	id UUID PRIMARY KEY,
	lot_id UUID NOT NULL,
	user_id TEXT NOT NULL,
	qty BIGINT NOT NULL,
	unit_price BIGINT NOT NULL,
	total BIGINT NOT NULL,
	seq BIGINT NOT NULL,
	region TEXT NOT NULL,
	at_ms BIGINT NOT NULL
)`},
		{Version: 11, Index: `purchases_lot_user ON purchases (lot_id, user_id)`},
		{Version: 12, SQL: `CREATE TABLE IF NOT EXISTS requests (
	user_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	op TEXT NOT NULL,
	ok BOOLEAN NOT NULL,
	code TEXT NOT NULL,
	message TEXT NOT NULL,
	result TEXT NOT NULL,
	at_ms BIGINT NOT NULL,
	PRIMARY KEY (user_id, request_id)
)`},
		{Version: 13, SQL: `CREATE TABLE IF NOT EXISTS lot_events (
	lot_id UUID NOT NULL,
	seq BIGINT NOT NULL,
	kind TEXT NOT NULL,
	at_ms BIGINT NOT NULL,
	region TEXT NOT NULL,
	actor TEXT NOT NULL,
	data TEXT NOT NULL,
	wallets TEXT NOT NULL,
	published BOOLEAN NOT NULL,
	PRIMARY KEY (lot_id, seq)
)`},
		{Version: 14, Index: `lot_events_unpublished ON lot_events (published, at_ms)`},
		// A wallet's version rises with every change, so pushes built from
		// different lots' events can be ordered (NULL: never changed since).
		{Version: 15, SQL: `ALTER TABLE wallets ADD COLUMN IF NOT EXISTS version BIGINT`},
		// Lots kept out of the lobby (the proof's): a table of their own, so
		// listing one is a row, not a column every lot carries.
		{Version: 16, SQL: `CREATE TABLE IF NOT EXISTS unlisted_lots (
	lot_id UUID PRIMARY KEY,
	at_ms BIGINT NOT NULL
)`},
		// A request's lot: a node that sees a lot sold out reads once which
		// requests of it have an outcome, to answer the others from memory
		// (soldout.go). NULL for requests on no lot, and before this.
		{Version: 17, SQL: `ALTER TABLE requests ADD COLUMN IF NOT EXISTS lot_id UUID`},
		{Version: 18, Index: `requests_lot ON requests (lot_id)`},
		// Who moved the money of an entry (the acting user, or the operator
		// of an operator credit); NULL for the system and before this.
		{Version: 19, SQL: `ALTER TABLE entries ADD COLUMN IF NOT EXISTS actor TEXT`},
		// Money owed by refunds and disputes the wallet could not cover (a
		// frozen wallet), and the part of held that pending payouts hold.
		// NULL is 0: DSQL adds columns without defaults.
		{Version: 20, SQL: `ALTER TABLE wallets ADD COLUMN IF NOT EXISTS owed BIGINT`},
		{Version: 21, SQL: `ALTER TABLE wallets ADD COLUMN IF NOT EXISTS paying BIGINT`},
		// A host's payouts (payout.go): requested, then settled paid or
		// failed exactly once (the status guards the update).
		{Version: 22, SQL: `CREATE TABLE IF NOT EXISTS payouts (
	id UUID PRIMARY KEY,
	user_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	amount BIGINT NOT NULL,
	status TEXT NOT NULL,
	region TEXT NOT NULL,
	settled_by TEXT NOT NULL,
	transfer TEXT NOT NULL,
	reason TEXT NOT NULL,
	created_at_ms BIGINT NOT NULL,
	settled_at_ms BIGINT NOT NULL
)`},
		{Version: 23, Index: `payouts_user ON payouts (user_id, created_at_ms)`},
		// What the payment provider took back from each top-up (debit.go):
		// one row per charge's refunds (their running total) and per
		// dispute, so a claim is counted once however often it is reported.
		{Version: 24, SQL: `CREATE TABLE IF NOT EXISTS claims (
	payment TEXT NOT NULL,
	claim TEXT NOT NULL,
	user_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	amount BIGINT NOT NULL,
	updated_at_ms BIGINT NOT NULL,
	PRIMARY KEY (payment, claim)
)`},
		{Version: 25, Index: `claims_user ON claims (user_id)`},
		// A payment's topup entry, read when its top-up record is gone
		// (debit.go topUpEntryOf).
		{Version: 26, Index: `entries_request ON entries (request_id)`},
	}
}

// Migrate applies every migration not yet recorded. Each DDL statement runs
// in its own transaction and its record in a separate one, because DSQL
// forbids mixing DDL and DML; statements are IF NOT EXISTS, so a crash
// between the two (or two nodes migrating at once) only repeats a no-op.
//
// Several nodes may start together on an empty database: their DDL races
// (PostgreSQL answers a concurrent CREATE TABLE IF NOT EXISTS with a
// duplicate key on its catalog, DSQL with OC000/OC001), so every step is
// retried until it succeeds or is found done (migrateStep).
//
// On DSQL an index is built asynchronously (CREATE INDEX ASYNC returns at
// once). The ledger does not wait for one: no index decides correctness —
// each serves a read that is correct, only slower, without it.
func (l *Ledger) Migrate(ctx context.Context) error {
	if err := l.migrateStep(ctx, "create schema_migrations", createMigrationsTable); err != nil {
		return err
	}
	applied, err := l.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range schema() {
		if applied[m.Version] {
			continue
		}
		if err := l.migrateStep(ctx, fmt.Sprintf("migration %d", m.Version), m.statement(l.dialect)); err != nil {
			return err
		}
		if err := l.migrateStep(ctx, fmt.Sprintf("record migration %d", m.Version),
			`INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING`,
			m.Version, time.Now().UnixMilli()); err != nil {
			return err
		}
		l.log.Info().Int("version", m.Version).Msg("migration applied")
	}
	return nil
}

func (l *Ledger) appliedMigrations(ctx context.Context) (map[int]bool, error) {
	applied := map[int]bool{}
	rows, err := l.pool.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("scan schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return applied, nil
}

// migrateAttempts bounds how often one migration step is retried while
// other nodes race it.
const migrateAttempts = 20

// migrateStep runs one idempotent statement (IF NOT EXISTS DDL, or an
// insert that ignores a conflict) in its own transaction, retrying what a
// concurrent migration can cause: the ledger's retryable errors (40001 —
// DSQL's OC000 and OC001 — deadlocks, a duplicate key, a lost connection),
// and PostgreSQL's duplicate-object and "tuple concurrently updated"
// answers to racing DDL. Once the other node's statement has committed,
// the retry finds the object and does nothing.
func (l *Ledger) migrateStep(ctx context.Context, name, sql string, args ...any) error {
	for attempt := 1; ; attempt++ {
		_, err := l.pool.Exec(ctx, sql, args...)
		if err == nil {
			return nil
		}
		if !racingDDL(err) || attempt >= migrateAttempts {
			return fmt.Errorf("%s: %w", name, err)
		}
		l.log.Debug().Err(err).Str("step", name).Int("attempt", attempt).Msg("migration raced another node; retrying")
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// racingDDL reports whether a DDL statement failed because another session
// ran the same DDL at the same time.
func racingDDL(err error) bool {
	if retryable(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "42P07", "42710", "42701": // duplicate table, object, column
		return true
	case "XX000":
		return strings.Contains(pgErr.Message, "concurrently")
	}
	return false
}

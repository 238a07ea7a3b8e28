package proof

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// rawBoundConns matches the server's default pool, so the raw loop has as
// many connections as LotZero does.
const rawBoundConns = 16

// RawBound is the database's own limit for the race: the same contended
// claim statement, alone, from as many connections as LotZero's pool.
type RawBound struct {
	Statements int     `json:"statements"`
	Conns      int     `json:"conns"`
	DurationMS float64 `json:"duration_ms"`
	Claimed    int64   `json:"claimed"`
	// Fraction is the raw loop's duration over LotZero's: 1 means LotZero
	// settles the race as fast as the bare statement; 0.5, half as fast.
	Fraction float64 `json:"fraction"`
}

// rawBound runs n autocommit claims of k units — one conditional UPDATE
// each, all on one row — in a database of its own on the proof's
// PostgreSQL, so the ledger's data is untouched. It connects the way the
// nodes do: through the latency proxy when there is one, so the two are
// compared over the same distance.
func rawBound(ctx context.Context, env *nodes, n, k int) (RawBound, error) {
	rb := RawBound{Statements: n, Conns: rawBoundConns}
	if err := env.pg.EnsureDatabase(ctx, "rawbound"); err != nil {
		return rb, err
	}
	dsn, err := env.connString("rawbound")
	if err != nil {
		return rb, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return rb, err
	}
	cfg.MaxConns = rawBoundConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return rb, err
	}
	defer pool.Close()
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS raw_lot (id BIGINT PRIMARY KEY, claimed BIGINT NOT NULL, total BIGINT NOT NULL)`,
		`DELETE FROM raw_lot`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return rb, fmt.Errorf("raw bound setup: %w", err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO raw_lot (id, claimed, total) VALUES (1, 0, $1)`, k); err != nil {
		return rb, err
	}
	// Warm every connection first, as LotZero's pool is warm.
	if err := parallel(rawBoundConns, rawBoundConns, func(int) error { return pool.Ping(ctx) }); err != nil {
		return rb, err
	}
	began := time.Now()
	err = parallel(n, n, func(int) error {
		_, err := pool.Exec(ctx, `UPDATE raw_lot SET claimed = claimed + 1 WHERE id = 1 AND claimed < total`)
		return err
	})
	rb.DurationMS = millis(time.Since(began))
	if err != nil {
		return rb, err
	}
	err = pool.QueryRow(ctx, `SELECT claimed FROM raw_lot WHERE id = 1`).Scan(&rb.Claimed)
	return rb, err
}

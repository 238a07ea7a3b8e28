package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestMigrateRacingNodes: several nodes start together on an empty
// database and migrate at once; every one of them succeeds and the schema
// is whole (seen before: two of three nodes exited with a duplicate key on
// PostgreSQL's catalog). Three empty databases, five nodes each.
func TestMigrateRacingNodes(t *testing.T) {
	ctx := context.Background()
	const nodes = 5
	for round := 0; round < 3; round++ {
		var b [6]byte
		_, _ = rand.Read(b[:])
		db := "m_" + hex.EncodeToString(b[:])
		if err := testPG.EnsureDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
		ledgers := make([]*Ledger, nodes)
		for i := range ledgers {
			pool, err := pgxpool.New(ctx, testPG.ConnString(db))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			ledgers[i] = New(pool, BackendEmbedded, Options{})
		}
		errs := make(chan error, nodes)
		start := make(chan struct{})
		for _, l := range ledgers {
			go func() {
				<-start
				errs <- l.Migrate(ctx)
			}()
		}
		close(start)
		for range ledgers {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: a node failed to migrate: %v", round, err)
			}
		}
		var n int
		if err := ledgers[0].Pool().QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(schema()) {
			t.Fatalf("round %d: %d migrations recorded, want %d", round, n, len(schema()))
		}
	}
}

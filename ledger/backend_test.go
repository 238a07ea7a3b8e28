package ledger

import (
	"context"
	"testing"
	"time"
)

func TestOpenPostgresURL(t *testing.T) {
	ctx := context.Background()
	mustOK(t, testPG.EnsureDatabase(ctx, "open_url"))
	l, err := Open(ctx, Config{DatabaseURL: testPG.ConnString("open_url"), MaxConns: 4}, Options{})
	mustOK(t, err)
	defer l.Close()
	if l.Backend() != BackendPostgres || l.Pool().Config().MaxConns != 4 {
		t.Fatalf("backend %s, max conns %d", l.Backend(), l.Pool().Config().MaxConns)
	}
	mustOK(t, l.Migrate(ctx))
	// Open waits for a database that is (re)starting, up to its context.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	began := time.Now()
	_, err = Open(short, Config{DatabaseURL: "postgres://nobody@127.0.0.1:1/x?connect_timeout=1"}, Options{})
	if err == nil || time.Since(began) > 5*time.Second {
		t.Fatalf("an unreachable DATABASE_URL must fail by the context's deadline: %v after %v", err, time.Since(began))
	}
}

package ledger

import (
	"context"
	"os"
	"path/filepath"
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

// TestOpenEmbeddedKeepsDataAcrossRestarts is the no-configuration default:
// Open starts its own PostgreSQL in the data directory, Close stops it, and
// the next Open finds the same data.
func TestOpenEmbeddedKeepsDataAcrossRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(enterableTempDir(t), "data")

	l, err := Open(ctx, Config{DataDir: dir}, Options{})
	mustOK(t, err)
	if l.Backend() != BackendEmbedded {
		t.Fatalf("backend %s", l.Backend())
	}
	mustOK(t, l.Migrate(ctx))
	_, err = l.Seed(ctx)
	mustOK(t, err)
	l.Close()
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postgres still running after Close: %v", err)
	}

	l, err = Open(ctx, Config{DataDir: dir}, Options{})
	mustOK(t, err)
	defer l.Close()
	mustOK(t, l.Migrate(ctx))
	lots, err := l.Lots(ctx, 100)
	mustOK(t, err)
	if len(lots) != 9 {
		t.Fatalf("after restart: %d lots", len(lots))
	}
	vs, err := l.Audit(ctx)
	mustOK(t, err)
	if len(vs) != 0 {
		t.Fatalf("audit: %v", vs)
	}
}

func TestDefaultDataDir(t *testing.T) {
	d := DefaultDataDir()
	if os.Geteuid() == 0 && d != "/var/lib/lotzero/postgres" {
		t.Fatalf("as root the data dir must be enterable by the postgres user: %s", d)
	}
	if !filepath.IsAbs(d) {
		t.Fatalf("data dir %q is not absolute", d)
	}
}

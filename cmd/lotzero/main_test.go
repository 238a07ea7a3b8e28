package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lotzero/lotzero/hub"
)

// TestCommandsOnEmbeddedPostgres runs the commands as a user would, on the
// embedded PostgreSQL they start themselves in a fresh data directory.
func TestCommandsOnEmbeddedPostgres(t *testing.T) {
	root, err := os.MkdirTemp("", "lotzero-cmd-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	if err := os.Chmod(root, 0o755); err != nil { // enterable by the postgres user when run as root
		t.Fatal(err)
	}
	dir := filepath.Join(root, "pg")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	exec := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append(args, "--data-dir", dir, "--log-level", "warn"), &out, &errOut)
		return code, out.String() + errOut.String()
	}

	if code, out := exec("migrate"); code != 0 || !strings.Contains(out, "embedded-postgres") {
		t.Fatalf("migrate: %d %s", code, out)
	}
	if code, out := exec("demo", "--buyers", "40"); code != 0 || !strings.Contains(out, "every invariant holds") || !strings.Contains(out, "5 bought") {
		t.Fatalf("demo: %d %s", code, out)
	}
	code, out := exec("audit")
	var report struct {
		OK         bool  `json:"ok"`
		Violations []any `json:"violations"`
	}
	if err := json.Unmarshal([]byte(out), &report); code != 0 || err != nil || !report.OK || len(report.Violations) != 0 {
		t.Fatalf("audit: %d %s %v", code, out, err)
	}
	if code, out := exec("seed"); code != 0 || !strings.Contains(out, "0 lots opened now") {
		t.Fatalf("second seed must be a no-op: %d %s", code, out)
	}
}

func TestUsageAndBadInput(t *testing.T) {
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "lotzero migrate") {
		t.Fatalf("help: %d %s", code, out.String())
	}
	if code := run(ctx, []string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
	errOut.Reset()
	if code := run(ctx, []string{"migrate", "--db-max-conns", "0"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "db-max-conns") {
		t.Fatalf("bad flag value: %d %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"migrate", "-h"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "DATABASE_URL") {
		t.Fatalf("-h must list flags with their environment variables: %d %s", code, errOut.String())
	}
}

func TestTokenCommand(t *testing.T) {
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"token", "--user", "alice", "--role", "bidder,host", "--ttl", "1h", "--auth-secret", "s3cret"}, &out, &errOut); code != 0 {
		t.Fatalf("token: %d %s", code, errOut.String())
	}
	id, err := hub.NewTokens("s3cret").Verify(strings.TrimSpace(out.String()))
	if err != nil || id.User != "alice" || !id.Has(hub.RoleHost) {
		t.Fatalf("minted token: %+v %v", id, err)
	}
	for _, args := range [][]string{
		{"token", "--user", "Alice", "--auth-secret", "x"},
		{"token", "--user", "alice", "--role", "admin", "--auth-secret", "x"},
		{"token", "--user", "alice", "--ttl", "-1h", "--auth-secret", "x"},
	} {
		if code := run(ctx, args, &out, &errOut); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lotzero/lotzero/hub"
	"github.com/lotzero/lotzero/ledger"
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
	// Each command started and stopped its own PostgreSQL on the same data:
	// the seed above survived the restarts, and nothing is left running.
	if code, out := exec("seed"); code != 0 || !strings.Contains(out, "0 lots opened now") {
		t.Fatalf("second seed must be a no-op: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postgres still running after the command ended: %v", err)
	}
}

// TestMalformedEnvironmentIsAnError: a variable that does not parse stops
// the command before it starts anything, naming the variable; it never
// falls back to the default silently. The command line wins over the
// environment.
func TestMalformedEnvironmentIsAnError(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ cmd, variable, value string }{
		{"migrate", "LOTZERO_DB_MAX_CONNS", "abc"},
		{"serve", "LOTZERO_SEED", "maybe"},
		{"serve", "LOTZERO_QUEUE_BYTES", "1MiB"},
		{"serve", "LOTZERO_COMMAND_RATE", "fast"},
		{"serve", "LOTZERO_PRESENCE_TTL", "30"},
	} {
		t.Run(tc.variable, func(t *testing.T) {
			t.Setenv(tc.variable, tc.value)
			var out, errOut bytes.Buffer
			code := run(ctx, []string{tc.cmd, "--data-dir", filepath.Join(t.TempDir(), "never-created")}, &out, &errOut)
			if code != 1 || !strings.Contains(errOut.String(), tc.variable) {
				t.Fatalf("%s=%s: exit %d, stderr %q; want exit 1 naming the variable", tc.variable, tc.value, code, errOut.String())
			}
		})
	}
	t.Setenv("LOTZERO_AUTH_SECRET", "from-env-0123456789abcdef0123456789abcdef")
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"token", "--user", "alice", "--auth-secret", "from-flag-0123456789abcdef0123456789abcdef"}, &out, &errOut); code != 0 {
		t.Fatalf("token: %d %s", code, errOut.String())
	}
	if _, err := hub.NewTokens("from-flag-0123456789abcdef0123456789abcdef", 0).Verify(strings.TrimSpace(out.String())); err != nil {
		t.Fatalf("the flag must win over the environment: %v", err)
	}
}

// TestFlagDefaultsComeFromTheOptions: the defaults lotzero shows are the
// ones the packages apply, not a second copy.
func TestFlagDefaultsComeFromTheOptions(t *testing.T) {
	fs := newFlagSet("lotzero serve")
	(&ledgerFlags{}).register(fs)
	(&hubFlags{}).register(fs)
	d := hub.Defaults()
	for name, want := range map[string]string{
		"queue-bytes": fmt.Sprint(d.QueueBytes), "command-rate": fmt.Sprint(d.CommandRate),
		"command-burst": fmt.Sprint(d.CommandBurst), "chat-rate": fmt.Sprint(d.ChatRate),
		"chat-budget":  fmt.Sprint(d.ChatBudget),
		"presence-ttl": d.PresenceTTL.String(), "relay-every": d.RelayEvery.String(),
		"hello-timeout": d.HelloTimeout.String(), "db-max-conns": fmt.Sprint(ledger.DefaultMaxConns),
		"db-batch": fmt.Sprint(ledger.DefaultMaxBatch),
	} {
		if got := fs.Lookup(name).DefValue; got != want {
			t.Errorf("--%s defaults to %s, the options to %s", name, got, want)
		}
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
	if code := run(ctx, []string{"token", "--user", "alice", "--role", "bidder,host", "--ttl", "1h", "--auth-secret", "s3cret-0123456789abcdef0123456789abcdef"}, &out, &errOut); code != 0 {
		t.Fatalf("token: %d %s", code, errOut.String())
	}
	id, err := hub.NewTokens("s3cret-0123456789abcdef0123456789abcdef", 0).Verify(strings.TrimSpace(out.String()))
	if err != nil || id.User != "alice" || !id.Has(hub.RoleHost) {
		t.Fatalf("minted token: %+v %v", id, err)
	}
	for _, args := range [][]string{
		{"token", "--user", "Alice", "--auth-secret", "x"},
		{"token", "--user", "alice", "--role", "admin", "--auth-secret", "x"},
		{"token", "--user", "alice", "--ttl", "-1h", "--auth-secret", "x"},
		// Issue 11: no secret, a short secret, a ttl over the cap.
		{"token", "--user", "alice"},
		{"token", "--user", "alice", "--auth-secret", "short-secret"},
		{"token", "--user", "alice", "--ttl", "25h", "--auth-secret", "s3cret-0123456789abcdef0123456789abcdef"},
		{"token", "--user", "alice", "--ttl", "2h", "--max-token-ttl", "1h", "--auth-secret", "s3cret-0123456789abcdef0123456789abcdef"},
	} {
		if code := run(ctx, args, &out, &errOut); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
	}
}

// TestTokenCommandNeedsASecret: without a secret lotzero token fails and
// prints no token (it used to mint one with the public demo key).
func TestTokenCommandNeedsASecret(t *testing.T) {
	t.Setenv("LOTZERO_AUTH_SECRET", "")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"token", "--user", "alice"}, &out, &errOut); code != 1 || out.Len() != 0 ||
		!strings.Contains(errOut.String(), "LOTZERO_AUTH_SECRET") {
		t.Fatalf("token without a secret: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

// TestServeRefusesAShortSecret: the serve options refuse a secret under
// 32 bytes and non-positive token and audit settings.
func TestServeRefusesAShortSecret(t *testing.T) {
	fs := newFlagSet("lotzero serve")
	var hf hubFlags
	hf.register(fs)
	if err := fs.parse(nil, io.Discard); err != nil {
		t.Fatal(err)
	}
	hf.authSecret = strings.Repeat("k", hub.MinSecretLen-1)
	if _, err := hf.options(); err == nil || !strings.Contains(err.Error(), "32") {
		t.Fatalf("a 31-byte secret: %v", err)
	}
	hf.authSecret = strings.Repeat("k", hub.MinSecretLen)
	if o, err := hf.options(); err != nil || o.MaxTokenTTL != 24*time.Hour {
		t.Fatalf("a 32-byte secret: %+v %v", o.MaxTokenTTL, err)
	}
	hf.maxTokenTTL = 0
	if _, err := hf.options(); err == nil {
		t.Fatal("a zero token lifetime was accepted")
	}
}

func TestDefaultOrigins(t *testing.T) {
	got := defaultOrigins(&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8080})
	want := []string{"localhost:8080", "127.0.0.1:8080", "[::1]:8080", "10.1.2.3:8080"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if all := defaultOrigins(&net.TCPAddr{IP: net.IPv4zero, Port: 9}); !slices.Contains(all, "localhost:9") || !slices.Contains(all, "127.0.0.1:9") {
		t.Fatalf("every interface: %v", all)
	}
}

// TestProofDBLatencyNeedsItsOwnDatabase: the latency goes between nodes and
// a PostgreSQL the proof starts, so against a deployment (--url) it is a run
// that cannot be carried out, as is a negative one.
func TestProofDBLatencyNeedsItsOwnDatabase(t *testing.T) {
	for _, args := range [][]string{
		{"proof", "--url", "http://127.0.0.1:1", "--db-latency", "20ms"},
		{"proof", "--db-latency", "-1ms"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "db latency") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and the reason", args, code, errOut.String())
		}
	}
}

// TestProofDSQLSimNeedsItsOwnDatabase: the DSQL layer too goes in front of a
// PostgreSQL the proof starts; against a deployment it cannot be carried out.
func TestProofDSQLSimNeedsItsOwnDatabase(t *testing.T) {
	for _, args := range [][]string{
		{"proof", "--url", "http://127.0.0.1:1", "--dsql-sim"},
		{"proof", "--dsql-sim", "--dsql-abort-share", "0.9"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "DSQL layer") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and the reason", args, code, errOut.String())
		}
	}
}

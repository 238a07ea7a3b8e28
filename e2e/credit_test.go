package e2e

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// TestOperatorCreditsAWallet: in production mode (an auth secret, no
// demo seed, no deposits) an operator funds a new user's wallet through
// POST /api/admin/credit; the reference credits once however often it is
// sent; only the operator role may; the user then sees the money, and the
// audit is clean.
func TestOperatorCreditsAWallet(t *testing.T) {
	s := startServer(t, "", "LOTZERO_AUTH_SECRET="+prodSecret)
	ctx := ctxT(t, 30*time.Second)
	now := time.Now()
	ops := mint(t, prodSecret, "ops", []string{"operator"}, now, time.Hour)
	carol := mint(t, prodSecret, "carol", []string{"bidder"}, now, time.Hour)

	credit := func(token, body string) (protocol.Wallet, error) {
		var out struct {
			Wallet protocol.Wallet `json:"wallet"`
		}
		err := protocol.PostJSON(ctx, s.URL+"/api/admin/credit", token, []byte(body), &out)
		return out.Wallet, err
	}
	if _, err := credit(carol, `{"user":"carol","amount":5000,"ref":"self-serve","create":true}`); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("a bidder crediting: %v, want forbidden", err)
	}
	if _, err := credit(ops, `{"user":"carol","amount":5000,"ref":"wire-1"}`); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("crediting a user with no wallet without create: %v, want not_found", err)
	}
	for i := 0; i < 3; i++ {
		w, err := credit(ops, `{"user":"carol","amount":5000,"ref":"wire-1","create":true}`)
		if err != nil {
			t.Fatalf("credit %d: %v", i+1, err)
		}
		if w.Funded != 5000 || w.Available != 5000 {
			t.Fatalf("credit %d answered %+v, want 5000 funded once", i+1, w)
		}
	}
	if _, err := credit(ops, `{"user":"carol","amount":9000,"ref":"wire-1"}`); err == nil || !strings.Contains(err.Error(), "bad_request") {
		t.Fatalf("a reference reused for another amount: %v, want bad_request", err)
	}
	var mine struct {
		Wallet protocol.Wallet `json:"wallet"`
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/wallet", carol, &mine); err != nil {
		t.Fatal(err)
	}
	if mine.Wallet.Funded != 5000 {
		t.Fatalf("carol's wallet: %+v, want 5000 funded", mine.Wallet)
	}
	var audit struct {
		OK bool `json:"ok"`
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/audit", ops, &audit); err != nil || !audit.OK {
		t.Fatalf("audit after the credits: ok=%v, %v", audit.OK, err)
	}
}

// TestProofInProduction: `lotzero proof --url` against a production
// deployment (an auth secret, no demo seed, no deposits): the proof signs
// its users' tokens with the secret from its environment, funds them by
// operator credits, and every scenario's invariants hold.
func TestProofInProduction(t *testing.T) {
	s := startServer(t, "", "LOTZERO_AUTH_SECRET="+prodSecret)
	for _, args := range [][]string{
		{"--scenario", "oversell", "-n", "60", "-k", "6"},
		{"--scenario", "double-spend", "-n", "40"},
		{"--scenario", "dutch", "-n", "30", "-k", "3"},
		{"--scenario", "english", "-n", "8"},
	} {
		cmd := exec.Command(binary, append([]string{"proof", "--url", s.URL}, args...)...)
		cmd.Env = append(os.Environ(), "LOTZERO_AUTH_SECRET="+prodSecret)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Invariant held") {
			t.Fatalf("proof %v in production: %v\n%s", args, err, out)
		}
	}
	// Without the secret the proof cannot act there, and says so (status 2).
	cmd := exec.Command(binary, "proof", "--url", s.URL, "--scenario", "oversell", "-n", "10")
	cmd.Env = withoutEnv(os.Environ(), "LOTZERO_AUTH_SECRET")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("proof without the secret: %v, want exit status 2\n%s", err, out)
	}
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	return out
}

// TestPayoutSettledByCLI: a host's payout requested over HTTP is settled
// by an operator with `lotzero payout` on the server's database (the
// server stopped: the embedded PostgreSQL is one process's), once; the
// restarted server shows the money gone from earned, and the audit is clean.
func TestPayoutSettledByCLI(t *testing.T) {
	dir := dataDir(t)
	s := startServer(t, dir, "LOTZERO_AUTH_SECRET="+prodSecret, "DATABASE_URL=")
	ctx := ctxT(t, 90*time.Second)
	now := time.Now()
	ops := mint(t, prodSecret, "ops", []string{"operator"}, now, time.Hour)
	hal := mint(t, prodSecret, "hal", []string{"host"}, now, time.Hour)
	bea := mint(t, prodSecret, "bea", []string{"bidder"}, now, time.Hour)
	for _, c := range []string{`{"user":"hal","amount":1,"ref":"hal","create":true}`, `{"user":"bea","amount":9000,"ref":"bea","create":true}`} {
		if err := protocol.PostJSON(ctx, s.URL+"/api/admin/credit", ops, []byte(c), nil); err != nil {
			t.Fatal(err)
		}
	}
	var lot struct {
		Lot protocol.Lot `json:"lot"`
	}
	if err := protocol.PostJSON(ctx, s.URL+"/api/lots", hal, []byte(`{"kind":"drop","title":"vase","price":8000,"qty":1}`), &lot); err != nil {
		t.Fatal(err)
	}
	c, err := protocol.Dial(ctx, s.WS, bea, "us-east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var bought protocol.PurchaseResult
	mustOK(t, c, protocol.Request{Type: "buy", ID: "b1", Lot: lot.Lot.ID, Qty: 1}, &bought)
	_ = c.Close()
	var p struct {
		Payout struct {
			ID string `json:"id"`
		} `json:"payout"`
	}
	if err := protocol.PostJSON(ctx, s.URL+"/api/wallet/payout", hal, []byte(`{"amount":5000,"id":"cli-1"}`), &p); err != nil {
		t.Fatal(err)
	}
	s.stop()

	cli := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, binary, append([]string{"payout", "--data-dir", dir, "--log-level", "warn"}, args...)...)
		cmd.Env = withoutEnv(os.Environ(), "DATABASE_URL")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := cli(); err != nil || !strings.Contains(out, p.Payout.ID) || !strings.Contains(out, `"pending"`) {
		t.Fatalf("lotzero payout (list): %v\n%s", err, out)
	}
	if out, err := cli("--id", p.Payout.ID, "--paid", "--transfer", "wire-9", "--by", "ops2"); err != nil || !strings.Contains(out, "5000 paid") {
		t.Fatalf("lotzero payout --paid: %v\n%s", err, out)
	}
	if out, err := cli("--id", p.Payout.ID, "--failed", "--reason", "late"); err == nil || !strings.Contains(out, "already settled paid") {
		t.Fatalf("failing a paid payout: %v\n%s", err, out)
	}
	if out, err := cli("--id", p.Payout.ID); err == nil || !strings.Contains(out, "--paid") {
		t.Fatalf("settling without an outcome: %v\n%s", err, out)
	}
	s.restart()
	if w := s.wallet(t, hal); w.Earned != 3000 || w.Held != 0 || w.PayoutPending != 0 {
		t.Fatalf("hal after the payout: %+v", w)
	}
	var audit struct {
		OK         bool  `json:"ok"`
		Violations []any `json:"violations"`
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/audit", ops, &audit); err != nil || !audit.OK {
		t.Fatalf("audit after the payout: %v %v", err, audit.Violations)
	}
}

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

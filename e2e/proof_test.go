package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lotzero/lotzero/proof"
	"github.com/lotzero/lotzero/protocol"
)

func runProof(t *testing.T, cfg proof.Config) *proof.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := proof.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("%s: %v", cfg.Scenario, err)
	}
	if !rep.OK {
		t.Fatalf("%s: %s: %v", cfg.Scenario, rep.Verdict, rep.Check.Violations)
	}
	t.Logf("%s n=%d k=%d: ok %d rejected %v info %d in %.0f ms, faults %v", cfg.Scenario, cfg.N, cfg.K,
		rep.Check.Succeeded, rep.Check.Rejected, rep.Check.Unknown, rep.DurationMS, rep.Faults)
	return rep
}

// TestProofScenarios runs every scenario against a server, as `lotzero
// proof --url` does.
func TestProofScenarios(t *testing.T) {
	s := startServer(t, "", "LOTZERO_COMMAND_RATE=100000", "LOTZERO_COMMAND_BURST=100000")
	rep := runProof(t, proof.Config{Scenario: "oversell", N: 200, K: 20, URL: s.URL})
	if rep.Check.Succeeded != 20 || rep.Check.Rejected["sold_out"] != 180 || len(rep.Regions) != 5 {
		t.Fatalf("oversell: %+v", rep.Check)
	}
	rep = runProof(t, proof.Config{Scenario: "double-spend", N: 100, URL: s.URL})
	if rep.Check.Succeeded != 1 || rep.Check.Rejected["insufficient_funds"] != 99 {
		t.Fatalf("double-spend: %+v", rep.Check)
	}
	runProof(t, proof.Config{Scenario: "dutch", N: 100, K: 5, URL: s.URL})
	rep = runProof(t, proof.Config{Scenario: "english", N: 12, URL: s.URL})
	if rep.Check.Sold != 1 {
		t.Fatalf("english: %+v", rep.Check)
	}
}

// TestProofSurvivesFaults: connections dropped, PostgreSQL restarted and
// the node killed with SIGKILL during the race; the invariants still hold.
func TestProofSurvivesFaults(t *testing.T) {
	for _, sc := range []string{"oversell", "dutch"} {
		rep := runProof(t, proof.Config{Scenario: sc, N: 150, K: 15, Binary: binary, Faults: true})
		if len(rep.Faults) == 0 {
			t.Fatalf("%s: no fault was injected", sc)
		}
	}
}

// TestProofAPI is the web console's path: POST /api/proof.
func TestProofAPI(t *testing.T) {
	s := startServer(t, "", "LOTZERO_COMMAND_RATE=100000", "LOTZERO_COMMAND_BURST=100000")
	var rep struct {
		OK       bool                `json:"ok"`
		Verdict  string              `json:"verdict"`
		Backends protocol.ServerInfo `json:"backends"`
		Check    struct {
			Succeeded int `json:"succeeded"`
		} `json:"check"`
	}
	ctx := ctxT(t, 2*time.Minute)
	if err := protocol.PostJSON(ctx, s.URL+"/api/proof", "", []byte(`{"scenario":"oversell","n":60,"k":6}`), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Verdict != "Invariant held" || rep.Check.Succeeded != 6 || rep.Backends.Ledger != "embedded-postgres" {
		t.Fatalf("report: %+v", rep)
	}
	err := protocol.PostJSON(ctx, s.URL+"/api/proof", "", []byte(`{"scenario":"teleport","n":5}`), nil)
	if err == nil || !strings.Contains(err.Error(), "scenario") {
		t.Fatalf("bad scenario: %v", err)
	}
	err = protocol.PostJSON(ctx, s.URL+"/api/proof", "", []byte(`{"scenario":"oversell","n":999999}`), nil)
	if err == nil {
		t.Fatal("an oversized proof was accepted")
	}
}

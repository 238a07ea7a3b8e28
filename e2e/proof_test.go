package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lotzero/lotzero/proof"
	"github.com/lotzero/lotzero/proof/checker"
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

// TestProofScenarios runs every scenario against a server on its default
// settings, as `lotzero proof --url` does.
func TestProofScenarios(t *testing.T) {
	s := startServer(t, "")
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

// TestProofThroughDatabaseLatency: with a round trip injected between the
// nodes and PostgreSQL (and the raw bound and it), and PostgreSQL restarted
// behind the proxy mid-race, the invariants hold, every request pays the
// distance, and the report says what was injected.
func TestProofThroughDatabaseLatency(t *testing.T) {
	const latency = 10 * time.Millisecond
	rep := runProof(t, proof.Config{Scenario: "oversell", N: 100, K: 10, Binary: binary, Faults: true, RawBound: true, DBLatency: latency})
	if rep.DBLatencyMS != 10 || rep.RawBound == nil || rep.Check.Succeeded != 10 {
		t.Fatalf("report: db latency %v ms, raw bound %+v, check %+v", rep.DBLatencyMS, rep.RawBound, rep.Check)
	}
	if restarted := strings.Join(rep.Faults, "; "); !strings.Contains(restarted, "restarted PostgreSQL") {
		t.Fatalf("PostgreSQL was not restarted behind the proxy: %s", restarted)
	}
	// The raw bound's statements went through the proxy too: each costs at
	// least one round trip, and 16 connections carry them.
	if floor := float64(latency.Milliseconds()) * float64(rep.RawBound.Statements) / float64(rep.RawBound.Conns); rep.RawBound.DurationMS < floor {
		t.Fatalf("the raw bound took %.1f ms, less than %.0f ms: it bypassed the proxy", rep.RawBound.DurationMS, floor)
	}
}

// TestProofAcrossNodes: three nodes on one PostgreSQL race one wallet and
// one drop with a node killed mid-race; the report has every node.
func TestProofAcrossNodes(t *testing.T) {
	for _, sc := range []string{"double-spend", "oversell"} {
		rep := runProof(t, proof.Config{Scenario: sc, N: 150, K: 15, Nodes: 3, Binary: binary, Faults: true})
		if len(rep.Nodes) != 3 || len(rep.Faults) == 0 {
			t.Fatalf("%s: nodes %+v, faults %v", sc, rep.Nodes, rep.Faults)
		}
		t.Logf("%s on 3 nodes: OCC retries %d, %+v", sc, rep.OCCRetries, rep.Nodes)
	}
}

// TestProofAPI is the web console's path: POST /api/proof.
func TestProofAPI(t *testing.T) {
	s := startServer(t, "")
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
	backend := "embedded-postgres"
	if dsqlSimOn() {
		backend = "postgres" // the harness's PostgreSQL behind the DSQL layer
	}
	if !rep.OK || rep.Verdict != "Invariant held" || rep.Check.Succeeded != 6 || rep.Backends.Ledger != backend {
		t.Fatalf("report: %+v", rep)
	}
	// The run is listed, and its record downloads and re-checks offline.
	var runs struct {
		Runs []proof.RunSummary `json:"runs"`
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/proof/runs", "", &runs); err != nil || len(runs.Runs) != 1 || !runs.Runs[0].OK ||
		runs.Runs[0].Oversells != 0 || runs.Runs[0].DoubleSpends != 0 {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	resp, err := http.Get(s.URL + "/api/proof/runs/" + runs.Runs[0].ID + "/record")
	if err != nil {
		t.Fatal(err)
	}
	final, ops, err := checker.ReadRecord(resp.Body)
	resp.Body.Close()
	if err != nil || !checker.Check(ops, final).OK {
		t.Fatalf("the downloaded record: %v", err)
	}
	err = protocol.PostJSON(ctx, s.URL+"/api/proof", "", []byte(`{"scenario":"teleport","n":5}`), nil)
	if err == nil || !strings.Contains(err.Error(), "scenario") {
		t.Fatalf("bad scenario: %v", err)
	}
	err = protocol.PostJSON(ctx, s.URL+"/api/proof", "", []byte(`{"scenario":"oversell","n":999999}`), nil)
	if err == nil {
		t.Fatal("an oversized proof was accepted")
	}
}

// TestProofRecordRechecks: a run's record re-checks offline to the same
// verdict with `lotzero proof check`; an edited record (a second winner)
// fails it with status 1; a file that is no record is status 2.
func TestProofRecordRechecks(t *testing.T) {
	s := startServer(t, "")
	dir := t.TempDir()
	rec := filepath.Join(dir, "run.rec")
	out, err := exec.Command(binary, "proof", "--scenario", "double-spend", "-n", "60", "--url", s.URL, "--history", rec).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Invariant held") {
		t.Fatalf("proof: %v\n%s", err, out)
	}
	check := func(file string) (int, string) {
		out, err := exec.Command(binary, "proof", "check", file).CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := check(rec); code != 0 || !strings.Contains(out, "Invariant held") {
		t.Fatalf("re-check: %d %s", code, out)
	}
	// Edit: one refused purchase becomes a second winner.
	raw, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	edited := false
	for i, line := range lines[1:] {
		if strings.Contains(line, `"type":"fail"`) && strings.Contains(line, `"f":"buy"`) {
			line = strings.Replace(line, `"type":"fail"`, `"type":"ok"`, 1)
			lines[i+1] = strings.Replace(line, `"code":"insufficient_funds"`, `"price":1`, 1)
			edited = true
			break
		}
	}
	if !edited {
		t.Fatal("no refused purchase in the record to edit")
	}
	bad := filepath.Join(dir, "edited.rec")
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := check(bad); code != 1 || !strings.Contains(out, "VIOLATION") {
		t.Fatalf("an edited record must fail the check: %d %s", code, out)
	}
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("not a record\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _ := check(junk); code != 2 {
		t.Fatalf("a file that is no record: exit %d, want 2", code)
	}
}

package proof

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lotzero/lotzero/proof/checker"
	"github.com/lotzero/lotzero/protocol"
)

// MaxConsoleN bounds a run started from the web console (POST /api/proof):
// the server races itself, so the console keeps runs to a size one node
// and its clients can carry beside live traffic.
const MaxConsoleN = 2000

// consoleRuns is how many finished runs the console keeps to list and
// download.
const consoleRuns = 10

// ConsoleRequest is the body of POST /api/proof.
type ConsoleRequest struct {
	Scenario string `json:"scenario"`
	N        int    `json:"n"`
	K        int    `json:"k"`
}

// Console serves the web console's proof API against the server at URL,
// the one that serves the console itself:
//
//	POST /api/proof                     run one race, answer its report (one run at a time)
//	GET  /api/proof/runs                the last runs, newest first, with their verdicts
//	GET  /api/proof/runs/{id}/report    a run's report, as a download
//	GET  /api/proof/runs/{id}/record    a run's record, for `lotzero proof check`
//
// Errors are the protocol's {"error":{"code","message"}}.
type Console struct {
	url string

	mu      sync.Mutex
	running bool
	runs    []*consoleRun // newest first
}

type consoleRun struct {
	report *Report
	record []byte
}

// NewConsole is the console for the server at url.
func NewConsole(url string) *Console { return &Console{url: url} }

// RunSummary is one line of the console's list of runs.
type RunSummary struct {
	ID           string  `json:"id"`
	At           string  `json:"at"`
	Scenario     string  `json:"scenario"`
	N            int     `json:"n"`
	K            int     `json:"k"`
	OK           bool    `json:"ok"`
	Verdict      string  `json:"verdict"`
	Oversells    int64   `json:"oversells"`
	DoubleSpends int64   `json:"double_spends"`
	DurationMS   float64 `json:"duration_ms"`
	OCCRetries   int64   `json:"occ_retries"`
	Nodes        int     `json:"nodes"`
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/api/proof" && r.Method == http.MethodPost:
		c.run(w, r)
	case path == "/api/proof/runs" && r.Method == http.MethodGet:
		c.list(w)
	case strings.HasPrefix(path, "/api/proof/runs/") && r.Method == http.MethodGet:
		id, what, _ := strings.Cut(strings.TrimPrefix(path, "/api/proof/runs/"), "/")
		c.download(w, id, what)
	default:
		writeConsoleError(w, http.StatusNotFound, protocol.Errorf(protocol.ErrNotFound, "no endpoint "+r.Method+" "+r.URL.Path))
	}
}

func (c *Console) run(w http.ResponseWriter, r *http.Request) {
	var req ConsoleRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeConsoleError(w, http.StatusBadRequest, protocol.Errorf(protocol.ErrBadRequest, "proof request: "+err.Error()))
		return
	}
	if req.N < 1 || req.N > MaxConsoleN || req.K < 0 || req.K > 1_000_000 {
		writeConsoleError(w, http.StatusBadRequest, protocol.Errorf(protocol.ErrBadRequest,
			fmt.Sprintf("n must be 1..%d and k 0..1000000", MaxConsoleN)))
		return
	}
	cfg := Config{Scenario: req.Scenario, N: req.N, K: req.K, URL: c.url}
	if err := cfg.Validate(); err != nil {
		writeConsoleError(w, http.StatusBadRequest, protocol.Errorf(protocol.ErrBadRequest, err.Error()))
		return
	}
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		writeConsoleError(w, http.StatusServiceUnavailable, protocol.Errorf(protocol.ErrBusy, "a proof is already running; try again when it ends"))
		return
	}
	c.running = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()

	rep, err := Run(r.Context(), cfg)
	if err != nil {
		writeConsoleError(w, http.StatusBadRequest, protocol.Errorf(protocol.ErrBadRequest, "the run could not be carried out: "+err.Error()))
		return
	}
	rep.ID = fmt.Sprintf("%d", time.Now().UnixNano())
	var rec bytes.Buffer
	if err := checker.WriteRecord(&rec, rep.Final, rep.History); err != nil {
		writeConsoleError(w, http.StatusInternalServerError, protocol.Errorf(protocol.ErrInternal, "write the record: "+err.Error()))
		return
	}
	c.mu.Lock()
	c.runs = append([]*consoleRun{{report: rep, record: rec.Bytes()}}, c.runs...)
	if len(c.runs) > consoleRuns {
		c.runs = c.runs[:consoleRuns]
	}
	c.mu.Unlock()
	writeConsoleJSON(w, http.StatusOK, rep)
}

func (c *Console) list(w http.ResponseWriter) {
	c.mu.Lock()
	out := make([]RunSummary, 0, len(c.runs))
	for _, run := range c.runs {
		r := run.report
		out = append(out, RunSummary{ID: r.ID, At: r.At, Scenario: r.Scenario, N: r.N, K: r.K, OK: r.OK, Verdict: r.Verdict,
			Oversells: r.Check.Oversells, DoubleSpends: r.Check.DoubleSpends, DurationMS: r.DurationMS,
			OCCRetries: r.OCCRetries, Nodes: len(r.Nodes)})
	}
	c.mu.Unlock()
	writeConsoleJSON(w, http.StatusOK, map[string]any{"runs": out})
}

func (c *Console) download(w http.ResponseWriter, id, what string) {
	c.mu.Lock()
	var found *consoleRun
	for _, run := range c.runs {
		if run.report.ID == id {
			found = run
		}
	}
	c.mu.Unlock()
	if found == nil {
		writeConsoleError(w, http.StatusNotFound, protocol.Errorf(protocol.ErrNotFound, "no run "+id+" (the console keeps the last 10)"))
		return
	}
	switch what {
	case "report":
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="proof-%s-report.json"`, id))
		writeConsoleJSON(w, http.StatusOK, found.report)
	case "record":
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="proof-%s.record"`, id))
		_, _ = w.Write(found.record)
	default:
		writeConsoleError(w, http.StatusNotFound, protocol.Errorf(protocol.ErrNotFound, "a run has a report and a record"))
	}
}

func writeConsoleJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeConsoleError(w http.ResponseWriter, status int, e *protocol.Error) {
	writeConsoleJSON(w, status, map[string]any{"error": e})
}

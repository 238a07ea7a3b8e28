package proof

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/lotzero/lotzero/protocol"
)

// MaxConsoleN bounds a run started from the web console (POST /api/proof):
// the server races itself, so the console keeps runs to a size one node
// and its clients can carry beside live traffic.
const MaxConsoleN = 2000

// ConsoleRequest is the body of POST /api/proof.
type ConsoleRequest struct {
	Scenario string `json:"scenario"`
	N        int    `json:"n"`
	K        int    `json:"k"`
}

// Console runs proofs for the web console against the server at URL, the
// server that serves the console itself.
type Console struct {
	URL string
}

// RunProof decodes a ConsoleRequest strictly, runs it and returns the
// Report. A request it refuses is a *protocol.Error with bad_request.
func (c Console) RunProof(ctx context.Context, body json.RawMessage) (any, error) {
	var req ConsoleRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, protocol.Errorf(protocol.ErrBadRequest, "proof request: "+err.Error())
	}
	if req.N < 1 || req.N > MaxConsoleN || req.K < 0 || req.K > 1_000_000 {
		return nil, protocol.Errorf(protocol.ErrBadRequest, fmt.Sprintf("n must be 1..%d and k 0..1000000", MaxConsoleN))
	}
	cfg := Config{Scenario: req.Scenario, N: req.N, K: req.K, URL: c.URL}
	if err := cfg.Validate(); err != nil {
		return nil, protocol.Errorf(protocol.ErrBadRequest, err.Error())
	}
	return Run(ctx, cfg)
}

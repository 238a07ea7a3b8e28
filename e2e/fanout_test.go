package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/lotzero/lotzero/internal/fanoutbench"
)

// TestFanoutBenchmarkRuns runs the README's fan-out benchmark small, so the
// command that produces the published figures keeps working.
func TestFanoutBenchmarkRuns(t *testing.T) {
	s := startServer(t, "", "LOTZERO_COMMAND_RATE=100000", "LOTZERO_COMMAND_BURST=100000")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := fanoutbench.Run(ctx, fanoutbench.Config{URL: s.URL, Clients: 50, Users: 5, Bids: 3, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Samples != 150 || res.Missing != 0 || res.P50 <= 0 || res.Max < res.P99 || res.P99 < res.P50 {
		t.Fatalf("result: %+v", res)
	}
}

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
	s := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := fanoutbench.Run(ctx, fanoutbench.Config{URL: s.URL, Sessions: 50, Users: 5, Bids: 3, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("%v: %+v", err, res)
	}
	if res.Joined != 50 || res.Samples != 150 || res.Missing != 0 || res.P50 <= 0 || res.Max < res.P99 || res.P99 < res.P50 {
		t.Fatalf("result: %+v", res)
	}
}

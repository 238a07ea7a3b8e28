package firehose

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/rs/zerolog"
)

// TestHealthHysteresis: failures at one moment do not turn the state,
// failures for a second do, and it turns back only after three seconds of
// successes with no failure among them; each change is logged once.
func TestHealthHysteresis(t *testing.T) {
	var logs bytes.Buffer
	h := NewHealth(HealthConfig{Name: "dynamodb", Logger: zerolog.New(&logs)})
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }
	ctx := context.Background()
	down := errors.New("dial tcp: connection refused")
	step := func(d time.Duration, err error) {
		now = now.Add(d)
		h.Observe(ctx, err)
	}

	for range 5 { // a burst at one moment
		step(0, down)
	}
	if h.Degraded() {
		t.Fatal("a burst of failures at one moment turned the state")
	}
	step(100*time.Millisecond, nil) // a success ends the run
	step(600*time.Millisecond, down)
	step(600*time.Millisecond, down)
	if h.Degraded() {
		t.Fatal("degraded before failing for a second")
	}
	step(500*time.Millisecond, down)
	st := h.State()
	if !st.Degraded || !st.Since.Equal(time.Unix(1000, 0).Add(700*time.Millisecond)) || st.LastError != down.Error() || st.Outages != 1 {
		t.Fatalf("after failing for 1.1s (since the first failure): %+v", st)
	}
	for range 10 {
		step(100*time.Millisecond, down) // still down: no more log lines
	}
	// Answers that are errors (a failed condition) show the store is up.
	step(time.Second, &types.ConditionalCheckFailedException{Message: new(string)})
	step(2*time.Second, nil)
	step(500*time.Millisecond, down) // a failure restarts the count
	step(2500*time.Millisecond, nil)
	step(2900*time.Millisecond, nil)
	if !h.Degraded() {
		t.Fatal("recovered before three seconds of successes")
	}
	step(200*time.Millisecond, nil)
	if h.Degraded() {
		t.Fatal("not recovered after three seconds of successes")
	}
	// A caller's own cancellation says nothing about the store.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for range 5 {
		now = now.Add(time.Second)
		h.Observe(cctx, context.Canceled)
	}
	if h.Degraded() {
		t.Fatal("cancelled calls turned the state")
	}
	if n := strings.Count(logs.String(), "firehose degraded"); n != 1 {
		t.Fatalf("logged degraded %d times:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "firehose recovered"); n != 1 {
		t.Fatalf("logged recovered %d times:\n%s", n, logs.String())
	}
}

// TestHealthStreamPacingIsAnAnswer: Streams pacing a shard's readers
// (LimitExceededException, which the tailer backs off from) shows the
// store answers; a table's throttling after retries does not.
func TestHealthStreamPacingIsAnAnswer(t *testing.T) {
	h := NewHealth(HealthConfig{Name: "dynamodb", Logger: zerolog.Nop()})
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }
	for range 10 {
		now = now.Add(500 * time.Millisecond)
		h.Observe(context.Background(), &stypes.LimitExceededException{Message: new(string)})
	}
	if h.Degraded() {
		t.Fatal("the stream's pacing of its readers turned the state")
	}
	for range 10 {
		now = now.Add(500 * time.Millisecond)
		h.Observe(context.Background(), &types.ProvisionedThroughputExceededException{Message: new(string)})
	}
	if !h.Degraded() {
		t.Fatal("throttled writes for seconds did not turn the state")
	}
}

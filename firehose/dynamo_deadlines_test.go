package firehose

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
)

// TestCallsToAFrozenEndpointEnd: an endpoint that accepts connections and
// never answers (a frozen DynamoDB) costs each call — a publish, a
// presence read, a view read, a stream read — its deadline and no more,
// though the caller's context has none, and the firehose turns degraded.
func TestCallsToAFrozenEndpointEnd(t *testing.T) {
	addr := frozenEndpoint(t)
	d, err := NewDynamo(context.Background(), DynamoConfig{Table: "frozen", Endpoint: "http://" + addr,
		CallConfig: CallConfig{CallTimeout: 600 * time.Millisecond, AttemptTimeout: 200 * time.Millisecond},
		Health:     HealthConfig{DegradeAfter: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background() // no deadline of the caller's
	calls := map[string]func() error{
		"publish": func() error {
			return d.Publish(ctx, Message{Kind: KindLedger, Lot: "l", Seq: 1, Event: "bid", At: time.Now(), Data: []byte(`{}`)})
		},
		"presence": func() error { _, err := d.Presence().List(ctx, "l"); return err },
		"chat":     func() error { _, err := d.Views().Chat(ctx, "l", 50); return err },
		"stream": func() error {
			_, err := d.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String("it")})
			return err
		},
	}
	for _, name := range []string{"publish", "presence", "chat", "stream"} {
		done := make(chan error, 1)
		go func() { done <- calls[name]() }()
		// The deadline is 600ms; 5s is far above any scheduling delay and
		// far below the hang without one (forever).
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("%s to a frozen endpoint succeeded", name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s to a frozen endpoint did not end within 5s", name)
		}
	}
	if st := d.Health(); !st.Degraded || st.Failures < 4 || st.LastError == "" {
		t.Fatalf("after failing calls for over a second: %+v", st)
	}
}

// frozenEndpoint listens on a local port, accepts connections and never
// answers: a frozen DynamoDB.
func frozenEndpoint(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestHurriedCallsDoNotJudgeTheStore: calls whose callers gave them less
// than judgeBudget and ran out of it say nothing about the store, however
// many; the same calls given the time they need do.
func TestHurriedCallsDoNotJudgeTheStore(t *testing.T) {
	addr := frozenEndpoint(t)
	d, err := NewDynamo(context.Background(), DynamoConfig{Table: "frozen", Endpoint: "http://" + addr,
		CallConfig: CallConfig{CallTimeout: 1500 * time.Millisecond, AttemptTimeout: 1200 * time.Millisecond, MaxAttempts: 1},
		Health:     HealthConfig{DegradeAfter: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	list := func(budget time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		if _, err := d.Presence().List(ctx, "l"); err == nil {
			t.Fatal("a call to a frozen endpoint succeeded")
		}
	}
	for range 5 {
		list(300 * time.Millisecond)
	}
	if st := d.Health(); st.Degraded || st.Failures != 0 {
		t.Fatalf("hurried callers' timeouts counted against the store: %+v", st)
	}
	for range 3 {
		list(judgeBudget + 500*time.Millisecond)
	}
	if st := d.Health(); !st.Degraded {
		t.Fatalf("calls given their time and failing for over a second did not turn the state: %+v", st)
	}
}

package firehose

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// lockedBuffer collects one node's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// TestDynamoRegistryCountsReaders: three nodes register in the table and
// each counts three readers; each warns once (not per heartbeat) that
// three exceed the advised two; a node that stops cleanly leaves the count
// at once.
func TestDynamoRegistryCountsReaders(t *testing.T) {
	_, start := newTable(t)
	ctx := context.Background()
	logs := map[string]*lockedBuffer{}
	nodes := map[string]*Dynamo{}
	for _, name := range []string{"a", "b", "c"} {
		logs[name] = &lockedBuffer{}
		nodes[name] = start(name, func(c *DynamoConfig) {
			c.Heartbeat = 200 * time.Millisecond
			c.Logger = zerolog.New(logs[name])
		})
		if _, err := nodes[name].Subscribe(ctx); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, d := range nodes {
			d.Close()
		}
	}()
	for name, d := range nodes {
		waitFor(t, "node "+name+" to count three readers", func() bool { return d.StreamStats().Readers == 3 })
	}
	time.Sleep(time.Second) // five more heartbeats
	const warning = "more nodes read the stream"
	for name, l := range logs {
		if n := l.count(warning); n != 1 {
			t.Errorf("node %s warned %d times that the readers exceed the advice, want once", name, n)
		}
	}
	nodes["c"].Close()
	delete(nodes, "c")
	for name, d := range nodes {
		waitFor(t, "node "+name+" to count two readers", func() bool { return d.StreamStats().Readers == 2 })
	}
}

package firehose

import (
	"context"
	"fmt"
	"testing"
)

// Batched heartbeats (more than one BatchWriteItem's 25) land on both
// firehoses: every session listed in its lot, read from the other node.
func TestHeartbeatsInBatches(t *testing.T) {
	for name, open := range viewsFirehoses {
		t.Run(name, func(t *testing.T) {
			a, b := open(t)
			ctx := context.Background()
			var beats []Heartbeat
			for i := 0; i < 60; i++ {
				beats = append(beats, Heartbeat{Lot: fmt.Sprint("HB", i%2),
					Present: Present{Session: fmt.Sprint("s", i), User: fmt.Sprint("u", i), Region: "eu-west-1", Node: "a"}})
			}
			hb, ok := a.Presence().(Heartbeater)
			if !ok {
				t.Fatalf("%s's presence does not batch heartbeats", name)
			}
			if err := hb.JoinAll(ctx, beats); err != nil {
				t.Fatal(err)
			}
			for _, lot := range []string{"HB0", "HB1"} {
				list, err := b.Presence().List(ctx, lot)
				if err != nil || len(list) != 30 {
					t.Fatalf("%s lists %d sessions (%v), want 30", lot, len(list), err)
				}
			}
		})
	}
}

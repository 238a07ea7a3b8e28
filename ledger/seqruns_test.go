package ledger

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestSeqRuns: MarkPublished's runs cover exactly the keys given, in any
// order and with repeats, one run per stretch of consecutive seqs of a lot.
func TestSeqRuns(t *testing.T) {
	a, b := uuid.UUID{1}, uuid.UUID{2}
	got := seqRuns([]EventKey{{b, 7}, {a, 3}, {a, 1}, {a, 2}, {b, 5}, {a, 2}, {a, 5}, {b, 6}})
	want := []seqRun{{a, 1, 3}, {a, 5, 5}, {b, 5, 7}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("runs %+v, want %+v", got, want)
	}
	if got := seqRuns(nil); len(got) != 0 {
		t.Fatalf("runs of nothing: %+v", got)
	}
}

// TestMarkPublishedRuns: marking a lot's events with a gap leaves the gap
// unpublished, and marking again changes nothing.
func TestMarkPublishedRuns(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.user("ann", 10_000)
	lot := l.lot(LotSpec{Kind: KindDrop, Title: "pins", Price: 10, Qty: 100})
	for range 5 {
		_, _, err := l.BuyDrop(ctx, l.as("ann"), lot, 1)
		mustOK(t, err)
	}
	// Events 1 (opened) to 6; mark all but 4.
	keys := []EventKey{{lot, 6}, {lot, 1}, {lot, 2}, {lot, 3}, {lot, 5}}
	mustOK(t, l.MarkPublished(ctx, keys))
	mustOK(t, l.MarkPublished(ctx, keys))
	l.clock.Advance(time.Hour)
	left, err := l.UnpublishedEvents(ctx, 0, 100)
	mustOK(t, err)
	var seqs []int64
	for _, ev := range left {
		if ev.Lot == lot {
			seqs = append(seqs, ev.Seq)
		}
	}
	if !reflect.DeepEqual(seqs, []int64{4}) {
		t.Fatalf("unpublished seqs %v, want [4]", seqs)
	}
}

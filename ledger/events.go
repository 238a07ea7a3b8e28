package ledger

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Event kinds the ledger emits. Each is written to the lot_events outbox in
// the same transaction as the change it reports.
const (
	EventOpened    = "opened"
	EventBid       = "bid"
	EventExtended  = "extended"
	EventPriceTick = "price_tick"
	EventClaimed   = "claimed"
	EventSold      = "sold"
	EventSoldOut   = "sold_out"
	EventClosed    = "closed"
	EventSettled   = "settled"
)

// Event is one lot event. Seq is per lot, starts at 1 and rises by exactly
// one per event, so a gap is detectable. Data is the kind's JSON payload.
// Wallets lists the users whose wallets the event's transaction changed, so
// the hub can push them a fresh wallet; Balances has those wallets as the
// transaction wrote them, on the events an operation returns (not on events
// read back from the outbox, which then need a wallet read).
type Event struct {
	Lot      uuid.UUID
	Seq      int64
	Kind     string
	At       time.Time
	Region   string
	Actor    string
	Data     json.RawMessage
	Wallets  []string
	Balances []Wallet
	// decoded is Data as the ledger encoded it, on the events an operation
	// returns: DecodeData answers from it (a hot lot's thousands of events
	// are not decoded back from JSON on the node that wrote them).
	decoded EventData
}

const eventColumns = `lot_id, seq, kind, at_ms, region, actor, data, wallets`

func joinUsers(users []string) string { return strings.Join(users, ",") }

func splitUsers(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func scanEvents(rows pgx.Rows) ([]Event, error) {
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var at int64
		var data, wallets string
		if err := rows.Scan(&ev.Lot, &ev.Seq, &ev.Kind, &at, &ev.Region, &ev.Actor, &data, &wallets); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		ev.At = time.UnixMilli(at).UTC()
		ev.Data = json.RawMessage(data)
		ev.Wallets = splitUsers(wallets)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// EventsSince returns a lot's events with seq > since in order, at most
// limit of them: what a client that reconnects with `since` missed.
func (l *Ledger) EventsSince(ctx context.Context, lot uuid.UUID, since int64, limit int) ([]Event, error) {
	rows, err := l.pool.Query(ctx, `SELECT `+eventColumns+` FROM lot_events
WHERE lot_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, lot, since, limit)
	if err != nil {
		return nil, fmt.Errorf("events since: %w", err)
	}
	return scanEvents(rows)
}

// UnpublishedEvents returns outbox events older than minAge that were never
// marked published: what a crashed node committed but did not publish. The
// relay on any node publishes them (idempotently, by lot and seq) and then
// calls MarkPublished.
func (l *Ledger) UnpublishedEvents(ctx context.Context, minAge time.Duration, limit int) ([]Event, error) {
	cutoff := l.now().Add(-minAge).UnixMilli()
	rows, err := l.pool.Query(ctx, `SELECT `+eventColumns+` FROM lot_events
WHERE published = false AND at_ms <= $1 ORDER BY at_ms, lot_id, seq LIMIT $2`, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("unpublished events: %w", err)
	}
	return scanEvents(rows)
}

// EventKey names one event.
type EventKey struct {
	Lot uuid.UUID
	Seq int64
}

// markChunk keeps each MarkPublished transaction below DSQL's
// 3,000-modified-rows limit.
const markChunk = 2_000

// MarkPublished records that events reached the firehose. It is idempotent
// and chunked into transactions of at most markChunk rows; each run of
// consecutive seqs of a lot is one statement (a batch's events are one run).
func (l *Ledger) MarkPublished(ctx context.Context, keys []EventKey) error {
	for len(keys) > 0 {
		n := min(len(keys), markChunk)
		chunk := keys[:n]
		keys = keys[n:]
		err := l.run(ctx, func(ctx context.Context, tx pgx.Tx) error {
			var b pgx.Batch
			for _, r := range seqRuns(chunk) {
				b.Queue(`UPDATE lot_events SET published = true WHERE lot_id = $1 AND seq >= $2 AND seq <= $3 AND published = false`, r.lot, r.from, r.to)
			}
			return tx.SendBatch(ctx, &b).Close()
		})
		if err != nil {
			return fmt.Errorf("mark published: %w", err)
		}
	}
	return nil
}

// seqRun is the events from seq from to seq to of a lot, both included.
type seqRun struct {
	lot      uuid.UUID
	from, to int64
}

// seqRuns covers exactly keys (in any order, repeats allowed) with runs of
// consecutive seqs.
func seqRuns(keys []EventKey) []seqRun {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, func(a, b EventKey) int {
		if c := bytes.Compare(a.Lot[:], b.Lot[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	var runs []seqRun
	for _, k := range sorted {
		if n := len(runs); n > 0 && runs[n-1].lot == k.Lot && k.Seq <= runs[n-1].to+1 {
			runs[n-1].to = max(runs[n-1].to, k.Seq)
			continue
		}
		runs = append(runs, seqRun{k.Lot, k.Seq, k.Seq})
	}
	return runs
}

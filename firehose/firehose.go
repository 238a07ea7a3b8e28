// Package firehose is LotZero's eventually consistent social stream: it
// relays committed ledger events to every server node and carries chat,
// reactions and presence. It has two implementations behind one small
// interface — in process (Memory, the default) and DynamoDB with Streams —
// that deliver the same messages and keep the same views (views.go):
// leaderboards, a global activity feed, reaction totals, chat history.
package firehose

import (
	"context"
	"encoding/json"
	"time"
)

// DefaultPresenceTTL is how long a presence entry lives without a
// heartbeat when the configuration leaves it zero.
const DefaultPresenceTTL = 30 * time.Second

// Message kinds.
const (
	KindLedger   = "ledger"   // a committed ledger event, relayed from the outbox
	KindChat     = "chat"     // a chat line
	KindReaction = "reaction" // an emoji reaction
	KindPresence = "presence" // a user joined or left a lot's room
)

// Message is one item on the firehose.
//
// Ledger messages are keyed by (Lot, Seq) and publishing one twice is a
// no-op. Social messages are keyed by ID; the firehose assigns their Seq,
// a per-lot social sequence separate from the ledger's.
//
// Data is the event's payload, opaque here: the firehose stores and relays
// the bytes and never decodes them. What its own derived views need from a
// message the publisher states in Tally.
type Message struct {
	Kind  string    `json:"kind"`
	ID    string    `json:"id,omitempty"`
	Lot   string    `json:"lot"`
	Seq   int64     `json:"seq"`
	Event string    `json:"event"` // the event kind on the wire: bid, chat, presence, ...
	At    time.Time `json:"at"`
	// AsOf is when what Data states was read by its publisher (a presence
	// announcement's count), when that is earlier than At: a reader keeps
	// the newest of such facts. Zero: At. Not on the wire to clients.
	AsOf    time.Time       `json:"as_of,omitzero"`
	Region  string          `json:"region"`
	Actor   string          `json:"actor,omitempty"`
	Data    json.RawMessage `json:"data"`
	Wallets []string        `json:"wallets,omitempty"` // users whose wallets the ledger event changed
	// Balances are those wallets as the event's transaction wrote them,
	// opaque here like Data: every node pushes them to the owners'
	// sessions without a ledger read. Empty for events the outbox relay
	// publishes (their nodes read the wallets instead).
	Balances json.RawMessage `json:"balances,omitempty"`
	Tally    *Tally          `json:"tally,omitempty"`
	// Unlisted is set by whoever records a ledger message of an unlisted
	// lot (the proof's): Record then adds it to that lot's own board only,
	// never to the overall board or the feed. Not carried on the stream.
	Unlisted bool `json:"-"`
}

// Tally is what a message adds to the derived views (leaderboards and
// reaction counts), stated by the publisher or, for a relayed message, by
// whoever records it (Views.Record): it is not relayed to other nodes,
// which read it again from the typed payload. Nil means it adds nothing.
type Tally struct {
	User  string `json:"user"`            // the bidder, buyer or reacting user
	Bid   int64  `json:"bid,omitempty"`   // a bid's amount: the bidders board keeps each user's highest
	Units int64  `json:"units,omitempty"` // units bought: the buyers board adds them up
	Spent int64  `json:"spent,omitempty"` // money spent on those units: the buyers board adds it up
	Emoji string `json:"emoji,omitempty"` // a reaction's emoji: the lot's count for it rises by one
}

// Firehose publishes messages and delivers every message to every
// subscriber on every node.
type Firehose interface {
	// Name is "memory" or "dynamodb".
	Name() string
	// Publish stores and relays m. It is idempotent: by (Lot, Seq) for
	// ledger messages, by ID for social ones.
	Publish(ctx context.Context, m Message) error
	// Subscribe delivers every message published from now on, on this node
	// and others, until ctx ends. Delivery is at least once: subscribers
	// drop duplicates (ledger messages by seq).
	Subscribe(ctx context.Context) (<-chan Message, error)
	// Presence tracks who is in each lot's room.
	Presence() Presence
	// Views are the read models derived from the messages.
	Views() Views
	// Ready reports whether the firehose is usable now.
	Ready(ctx context.Context) error
	// Close releases the firehose.
	Close() error
}

// Presence tracks sessions present in lots' rooms. A session heartbeats by
// calling Join again (or a node for all its sessions at once, by
// Heartbeater); entries not refreshed within the TTL expire.
type Presence interface {
	Join(ctx context.Context, lot string, p Present) error
	Leave(ctx context.Context, lot, session string) error
	List(ctx context.Context, lot string) ([]Present, error)
}

// Present is one session in a lot's room.
type Present struct {
	Session string    `json:"session"`
	User    string    `json:"user"`
	Region  string    `json:"region"`
	Node    string    `json:"node"`
	Expires time.Time `json:"expires"`
}

// Users reduces sessions to one entry per user, sorted by user.
func Users(ps []Present) []Present {
	seen := map[string]bool{}
	var out []Present
	for _, p := range ps {
		if !seen[p.User] {
			seen[p.User] = true
			out = append(out, p)
		}
	}
	sortByUser(out)
	return out
}

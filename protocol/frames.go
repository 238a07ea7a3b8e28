package protocol

import (
	"encoding/json"
	"time"
)

// Hello is the client's first frame.
type Hello struct {
	Type   string `json:"type"` // "hello"
	Token  string `json:"token"`
	Region string `json:"region"`
	// Batch asks for batch frames (an extension of v1): a busy room's
	// chat, reactions and presence then come coalesced, several events a
	// frame, with counts of the lines not shown. Without it they come one
	// event frame each, as in v1.
	Batch bool `json:"batch,omitempty"`
}

// Welcome answers a valid hello.
type Welcome struct {
	Type    string     `json:"type"` // "welcome"
	Session string     `json:"session"`
	User    string     `json:"user"`
	Roles   []string   `json:"roles"`
	Region  string     `json:"region"`
	Server  ServerInfo `json:"server"`
	Wallet  Wallet     `json:"wallet"`
}

// ServerInfo names the node and the backends serving the session.
type ServerInfo struct {
	Node     string `json:"node"`
	Ledger   string `json:"ledger"`   // embedded-postgres | postgres | aurora-dsql
	Firehose string `json:"firehose"` // memory | dynamodb
	// ChatBudget is the chat lines per second a room shows (per node);
	// lines over it are counted, not broadcast (an extension of v1).
	ChatBudget float64 `json:"chat_budget,omitempty"`
}

// Wallet is a user's balances; Available = Funded + Earned - Held - Spent.
type Wallet struct {
	Funded    int64 `json:"funded"`
	Held      int64 `json:"held"`
	Spent     int64 `json:"spent"`
	Earned    int64 `json:"earned"`
	Available int64 `json:"available"`
	// Version rises with every change to the wallet: of two wallet frames,
	// show the higher version (an extension of v1; absent from servers
	// that do not send it).
	Version int64 `json:"version,omitempty"`
	// Extensions of v1 for money leaving the platform, present only when
	// not zero: Owed is what refunds and disputes took back that the wallet
	// could not cover; Frozen (owed > 0) means bids, purchases and payouts
	// are refused (forbidden) until it is covered; PayoutPending is the
	// part of Held that requested payouts hold.
	Owed          int64 `json:"owed,omitempty"`
	Frozen        bool  `json:"frozen,omitempty"`
	PayoutPending int64 `json:"payout_pending,omitempty"`
}

// Request is every client request after hello. Type says which fields apply
// (see Validate); ID is the client's request id and idempotency key.
type Request struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	Lot      string `json:"lot,omitempty"`
	Since    *int64 `json:"since,omitempty"`
	Amount   int64  `json:"amount,omitempty"`
	Max      int64  `json:"max,omitempty"`
	Qty      int64  `json:"qty,omitempty"`
	MaxPrice int64  `json:"max_price,omitempty"`
	Text     string `json:"text,omitempty"`
	Emoji    string `json:"emoji,omitempty"`
	// Step is tick's optional step index the host saw: the tick is then a
	// no-op if the lot already moved past it (an extension of v1).
	Step *int64 `json:"step,omitempty"`
}

// Reply answers one request.
type Reply struct {
	Type   string          `json:"type"` // "reply"
	Re     string          `json:"re"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Error is the body of a failed reply or HTTP response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMS, on rate_limited, is how long to wait before the same
	// request (same id) would be let through (an extension of v1).
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an Error.
func Errorf(code, message string) *Error { return &Error{Code: code, Message: message} }

// Event is a lot event. Ledger events (bid, price_tick, claimed, sold,
// sold_out, extended, opened, closed, settled) carry Seq, rising by exactly
// one per lot. Social events (chat, reaction, presence) carry SocialSeq, their
// own per-lot sequence, and no Seq: they are not replayed by join since.
type Event struct {
	Type      string          `json:"type"` // "event"
	Lot       string          `json:"lot"`
	Seq       int64           `json:"seq,omitempty"`
	SocialSeq int64           `json:"social_seq,omitempty"`
	Kind      string          `json:"kind"`
	At        string          `json:"at"`
	Region    string          `json:"region"`
	Data      json.RawMessage `json:"data"`
}

// Batch carries a busy room's social events — chat, reactions, presence —
// coalesced over a short interval: each element of Events is exactly the
// event frame v1 sends alone, in social_seq order as they reached the
// room. Suppressed counts what the room did not show since the last batch
// (chat lines over the room's budget, reactions over its share), by kind;
// it is absent when nothing was. Sent only to sessions whose hello asked
// for it (an extension of v1).
type Batch struct {
	Type       string            `json:"type"` // "batch"
	Lot        string            `json:"lot"`
	Events     []json.RawMessage `json:"events"`
	Suppressed map[string]int    `json:"suppressed,omitempty"`
}

// ChatResult is a chat reply's result: whether the line was broadcast to
// the room, or only counted as suppressed because the room's chat was over
// its budget (an extension of v1, whose result was {}).
type ChatResult struct {
	Broadcast bool `json:"broadcast"`
}

// Outbid tells a user their high bid was beaten and its hold released.
type Outbid struct {
	Type     string `json:"type"` // "outbid"
	Lot      string `json:"lot"`
	Amount   int64  `json:"amount"`
	ByRegion string `json:"by_region"`
}

// WalletMsg carries a user's wallet after a change to it.
type WalletMsg struct {
	Type   string `json:"type"` // "wallet"
	Wallet Wallet `json:"wallet"`
}

// JoinResult is the result of join.
type JoinResult struct {
	Lot      Lot        `json:"lot"`
	Seq      int64      `json:"seq"`
	Resync   bool       `json:"resync,omitempty"`
	Replayed int        `json:"replayed"`
	Presence []Presence `json:"presence"`
	// Reactions are the lot's reaction totals by emoji (an extension of
	// v1; reactions frames keep them current). The room's last chat lines
	// (up to 50) follow the reply as chat events, oldest first.
	Reactions map[string]int64 `json:"reactions"`
}

// Presence is one user present in a lot's room.
type Presence struct {
	User   string `json:"user"`
	Region string `json:"region"`
}

// BidResult, PurchaseResult and TickResult are the results of bid,
// claim/buy and tick.
type BidResult struct {
	Amount int64 `json:"amount"`
	High   bool  `json:"high"`
	Seq    int64 `json:"seq"`
}

type PurchaseResult struct {
	Price int64 `json:"price"`
	Qty   int64 `json:"qty"`
	Seq   int64 `json:"seq"`
}

type TickResult struct {
	Price int64 `json:"price"`
	Step  int64 `json:"step"`
	Seq   int64 `json:"seq"`
}

// SeqResult is the result of open and close: the seq of the lot's last
// event.
type SeqResult struct {
	Seq int64 `json:"seq"`
}

// Time renders a time as the contract's RFC 3339 UTC with milliseconds.
func Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

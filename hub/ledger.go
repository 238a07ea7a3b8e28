package hub

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
)

// Ledger is what the hub asks of the money core (*ledger.Ledger), in the
// roles it plays. Rooms need only LotReader, which is what their unit tests
// fake.
type Ledger interface {
	LotReader
	Money
	Outbox
	Schedule
	Payments
	// Wallet, Entries, EnsureUser and Deposit serve the wallet and session
	// endpoints.
	Wallet(ctx context.Context, user string) (ledger.Wallet, error)
	Entries(ctx context.Context, user string, limit int) ([]ledger.Entry, error)
	EnsureUser(ctx context.Context, user, region string, balance int64) (bool, error)
	Deposit(ctx context.Context, a ledger.Actor, amount int64) (ledger.Wallet, error)
	// Credit is an operator's credit to a wallet, idempotent by ref.
	Credit(ctx context.Context, operator ledger.Actor, user string, amount int64, ref string, create bool) (ledger.CreditResult, error)
	// TopUp credits a card payment the payment provider confirmed, once per payment.
	TopUp(ctx context.Context, user string, amount int64, payment, region string) (ledger.CreditResult, error)
	LobbyLots(ctx context.Context, openLimit, recentLimit int) (open, recent []*ledger.Lot, err error)
	// Unlisted reports whether a lot is kept out of the lobby and the overall views.
	Unlisted(ctx context.Context, lot uuid.UUID) (bool, error)
	// Activity is a user's part in the lots they touched lately (GET /api/me/activity).
	Activity(ctx context.Context, user string, limit int) ([]ledger.LotActivity, error)
	Audit(ctx context.Context) ([]ledger.Violation, error)
	Backend() ledger.Backend
	Stats() ledger.Stats
	DemoBalance() int64
	Ping(ctx context.Context) error
	// PruneRequests forgets idempotency records older than retention.
	PruneRequests(ctx context.Context, retention time.Duration) (int, error)
}

// LotReader reads a lot and its events: a room's snapshot, gap fills and
// the replay of a join with since.
type LotReader interface {
	Lot(ctx context.Context, id uuid.UUID) (*ledger.Lot, error)
	EventsSince(ctx context.Context, lot uuid.UUID, since int64, limit int) ([]ledger.Event, error)
}

// Money is the commands that move money or change lots; each returns the
// events it committed.
type Money interface {
	PlaceBid(ctx context.Context, a ledger.Actor, lot uuid.UUID, amount, maxBid int64) (ledger.BidResult, []ledger.Event, error)
	ClaimDutch(ctx context.Context, a ledger.Actor, lot uuid.UUID, qty, maxPrice int64) (ledger.PurchaseResult, []ledger.Event, error)
	BuyDrop(ctx context.Context, a ledger.Actor, lot uuid.UUID, qty int64) (ledger.PurchaseResult, []ledger.Event, error)
	TickDutch(ctx context.Context, a ledger.Actor, lot uuid.UUID, fromStep int64) (ledger.TickResult, []ledger.Event, error)
	OpenLot(ctx context.Context, a ledger.Actor, lot uuid.UUID) (ledger.LotResult, []ledger.Event, error)
	CloseLot(ctx context.Context, a ledger.Actor, lot uuid.UUID) (ledger.LotResult, []ledger.Event, error)
	CreateLot(ctx context.Context, a ledger.Actor, spec ledger.LotSpec) (ledger.LotResult, []ledger.Event, error)
}

// Outbox is the relay's view: committed events no node published.
type Outbox interface {
	UnpublishedEvents(ctx context.Context, minAge time.Duration, limit int) ([]ledger.Event, error)
	MarkPublished(ctx context.Context, keys []ledger.EventKey) error
}

// Schedule is the ticker's and closer's view: due Dutch steps and ended
// English lots, each advanced or settled once whichever node gets there.
type Schedule interface {
	DueTicks(ctx context.Context, limit int) ([]ledger.DueTick, error)
	AdvanceDutch(ctx context.Context, lot uuid.UUID, fromStep int64, region string) (ledger.TickResult, []ledger.Event, error)
	DueLots(ctx context.Context, limit int) ([]uuid.UUID, error)
	SettleDue(ctx context.Context, lot uuid.UUID, region string) ([]ledger.Event, error)
}

var _ Ledger = (*ledger.Ledger)(nil)

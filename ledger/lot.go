package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Lot kinds (mechanics) and statuses.
const (
	KindEnglish = "english"
	KindDutch   = "dutch"
	KindDrop    = "drop"

	StatusScheduled = "scheduled"
	StatusOpen      = "open"
	StatusClosed    = "closed"
	StatusSettled   = "settled"

	// FloorClose ends a Dutch lot, unsold units and all, at the first
	// scheduled step after its price reached the floor; FloorHold keeps it
	// open at the floor until it sells out or its host closes it.
	FloorClose = "close"
	FloorHold  = "hold"
)

// Lot is one lot's stored state. Times are Unix milliseconds; 0 means unset.
// Reserve and HighMax are hidden from bidders: snapshots must not show them.
type Lot struct {
	ID          uuid.UUID
	Kind        string
	Title       string
	Host        string
	Status      string
	Seq         int64 // last event seq
	Version     int64 // bumped by every write; the OCC guard of saveLot
	Region      string
	CreatedAtMS int64
	OpenedAtMS  int64
	ClosedAtMS  int64

	// English.
	StartPrice   int64
	Reserve      int64
	HighBid      int64
	HighBidder   string
	HighMax      int64 // the high bidder's proxy maximum, which is what is held
	HighRegion   string
	BidCount     int64
	DurationS    int64
	ExtensionS   int64
	HardEndS     int64
	EndsAtMS     int64
	HardEndAtMS  int64
	Price        int64 // Dutch: current price; drop: the fixed price; English: final price once settled
	Step         int64 // Dutch: price decrement per step
	FloorPrice   int64
	IntervalMS   int64
	StepIndex    int64
	NextTickAtMS int64 // 0 = no scheduled tick
	FloorAction  string
	QtyTotal     int64
	QtyClaimed   int64
	PerUserLimit int64 // 0 = none
	Proceeds     int64 // owed to the host; credited exactly once at settlement
	Winner       string
}

// Remaining is the number of units still for sale.
func (l *Lot) Remaining() int64 { return l.QtyTotal - l.QtyClaimed }

// MinNextBid is the smallest bid an English lot accepts now from anyone
// but its high bidder: the start price, or the high bid plus the increment.
func (l *Lot) MinNextBid() int64 {
	if l.HighBidder == "" {
		return l.StartPrice
	}
	return nextBid(l.HighBid)
}

// ReserveMet reports whether the high bid reached the hidden reserve.
func (l *Lot) ReserveMet() bool { return l.HighBidder != "" && l.HighBid >= l.Reserve }

const lotColumns = `id, kind, title, host, status, seq, version, region, created_at_ms, opened_at_ms, closed_at_ms,
	start_price, reserve, high_bid, high_bidder, high_max, high_region, bid_count, duration_s, extension_s, hard_end_s,
	ends_at_ms, hard_end_at_ms, price, step, floor_price, interval_ms, step_index, next_tick_at_ms, floor_action,
	qty_total, qty_claimed, per_user_limit, proceeds, winner`

func (l *Lot) fields() []any {
	return []any{&l.ID, &l.Kind, &l.Title, &l.Host, &l.Status, &l.Seq, &l.Version, &l.Region, &l.CreatedAtMS,
		&l.OpenedAtMS, &l.ClosedAtMS, &l.StartPrice, &l.Reserve, &l.HighBid, &l.HighBidder, &l.HighMax,
		&l.HighRegion, &l.BidCount, &l.DurationS, &l.ExtensionS, &l.HardEndS, &l.EndsAtMS, &l.HardEndAtMS,
		&l.Price, &l.Step, &l.FloorPrice, &l.IntervalMS, &l.StepIndex, &l.NextTickAtMS, &l.FloorAction,
		&l.QtyTotal, &l.QtyClaimed, &l.PerUserLimit, &l.Proceeds, &l.Winner}
}

const insertLotSQL = `INSERT INTO lots (` + lotColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
	$12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35)`

// saveLotSQL writes every mutable column, guarded by the version read: the
// lot row is written by every operation that depends on it, which is what
// makes concurrent bids, claims and ticks conflict under OCC.
const saveLotSQL = `UPDATE lots SET status = $3, seq = $4, version = version + 1, opened_at_ms = $5, closed_at_ms = $6,
	high_bid = $7, high_bidder = $8, high_max = $9, high_region = $10, bid_count = $11, ends_at_ms = $12,
	hard_end_at_ms = $13, price = $14, step_index = $15, next_tick_at_ms = $16, qty_claimed = $17, proceeds = $18,
	winner = $19
WHERE id = $1 AND version = $2 AND qty_claimed <= qty_total AND $17 <= qty_total`

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readLot(ctx context.Context, q querier, id uuid.UUID) (*Lot, error) {
	var l Lot
	err := q.QueryRow(ctx, `SELECT `+lotColumns+` FROM lots WHERE id = $1`, id).Scan(l.fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errorf(CodeNotFound, "no lot %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read lot %s: %w", id, err)
	}
	return &l, nil
}

// lot reads a lot and checks its kind.
func (t *txn) lot(ctx context.Context, id uuid.UUID, kind string) (*Lot, error) {
	l, err := t.loadLot(ctx, id)
	if err != nil {
		return nil, err
	}
	if kind != "" && l.Kind != kind {
		return nil, errorf(CodeBadRequest, "lot %s is a %s lot, not %s", id, l.Kind, kind)
	}
	return l, nil
}

// requireOpen refuses operations on lots that are not open for trading.
func requireOpen(l *Lot) error {
	switch l.Status {
	case StatusOpen:
		return nil
	case StatusScheduled:
		return errorf(CodeLotNotOpen, "lot %s has not opened yet", l.ID)
	default:
		return errorf(CodeLotClosed, "lot %s is %s", l.ID, l.Status)
	}
}

// Lot returns one lot's current state.
func (l *Ledger) Lot(ctx context.Context, id uuid.UUID) (*Lot, error) {
	var lot *Lot
	err := l.read(ctx, func() (err error) { lot, err = readLot(ctx, l.pool, id); return err })
	return lot, err
}

// Lots returns every lot, newest first, at most limit.
func (l *Ledger) Lots(ctx context.Context, limit int) ([]*Lot, error) {
	return l.queryLots(ctx, `SELECT `+lotColumns+` FROM lots ORDER BY created_at_ms DESC, id LIMIT $1`, limit)
}

// LobbyLots is what the lobby lists: every listed lot that is open or
// scheduled (oldest first, so lots that have been there longest — the
// demo's among them — are never pushed out by new ones), up to openLimit,
// and the recentLimit listed lots that closed last.
func (l *Ledger) LobbyLots(ctx context.Context, openLimit, recentLimit int) (open, recent []*Lot, err error) {
	const listed = ` NOT EXISTS (SELECT 1 FROM unlisted_lots u WHERE u.lot_id = lots.id)`
	if open, err = l.queryLots(ctx, `SELECT `+lotColumns+` FROM lots WHERE status IN ('scheduled', 'open') AND`+listed+`
ORDER BY created_at_ms, id LIMIT $1`, openLimit); err != nil {
		return nil, nil, err
	}
	if recent, err = l.queryLots(ctx, `SELECT `+lotColumns+` FROM lots WHERE status IN ('closed', 'settled') AND`+listed+`
ORDER BY closed_at_ms DESC, id LIMIT $1`, recentLimit); err != nil {
		return nil, nil, err
	}
	return open, recent, nil
}

// Unlisted reports whether a lot was created unlisted (the proof's lots):
// the hub keeps such lots out of the overall leaderboards and the feed. It
// never changes after the lot's creation, so callers may cache it.
func (l *Ledger) Unlisted(ctx context.Context, lot uuid.UUID) (bool, error) {
	var unlisted bool
	err := l.read(ctx, func() error {
		return l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM unlisted_lots WHERE lot_id = $1)`, lot).Scan(&unlisted)
	})
	if err != nil {
		return false, fmt.Errorf("read unlisted %s: %w", lot, err)
	}
	return unlisted, nil
}

func (l *Ledger) queryLots(ctx context.Context, sql string, args ...any) ([]*Lot, error) {
	rows, err := l.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list lots: %w", err)
	}
	defer rows.Close()
	var out []*Lot
	for rows.Next() {
		var lot Lot
		if err := rows.Scan(lot.fields()...); err != nil {
			return nil, fmt.Errorf("scan lot: %w", err)
		}
		out = append(out, &lot)
	}
	return out, rows.Err()
}

// LotSpec is what a host asks for when creating a lot: the shapes of the
// contract's POST /api/lots. Fields that do not apply to Kind must be zero.
type LotSpec struct {
	ID    uuid.UUID // optional; zero means a new random id (seeding uses fixed ids)
	Kind  string
	Title string
	// Scheduled creates the lot closed to trading until its host opens it.
	Scheduled bool

	StartPrice int64 // english, dutch
	Reserve    int64 // english, optional hidden reserve
	DurationS  int64 // english: seconds from opening to the end
	ExtensionS int64 // english: soft-close window; 0 means 30
	HardEndS   int64 // english: optional cap on extensions, seconds from opening

	FloorPrice  int64  // dutch
	Step        int64  // dutch: price decrement per step
	IntervalMS  int64  // dutch: time between scheduled steps
	FloorAction string // dutch: "close" (default) or "hold"

	Price        int64 // drop
	Qty          int64 // dutch, drop (english lots are one unit)
	PerUserLimit int64 // drop, optional

	// Unlisted keeps the lot out of the lobby (the proof's lots): it
	// trades as any other, and is reached by its id.
	Unlisted bool
}

// Limits on lot parameters, documented in ledger/README.md.
const (
	maxTitle      = 200
	maxDurationS  = 30 * 24 * 3600
	maxExtensionS = 3600
	defaultExtS   = 30
	minIntervalMS = 100
	maxIntervalMS = 3_600_000
	// maxDutchSteps bounds a Dutch lot's scheduled steps, ceil((start −
	// floor) / step), and its run, steps × interval, is at most
	// maxDurationS: every step is an event row, so one host cannot make a
	// lot that writes events for ever (a step of 1 from 2^53 would).
	maxDutchSteps = 10_000
)

func (s *LotSpec) validate() error {
	s.Title = strings.TrimSpace(s.Title)
	if n := utf8.RuneCountInString(s.Title); n < 1 || n > maxTitle || !utf8.ValidString(s.Title) {
		return errorf(CodeBadRequest, "title must be 1..%d characters", maxTitle)
	}
	switch s.Kind {
	case KindEnglish:
		return s.validateEnglish()
	case KindDutch:
		return s.validateDutch()
	case KindDrop:
		return s.validateDrop()
	}
	return errorf(CodeBadRequest, "kind must be english, dutch or drop")
}

func mustBeZero(kind string, fields map[string]int64) error {
	for name, v := range fields {
		if v != 0 {
			return errorf(CodeBadRequest, "%s does not apply to %s lots", name, kind)
		}
	}
	return nil
}

func (s *LotSpec) validateEnglish() error {
	if err := validAmount("start_price", s.StartPrice); err != nil {
		return err
	}
	if s.Reserve < 0 || s.Reserve > MaxAmount {
		return errorf(CodeBadRequest, "reserve must be between 0 and %d", MaxAmount)
	}
	if s.DurationS < 1 || s.DurationS > maxDurationS {
		return errorf(CodeBadRequest, "duration_s must be between 1 and %d", maxDurationS)
	}
	if s.ExtensionS == 0 {
		s.ExtensionS = defaultExtS
	}
	if s.ExtensionS < 0 || s.ExtensionS > maxExtensionS {
		return errorf(CodeBadRequest, "extension_s must be between 1 and %d", maxExtensionS)
	}
	if s.HardEndS != 0 && (s.HardEndS < s.DurationS || s.HardEndS > maxDurationS) {
		return errorf(CodeBadRequest, "hard_end_s must be at least duration_s and at most %d", maxDurationS)
	}
	if s.FloorAction != "" {
		return errorf(CodeBadRequest, "floor_action does not apply to english lots")
	}
	return mustBeZero(KindEnglish, map[string]int64{"floor_price": s.FloorPrice, "step": s.Step,
		"interval_ms": s.IntervalMS, "price": s.Price, "qty": s.Qty, "per_user_limit": s.PerUserLimit})
}

func (s *LotSpec) validateDutch() error {
	if err := validAmount("start_price", s.StartPrice); err != nil {
		return err
	}
	if err := validAmount("floor_price", s.FloorPrice); err != nil {
		return err
	}
	if s.FloorPrice >= s.StartPrice {
		return errorf(CodeBadRequest, "floor_price must be below start_price")
	}
	if err := validAmount("step", s.Step); err != nil {
		return err
	}
	if s.IntervalMS < minIntervalMS || s.IntervalMS > maxIntervalMS {
		return errorf(CodeBadRequest, "interval_ms must be between %d and %d", minIntervalMS, maxIntervalMS)
	}
	steps := (s.StartPrice - s.FloorPrice + s.Step - 1) / s.Step
	if steps > maxDutchSteps {
		return errorf(CodeBadRequest, "the price must reach floor_price in at most %d steps (this one takes %d): raise step", maxDutchSteps, steps)
	}
	if steps*s.IntervalMS > maxDurationS*1000 {
		return errorf(CodeBadRequest, "the price must reach floor_price within %d s (steps × interval_ms): shorten interval_ms", maxDurationS)
	}
	if s.Qty < 1 || s.Qty > MaxQty {
		return errorf(CodeBadRequest, "qty must be between 1 and %d", MaxQty)
	}
	if s.FloorAction == "" {
		s.FloorAction = FloorClose
	}
	if s.FloorAction != FloorClose && s.FloorAction != FloorHold {
		return errorf(CodeBadRequest, "floor_action must be close or hold")
	}
	return mustBeZero(KindDutch, map[string]int64{"reserve": s.Reserve, "duration_s": s.DurationS,
		"extension_s": s.ExtensionS, "hard_end_s": s.HardEndS, "price": s.Price, "per_user_limit": s.PerUserLimit})
}

func (s *LotSpec) validateDrop() error {
	if err := validAmount("price", s.Price); err != nil {
		return err
	}
	if s.Qty < 1 || s.Qty > MaxQty {
		return errorf(CodeBadRequest, "qty must be between 1 and %d", MaxQty)
	}
	if s.PerUserLimit < 0 || s.PerUserLimit > s.Qty {
		return errorf(CodeBadRequest, "per_user_limit must be between 0 (none) and qty")
	}
	if s.FloorAction != "" {
		return errorf(CodeBadRequest, "floor_action does not apply to drop lots")
	}
	return mustBeZero(KindDrop, map[string]int64{"start_price": s.StartPrice, "reserve": s.Reserve,
		"duration_s": s.DurationS, "extension_s": s.ExtensionS, "hard_end_s": s.HardEndS,
		"floor_price": s.FloorPrice, "step": s.Step, "interval_ms": s.IntervalMS})
}

// LotResult is the outcome of CreateLot, OpenLot and CloseLot.
type LotResult struct {
	Lot uuid.UUID `json:"lot"`
	Seq int64     `json:"seq"`
}

// CreateLot creates a lot hosted by the actor, open now unless
// spec.Scheduled. The host must be a known user (their wallet receives the
// proceeds).
func (l *Ledger) CreateLot(ctx context.Context, a Actor, spec LotSpec) (LotResult, []Event, error) {
	var res LotResult
	if err := spec.validate(); err != nil {
		return res, nil, err
	}
	op := fmt.Sprintf("create_lot %+v", spec)
	id := spec.ID
	if id == uuid.Nil {
		id = uuid.New()
	}
	events, err := l.do(ctx, a, op, uuid.Nil, &res, func(ctx context.Context, t *txn) error {
		if _, err := t.wallet(ctx, a.User); err != nil {
			return err
		}
		lot := &Lot{
			ID: id, Kind: spec.Kind, Title: spec.Title, Host: a.User, Status: StatusScheduled,
			Region: a.Region, CreatedAtMS: t.nowMS(), StartPrice: spec.StartPrice, Reserve: spec.Reserve,
			DurationS: spec.DurationS, ExtensionS: spec.ExtensionS, HardEndS: spec.HardEndS,
			Step: spec.Step, FloorPrice: spec.FloorPrice, IntervalMS: spec.IntervalMS, FloorAction: spec.FloorAction,
			QtyTotal: spec.Qty, PerUserLimit: spec.PerUserLimit,
		}
		switch spec.Kind {
		case KindEnglish:
			lot.QtyTotal = 1
		case KindDutch:
			lot.Price = spec.StartPrice
		case KindDrop:
			lot.Price = spec.Price
		}
		if !spec.Scheduled {
			if err := t.open(lot); err != nil {
				return err
			}
		}
		// The row is inserted already in its final state, so no saveLot.
		t.write(insertLotSQL, lot.fields()...)
		if spec.Unlisted {
			t.write(`INSERT INTO unlisted_lots (lot_id, at_ms) VALUES ($1, $2)`, lot.ID, t.nowMS())
		}
		res = LotResult{Lot: lot.ID, Seq: lot.Seq}
		return nil
	})
	return res, events, err
}

// open moves a scheduled lot to open, starting its clocks, and emits opened.
func (t *txn) open(lot *Lot) error {
	lot.Status = StatusOpen
	lot.OpenedAtMS = t.nowMS()
	data := OpenedData{Status: StatusOpen}
	switch lot.Kind {
	case KindEnglish:
		lot.EndsAtMS = lot.OpenedAtMS + lot.DurationS*1000
		if lot.HardEndS > 0 {
			lot.HardEndAtMS = lot.OpenedAtMS + lot.HardEndS*1000
		}
		data.EndsAt = msTime(lot.EndsAtMS)
		data.StartPrice = lot.StartPrice
	case KindDutch:
		lot.NextTickAtMS = lot.OpenedAtMS + lot.IntervalMS
		data.Price = lot.Price
		data.NextTickAt = msTime(lot.NextTickAtMS)
	case KindDrop:
		data.Price = lot.Price
		data.QtyTotal = lot.QtyTotal
	}
	return t.emit(lot, data)
}

// OpenLot opens a scheduled lot; only its host may. Opening an open lot is
// a no-op.
func (l *Ledger) OpenLot(ctx context.Context, a Actor, id uuid.UUID) (LotResult, []Event, error) {
	var res LotResult
	events, err := l.do(ctx, a, "open lot="+id.String(), id, &res, func(ctx context.Context, t *txn) error {
		lot, err := t.lot(ctx, id, "")
		if err != nil {
			return err
		}
		if lot.Host != a.User {
			return errorf(CodeForbidden, "only the lot's host may open it")
		}
		res = LotResult{Lot: lot.ID, Seq: lot.Seq}
		switch lot.Status {
		case StatusOpen:
			return nil
		case StatusClosed, StatusSettled:
			return errorf(CodeLotClosed, "lot %s is %s", lot.ID, lot.Status)
		}
		if err := t.open(lot); err != nil {
			return err
		}
		t.saveLot(lot)
		res.Seq = lot.Seq
		return nil
	})
	return res, events, err
}

// msTime renders Unix milliseconds as the contract's RFC 3339 UTC time.
func msTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

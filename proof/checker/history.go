// Package checker judges a proof run from what clients saw: the history of
// operations they invoked and their outcomes, and final reads through the
// public API. It imports nothing of the system under test — not the ledger,
// not the hub, not even the protocol package — so a bug there cannot hide
// itself here.
package checker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Op types, as in Jepsen histories: an operation is invoked, then completes
// ok, fails (nothing changed, with the error code), or ends as info (the
// outcome is unknown: a timeout or a lost connection). Reads record what a
// client observed.
const (
	Invoke = "invoke"
	OK     = "ok"
	Fail   = "fail"
	Info   = "info"
	Read   = "read" // a wallet or event the client observed
)

// Op is one history entry. F names the operation: buy, claim, bid, tick,
// wallet (a wallet observed) or event (a lot event observed).
type Op struct {
	Process int     `json:"process"`
	Type    string  `json:"type"`
	F       string  `json:"f"`
	Time    int64   `json:"time"` // Unix nanoseconds
	User    string  `json:"user,omitempty"`
	Region  string  `json:"region,omitempty"`
	Lot     string  `json:"lot,omitempty"`
	ID      string  `json:"id,omitempty"` // the request id
	Amount  int64   `json:"amount,omitempty"`
	Max     int64   `json:"max,omitempty"`
	Qty     int64   `json:"qty,omitempty"`
	Price   int64   `json:"price,omitempty"`
	Seq     int64   `json:"seq,omitempty"`
	High    bool    `json:"high,omitempty"`
	Code    string  `json:"code,omitempty"`  // fail: the error code; info: why unknown
	Kind    string  `json:"kind,omitempty"`  // event: its kind
	Actor   string  `json:"actor,omitempty"` // event: the bidder or buyer it names
	Wallet  *Wallet `json:"wallet,omitempty"`
}

// Wallet is a wallet as the API shows it.
type Wallet struct {
	Funded    int64 `json:"funded"`
	Held      int64 `json:"held"`
	Spent     int64 `json:"spent"`
	Earned    int64 `json:"earned"`
	Available int64 `json:"available"`
	// Money leaving the platform (extensions of v1): what refunds and
	// disputes took back that the wallet could not cover, whether that
	// froze it, and the part of held that requested payouts hold.
	Owed          int64 `json:"owed,omitempty"`
	Frozen        bool  `json:"frozen,omitempty"`
	PayoutPending int64 `json:"payout_pending,omitempty"`
}

// WriteJSONL writes a history, one op per line.
func WriteJSONL(w io.Writer, ops []Op) error {
	enc := json.NewEncoder(w)
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			return err
		}
	}
	return nil
}

// ReadJSONL reads a history written by WriteJSONL.
func ReadJSONL(r io.Reader) ([]Op, error) {
	var ops []Op
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var op Op
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			return nil, fmt.Errorf("history line %d: %w", line, err)
		}
		ops = append(ops, op)
	}
	return ops, sc.Err()
}

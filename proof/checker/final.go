package checker

// Final is what the runner read through the public API after the race:
// every lot of the scenario, every participant's wallet before and after,
// and the server's own audit.
type Final struct {
	Scenario string `json:"scenario"`
	N        int    `json:"n"`
	K        int    `json:"k"`
	Host     string `json:"host"`
	// Price is the unit price of the scenario's drop or lots (oversell,
	// double-spend); Dutch prices are read from the lot.
	Price   int64              `json:"price"`
	Lots    []Lot              `json:"lots"`
	Wallets map[string]Pair    `json:"wallets"`
	Audit   Audit              `json:"audit"`
	Prices  map[string][]int64 `json:"prices,omitempty"` // dutch: every price the lot could have had
	// Observed lists the lots an observer followed: each must show its events.
	Observed []string `json:"observed,omitempty"`
}

// Lot is a lot as GET /api/lots/{id} shows it.
type Lot struct {
	ID         string  `json:"id"`
	Kind       string  `json:"kind"`
	Status     string  `json:"status"`
	Seq        int64   `json:"seq"`
	QtyTotal   int64   `json:"qty_total"`
	QtyClaimed int64   `json:"qty_claimed"`
	HighBid    int64   `json:"high_bid"`
	HighBidder *string `json:"high_bidder"`
	Winner     *string `json:"winner"`
	Price      int64   `json:"price"`
}

// Pair is a wallet read before the race and after it.
type Pair struct {
	Before Wallet `json:"before"`
	After  Wallet `json:"after"`
}

// Audit is GET /api/audit.
type Audit struct {
	OK         bool  `json:"ok"`
	Violations []any `json:"violations"`
}

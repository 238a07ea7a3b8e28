package protocol

// Activity is GET /api/me/activity: the token's user's part in the lots
// they touched lately, newest first, and the listed lots they host.
type Activity struct {
	User    string        `json:"user"`
	Lots    []LotActivity `json:"lots"`
	Hosting []HostedLot   `json:"hosting"`
}

// LotActivity is one lot and the user's part in it. Amounts are minor units.
type LotActivity struct {
	Lot Lot `json:"lot"`
	// Standing on an English lot the user bid on: leading | outbid while it
	// runs, won | lost once closed; "" otherwise.
	Standing string `json:"standing"`
	Bids     int64  `json:"bids"`    // the user's bids that led when placed
	TopBid   int64  `json:"top_bid"` // the highest of them
	Bought   int64  `json:"bought"`  // units claimed (Dutch) or bought (drop)
	Paid     int64  `json:"paid"`    // what they cost
	Held     int64  `json:"held"`    // funds held for the user's leading bid
	Earned   int64  `json:"earned"`  // proceeds credited to the user as host
	At       string `json:"at"`      // the user's latest money movement on it
}

// HostedLot is a lot the user hosts, with what it has taken so far
// (Dutch and drop sales as they happen, an English lot's price at
// settlement).
type HostedLot struct {
	Lot      Lot   `json:"lot"`
	Proceeds int64 `json:"proceeds"`
}

package protocol

// The social views (extensions of v1): leaderboards, the global activity
// feed and reaction totals, read over HTTP and pushed live over the
// WebSocket to lobby watchers (watch) and room members (join).

// Leaderboard ranks a lot's (Lot set) or every lot's (Lot empty) bidders,
// buyers and Regions over a window: "recent" (the last hour, in 15-minute
// steps, from From) or "all" (within the boards' retention). As a live
// frame Type is "leaderboard".
type Leaderboard struct {
	Type    string       `json:"type,omitempty"`
	Lot     string       `json:"lot,omitempty"`
	Window  string       `json:"window"`
	From    string       `json:"from,omitempty"`
	Bidders Ranks        `json:"bidders"`
	Buyers  Ranks        `json:"buyers"`
	Regions []RegionLine `json:"regions"`
}

// Ranks lists the top users two ways. For bidders Amount is the highest
// bid and Count the bids placed; for buyers Amount is the money spent and
// Count the units bought.
type Ranks struct {
	ByAmount []BoardLine `json:"by_amount"`
	ByCount  []BoardLine `json:"by_count"`
}

// BoardLine is one user on a leaderboard.
type BoardLine struct {
	User   string `json:"user"`
	Count  int64  `json:"count"`
	Amount int64  `json:"amount"`
}

// RegionLine is one Region on a leaderboard: Count bids and purchases made
// from it, Amount the money its purchases spent.
type RegionLine struct {
	Region string `json:"region"`
	Count  int64  `json:"count"`
	Amount int64  `json:"amount"`
}

// FeedFrame pushes new global feed events to lobby watchers, newest first.
type FeedFrame struct {
	Type   string  `json:"type"` // "feed"
	Events []Event `json:"events"`
}

// ReactionsFrame pushes a lot's reaction totals to its room.
type ReactionsFrame struct {
	Type   string           `json:"type"` // "reactions"
	Lot    string           `json:"lot"`
	Totals map[string]int64 `json:"totals"`
}

// WatchResult is the result of watch: the overall leaderboards (recent,
// then all) and the newest feed events, newest first. Frames of type
// leaderboard and feed follow until unwatch.
type WatchResult struct {
	Leaderboards []Leaderboard `json:"leaderboards"`
	Feed         []Event       `json:"feed"`
}

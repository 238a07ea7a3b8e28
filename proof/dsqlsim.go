package proof

import (
	"time"

	"github.com/lotzero/lotzero/internal/dsqlsim"
)

// DSQLSimReport is what the DSQL layer did during the race, beside its
// settings: the faults the nodes' OCC retries had to absorb.
type DSQLSimReport struct {
	AbortShare     float64          `json:"abort_share"`
	ConnLifetimeMS float64          `json:"conn_lifetime_ms"`
	Commits        int64            `json:"commits"`       // COMMITs the layer let through
	AbortedOC000   int64            `json:"aborted_oc000"` // COMMITs it failed as conflicts
	AbortedOC001   int64            `json:"aborted_oc001"` // COMMITs it failed as stale schema
	Refused        map[string]int64 `json:"refused,omitempty"`
	RowLimit       int64            `json:"row_limit"`
	TimeLimit      int64            `json:"time_limit"`
	ConnsClosed    int64            `json:"conns_closed"`
	LostReplyShare float64          `json:"lost_reply_share"`
	LostReplies    int64            `json:"lost_replies"` // COMMITs that committed but whose answer the layer withheld
}

// RefusedTotal is every statement the layer refused.
func (r *DSQLSimReport) RefusedTotal() int64 {
	var n int64
	for _, c := range r.Refused {
		n += c
	}
	return n
}

// dsqlSimReport is the layer's counters between two snapshots.
func dsqlSimReport(opts dsqlsim.Options, before, after dsqlsim.Stats) *DSQLSimReport {
	r := &DSQLSimReport{
		AbortShare: opts.AbortShare, ConnLifetimeMS: millis(opts.ConnLifetime),
		Commits: after.Commits - before.Commits, AbortedOC000: after.AbortedOC000 - before.AbortedOC000,
		AbortedOC001: after.AbortedOC001 - before.AbortedOC001, RowLimit: after.RowLimit - before.RowLimit,
		TimeLimit: after.TimeLimit - before.TimeLimit, ConnsClosed: after.ConnsClosed - before.ConnsClosed,
		LostReplyShare: opts.LostReplyShare, LostReplies: after.LostReplies - before.LostReplies,
	}
	for rule, n := range after.Refused {
		if d := n - before.Refused[rule]; d > 0 {
			if r.Refused == nil {
				r.Refused = map[string]int64{}
			}
			r.Refused[rule] = d
		}
	}
	return r
}

// DSQLSimDefaults are the layer's settings for a proof run: a share of
// aborted COMMITs, a share of COMMITs whose answer is lost (committed, but
// the node cannot know), and connections that live seconds, not an hour,
// so a race meets all three; after a schema change, writing transactions
// fail OC001 for a moment (the nodes' migrations at start-up).
func DSQLSimDefaults(abortShare, lostReplyShare float64, connLifetime time.Duration) dsqlsim.Options {
	return dsqlsim.Options{AbortShare: abortShare, LostReplyShare: lostReplyShare, ConnLifetime: connLifetime,
		StaleSchemaWindow: 100 * time.Millisecond}
}

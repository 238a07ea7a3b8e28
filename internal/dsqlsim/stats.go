package dsqlsim

import (
	"maps"
	"sync/atomic"
)

// Stats is what the proxy did, counted since it started.
type Stats struct {
	Connections int64 `json:"connections"` // accepted
	// Commits are COMMITs of open transactions passed on to PostgreSQL.
	Commits      int64 `json:"commits"`
	AbortedOC000 int64 `json:"aborted_oc000"` // COMMITs answered 40001 OC000
	AbortedOC001 int64 `json:"aborted_oc001"` // COMMITs answered 40001 OC001
	// Refused counts statements refused with 0A000, by rule: the
	// internal/dsqlrules names, "multiple DDL" and "DDL with DML".
	Refused   map[string]int64 `json:"refused,omitempty"`
	RowLimit  int64            `json:"row_limit"`  // 54000: over MaxRows
	TimeLimit int64            `json:"time_limit"` // 54000: over TxLimit
	// ConnsClosed are connections the proxy closed at their lifetime's end.
	ConnsClosed int64 `json:"conns_closed"`
	// LostReplies are COMMITs that succeeded but whose answer the proxy
	// withheld, cutting the connection: the client's outcome-unknown path.
	LostReplies int64 `json:"lost_replies"`
}

// RefusedTotal is every statement refused, whatever the rule.
func (s Stats) RefusedTotal() int64 {
	var n int64
	for _, c := range s.Refused {
		n += c
	}
	return n
}

type counters struct {
	connections, commits, oc000, oc001, rowLimit, timeLimit, closed, lostReplies atomic.Int64
}

// Stats is a snapshot of what the proxy did.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	refused := maps.Clone(s.refused)
	s.mu.Unlock()
	return Stats{
		Connections: s.stats.connections.Load(), Commits: s.stats.commits.Load(),
		AbortedOC000: s.stats.oc000.Load(), AbortedOC001: s.stats.oc001.Load(),
		Refused: refused, RowLimit: s.stats.rowLimit.Load(), TimeLimit: s.stats.timeLimit.Load(),
		ConnsClosed: s.stats.closed.Load(), LostReplies: s.stats.lostReplies.Load(),
	}
}

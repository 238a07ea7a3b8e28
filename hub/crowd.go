package hub

import (
	"context"
	"sync/atomic"
	"time"
)

// crowdSessions is how many sessions make a crowd: fewer arriving leave
// too little behind to be worth a collection.
const crowdSessions = 1000

// crowdEvery is the least time between two reports: a collection costs
// in proportion to the whole heap, so reconnect churn that looks like a
// crowd every few seconds must not make the node collect every few seconds.
const crowdEvery = time.Minute

// crowdWatch notices a crowd's arrival: sessions registered since the
// last report, when the last one did, and when it last reported.
type crowdWatch struct {
	arrived    atomic.Int64
	lastJoin   atomic.Int64 // monotonic ns of the last registration
	lastReport atomic.Int64 // monotonic ns of the last report, 0 before the first
}

func (c *crowdWatch) note() {
	c.arrived.Add(1)
	c.lastJoin.Store(nanotime())
}

// settled reports, once per crowd and at most once per crowdEvery, that at
// least crowdSessions sessions arrived since the last report and none
// within quiet.
func (c *crowdWatch) settled(now int64, quiet time.Duration) bool {
	n := c.arrived.Load()
	last := c.lastReport.Load()
	if n < crowdSessions || now-c.lastJoin.Load() < int64(quiet) || (last != 0 && now-last < int64(crowdEvery)) {
		return false
	}
	c.arrived.Add(-n)
	c.lastReport.Store(now)
	return true
}

// afterCrowd runs Options.CrowdArrived once a crowd has settled.
func (h *Hub) afterCrowd(context.Context) {
	if !h.crowd.settled(nanotime(), time.Second) {
		return
	}
	start := time.Now()
	h.opts.CrowdArrived()
	h.metrics.crowds.Inc()
	h.log.Debug().Dur("took", time.Since(start)).Msg("a crowd arrived and settled")
}

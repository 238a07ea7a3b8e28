package hub

import (
	"context"
	"sync"

	"github.com/google/uuid"
)

// unlistedLots remembers which lots were created unlisted (the proof's), so
// their events stay out of the overall leaderboards and the lobby's feed.
// A lot's answer never changes, so each is read from the ledger once; the
// reads happen on the views' goroutines, never on the fan-out path.
type unlistedLots struct {
	mu    sync.Mutex
	known map[string]bool
}

func newUnlistedLots() *unlistedLots { return &unlistedLots{known: map[string]bool{}} }

// note records what this node knows without a read (it created the lot).
func (u *unlistedLots) note(lot string, unlisted bool) {
	u.mu.Lock()
	u.known[lot] = unlisted
	u.mu.Unlock()
}

// unlisted reports whether lot is unlisted, reading the ledger the first
// time. A lot that cannot be read now is treated as listed and asked again
// next time: a proof's line on the overall board is a lesser harm than a
// real bid missing from it.
func (h *Hub) unlisted(ctx context.Context, lot string) bool {
	u := h.live.unlisted
	u.mu.Lock()
	v, ok := u.known[lot]
	u.mu.Unlock()
	if ok {
		return v
	}
	id, err := uuid.Parse(lot)
	if err != nil {
		return false
	}
	v, err = h.ledger.Unlisted(ctx, id)
	if err != nil {
		h.log.Warn().Err(err).Str("lot", lot).Msg("views: read whether the lot is unlisted")
		return false
	}
	u.note(lot, v)
	return v
}

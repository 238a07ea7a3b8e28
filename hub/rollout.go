package hub

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
)

// rollout is one read of a crowd room's leaderboards, or of its reaction
// totals, on its way to the members, a group per flush. Pushed to every
// member at once, a board round in a room of 10,000 was 20,000 writes in
// one burst, and the bid it met took up to twice as long to reach the
// room; a group of about crowdStep members per ViewsEvery is a small
// steady load instead. A room of at most crowdStep members is one group:
// pushed at once, as before.
//
// The groups are the members at the read: one who joins later waits for
// the next read, as it did before, rather than being sent this older one
// after its join has shown it newer views.
type rollout struct {
	lot    string
	views  []string     // by slot: what each frame is the whole of, for the queues (queue.pushView)
	frames [][]byte     // by slot (a board's window); nil where the read found no change
	groups [][]*session // the members at the read, split by session.spread
	next   int          // the group the next flush pushes to
}

// reactionsKey keys a lot's reaction-totals rollout; its boards' is the
// lot id.
func reactionsKey(lot string) string { return "reactions|" + lot }

// startRollout sets a room's newest views on their way to members. A
// rollout still under way under the same key gives way to it; a slot this
// read left unchanged keeps the frame the old one carried, so the groups
// it had not reached still get it.
func (lv *liveViews) startRollout(key, lot string, frames [][]byte, members []*session) {
	n := crowdGroups(len(members))
	groups := [][]*session{members} // a room of one group gets it at once
	if n > 1 {
		groups = make([][]*session, n)
		for _, m := range members {
			g := m.spread % uint32(n)
			groups[g] = append(groups[g], m)
		}
	}
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if old := lv.rollouts[key]; old != nil {
		for i, f := range frames {
			if f == nil {
				frames[i] = old.frames[i]
			}
		}
	}
	views := make([]string, len(frames))
	for i := range views {
		views[i] = key + "|" + strconv.Itoa(i)
	}
	lv.rollouts[key] = &rollout{lot: lot, views: views, frames: frames, groups: groups}
}

// rollViews pushes every rollout's frames to its next group, to those of
// it still in the room.
func (h *Hub) rollViews() {
	type turn struct {
		lot    string
		views  []string
		frames [][]byte
		group  []*session
	}
	lv := h.live
	lv.mu.Lock()
	// In a stable order, not the map's random one: by lot, and a lot's
	// boards (keyed by the lot id) before its reaction totals (the longer
	// reactionsKey), as they were pushed before rollouts.
	keys := slices.SortedFunc(maps.Keys(lv.rollouts), func(a, b string) int {
		return cmp.Or(cmp.Compare(lv.rollouts[a].lot, lv.rollouts[b].lot), cmp.Compare(len(a), len(b)))
	})
	turns := make([]turn, 0, len(keys))
	for _, key := range keys {
		r := lv.rollouts[key]
		turns = append(turns, turn{r.lot, r.views, r.frames, r.groups[r.next]})
		if r.next++; r.next == len(r.groups) {
			delete(lv.rollouts, key)
		}
	}
	lv.mu.Unlock()
	for _, t := range turns {
		room := h.existingRoom(t.lot)
		if room == nil {
			continue
		}
		var out broadcast
		for _, m := range room.stillMembers(t.group) {
			for i, f := range t.frames {
				if f != nil {
					out.sendView(m, t.views[i], f)
				}
			}
		}
		out.start()
	}
}

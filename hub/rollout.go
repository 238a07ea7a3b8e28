package hub

// rollout is one read of a crowd room's leaderboards on its way to the
// members, a group per flush. Pushed to every member at once, a board
// round in a room of 10,000 was 20,000 writes in one burst, and the bids
// it met took half as long again to reach the room; a group of about
// crowdStep members per ViewsEvery is a small steady load instead. A room
// of at most crowdStep members is one group: pushed at once, as before.
type rollout struct {
	frames [][]byte // the leaderboard frames read, one per window that changed
	groups int      // members are split by session.spread into this many groups
	next   int      // the group the next flush pushes to
}

// startRollout sets a room's newest leaderboards on their way; a rollout
// still under way gives way to it (its groups not yet reached get the
// newer frames).
func (lv *liveViews) startRollout(lot string, frames [][]byte, groups int) {
	lv.mu.Lock()
	lv.rollouts[lot] = &rollout{frames: frames, groups: groups}
	lv.mu.Unlock()
}

// rollBoards pushes every rollout's frames to its next group of members,
// listed now, after the reads: a member who joined since gets them too.
func (h *Hub) rollBoards() {
	type turn struct {
		lot           string
		frames        [][]byte
		group, groups int
	}
	lv := h.live
	lv.mu.Lock()
	turns := make([]turn, 0, len(lv.rollouts))
	for lot, r := range lv.rollouts {
		turns = append(turns, turn{lot, r.frames, r.next, r.groups})
		if r.next++; r.next == r.groups {
			delete(lv.rollouts, lot)
		}
	}
	lv.mu.Unlock()
	for _, t := range turns {
		room := h.existingRoom(t.lot)
		if room == nil {
			continue
		}
		for _, m := range room.memberList() {
			if int(m.spread%uint32(t.groups)) != t.group {
				continue
			}
			for _, f := range t.frames {
				m.sendSocial(f)
			}
		}
	}
}

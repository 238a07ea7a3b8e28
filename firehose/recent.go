package firehose

// recentIDs remembers the last messages' keys in a fixed ring, so a social
// message the stream hands over again (a shard re-read from its start after
// trimmed data, or the second before a resumed LATEST position) is dropped
// by its ID. Ledger messages need none of it: rooms drop them by seq.
type recentIDs struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add reports whether key is new, remembering it in place of the oldest.
func (r *recentIDs) add(key string) bool {
	if _, seen := r.set[key]; seen {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = key
	r.next = (r.next + 1) % len(r.ring)
	r.set[key] = struct{}{}
	return true
}

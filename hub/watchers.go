package hub

import "time"

// watchers is one lot's watcher count as this node knows it: a base (the
// newest read of the lot's presence made here, or the count another node
// published) and this node's own arrivals and departures since.
//
// A base never gives way to an older one. Another node's presence event
// reaches this node hundreds of milliseconds after that node's read, by
// the stream: taken as it came, it would undo the arrivals this node's
// newer read had seen. And a join here counts at once, although the read
// its reply was served from (shared by a crowd, up to presenceFresh old)
// predates it.
type watchers struct {
	base  int
	users map[string]bool // whom base counts when it is a read made here; nil for another node's count
	// readAt is when the newest read applied here started (this node's
	// clock); it stays when another node's count becomes the base.
	readAt time.Time
	local  map[string]localChange // by user: what happened here after the base
	delta  int                    // what local adds to base, kept as it changes: a crowd's joins each ask
}

// localChange is a user's arrival in (or departure from) the lot's room
// on this node, as of the end of its presence write.
type localChange struct {
	arrived bool
	at      time.Time
}

// total is the lot's watchers: the base with this node's changes since.
func (w *watchers) total() int { return max(w.base+w.delta, 0) }

// adds is what a user's change adds to the base.
func (w *watchers) adds(user string, c localChange) int {
	switch {
	case c.arrived && !w.users[user]:
		return 1
	case !c.arrived && (w.users == nil || w.users[user]):
		return -1
	}
	return 0
}

// read takes a read of the lot's presence that started at start, unless a
// read started later was taken already. Changes written before it started
// are in it.
func (w *watchers) read(start time.Time, users map[string]bool) {
	if !start.After(w.readAt) {
		return
	}
	w.base, w.users, w.readAt = len(users), users, start
	w.keepAfter(start)
}

// published takes a count another node read and published at at (its
// clock), unless this node read the lot itself within fresh of now: its
// own read is newer than anything the stream brings that soon. Changes
// here after at are not in the count and stay.
func (w *watchers) published(n int, at, now time.Time, fresh time.Duration) {
	if w.users != nil && now.Sub(w.readAt) < fresh {
		return
	}
	w.base, w.users = n, nil
	w.keepAfter(at)
}

// note records a user's arrival or departure here, written at at.
func (w *watchers) note(user string, arrived bool, at time.Time) {
	if w.local == nil {
		w.local = map[string]localChange{}
	}
	if prev, ok := w.local[user]; ok {
		w.delta -= w.adds(user, prev)
	}
	c := localChange{arrived: arrived, at: at}
	w.local[user] = c
	w.delta += w.adds(user, c)
}

// settle folds the changes into the base when nobody here is in the room,
// so that a lot's memory does not keep every user who ever left it.
func (w *watchers) settle() {
	w.base, w.users, w.local, w.delta = w.total(), nil, nil, 0
}

// keepAfter keeps the changes made at or after at (a new base has the
// others) and counts them against the new base.
func (w *watchers) keepAfter(at time.Time) {
	w.delta = 0
	for u, c := range w.local {
		if c.at.Before(at) {
			delete(w.local, u)
			continue
		}
		w.delta += w.adds(u, c)
	}
}

// empty says the lot has no watchers the node needs to remember.
func (w *watchers) empty() bool { return w.total() == 0 && len(w.local) == 0 }

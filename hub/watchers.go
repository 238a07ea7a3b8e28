package hub

import "time"

// watchers is one lot's watcher count as this node knows it: a base (the
// newest read of the lot's presence, made here or by another node that
// published its count) and this node's own arrivals and departures since.
//
// A base never gives way to an older one. Another node's presence event
// reaches this node hundreds of milliseconds after that node's read, by
// the stream: taken as it came, it would undo the arrivals a newer read
// had seen. Reads are ordered by when they started, on each node's clock
// (nodes keep theirs synchronized; a skew of a few milliseconds only
// blurs the order of reads that close together). And a join here counts
// at once, although the read its reply was served from (shared by a
// crowd, up to presenceFresh old) predates it.
type watchers struct {
	base  int
	users map[string]bool        // whom base counts when it is a read made here; nil for another node's count
	at    time.Time              // when base's read started
	local map[string]localChange // by user: what happened here after at
	delta int                    // what local adds to base, kept as it changes: a crowd's joins each ask
}

// localChange is a user's arrival in (or departure from) the lot's room
// on this node, as of the end of its presence write.
type localChange struct {
	arrived bool
	// inRead says the read the join was served from counts the user (a
	// second session, or one on another node): what decides whether an
	// arrival adds one to a base that names nobody.
	inRead bool
	at     time.Time
}

// total is the lot's watchers: the base with this node's changes since.
func (w *watchers) total() int { return max(w.base+w.delta, 0) }

// adds is what a user's change adds to the base.
func (w *watchers) adds(user string, c localChange) int {
	switch {
	case c.arrived && w.users != nil:
		return b2i(!w.users[user])
	case c.arrived:
		return b2i(!c.inRead)
	case w.users == nil || w.users[user]:
		return -1
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// read takes a read of the lot's presence made here, which started at
// start, unless the base is as new. Changes written before it started
// are in it.
func (w *watchers) read(start time.Time, users map[string]bool) {
	w.rebase(len(users), users, start)
}

// published takes another node's count, read at asOf, unless the base is
// as new.
func (w *watchers) published(n int, asOf time.Time) {
	w.rebase(n, nil, asOf)
}

func (w *watchers) rebase(n int, users map[string]bool, at time.Time) {
	if !at.After(w.at) {
		return
	}
	w.base, w.users, w.at = n, users, at
	w.delta = 0
	for u, c := range w.local {
		if c.at.Before(at) {
			delete(w.local, u) // the base has it
			continue
		}
		w.delta += w.adds(u, c)
	}
}

// note records a user's arrival or departure here; one written before the
// base's read started is in the base already.
func (w *watchers) note(c localChange, user string) {
	if c.at.Before(w.at) {
		return
	}
	if w.local == nil {
		w.local = map[string]localChange{}
	}
	if prev, ok := w.local[user]; ok {
		added := w.adds(user, prev)
		w.delta -= added
		if !c.arrived && prev.arrived && added == 1 {
			delete(w.local, user) // arrived after the base and left: as the base has it
			return
		}
	}
	w.local[user] = c
	w.delta += w.adds(user, c)
}

// settle folds the changes into the base when nobody here is in the room,
// so that a lot's memory does not keep every user who ever left it.
func (w *watchers) settle() {
	w.base, w.users, w.local, w.delta = w.total(), nil, nil, 0
}

// empty says the lot has no watchers the node needs to remember.
func (w *watchers) empty() bool { return w.total() == 0 && len(w.local) == 0 }

package firehose

import (
	"context"
	"sync"
	"time"
)

// MemoryViewsRetention is how long Memory keeps a quiet lot's chat
// history, reaction totals and the record of which of its events it has
// counted.
const MemoryViewsRetention = 24 * time.Hour

// memoryViews keeps the views in maps, in one process. It is bounded by
// what it keeps per lot (MaxChatHistory lines, seenWindow seqs) and drops
// lots quiet for MemoryViewsRetention; recent buckets older than the
// window are dropped as new ones start.
type memoryViews struct {
	mu  sync.Mutex
	now func() time.Time

	lots    map[string]*lotViews
	boards  map[string]*boardMerger // "<lot or ALL>#<bucket or all>" -> lines
	buckets map[string]time.Time    // bucket board key -> its bucket's start, for expiry
	feed    []Message               // newest last, at most MaxFeed
	swept   time.Time               // the last expire
}

// lotViews is one lot's chat, reactions and counted events.
type lotViews struct {
	chat      []Message // oldest first, at most MaxChatHistory
	reactions map[string]int64
	recorded  map[int64]struct{}
	maxSeq    int64
	last      time.Time
}

func newMemoryViews(now func() time.Time) *memoryViews {
	return &memoryViews{now: now, lots: map[string]*lotViews{}, boards: map[string]*boardMerger{}, buckets: map[string]time.Time{}}
}

// lot returns a lot's views, creating them. The caller holds v.mu.
func (v *memoryViews) lot(id string) *lotViews {
	lv := v.lots[id]
	if lv == nil {
		lv = &lotViews{reactions: map[string]int64{}, recorded: map[int64]struct{}{}}
		v.lots[id] = lv
	}
	lv.last = v.now()
	return lv
}

// published keeps what Publish adds to the views: a chat line, or a
// reaction's count. Called once per message (after its dedup).
func (v *memoryViews) published(m Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case m.Kind == KindChat:
		lv := v.lot(m.Lot)
		lv.chat = append(lv.chat, m)
		if len(lv.chat) > MaxChatHistory {
			lv.chat = append([]Message(nil), lv.chat[len(lv.chat)-MaxChatHistory:]...)
		}
	case m.Kind == KindReaction && m.Tally != nil && m.Tally.Emoji != "":
		v.lot(m.Lot).reactions[m.Tally.Emoji]++
	}
}

func (v *memoryViews) Record(_ context.Context, m Message) error {
	if m.Kind != KindLedger {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	lv := v.lot(m.Lot)
	if _, dup := lv.recorded[m.Seq]; dup || m.Seq <= lv.maxSeq-seenWindow {
		return nil
	}
	lv.recorded[m.Seq] = struct{}{}
	lv.maxSeq = max(lv.maxSeq, m.Seq)
	if len(lv.recorded) > seenWindow {
		for s := range lv.recorded {
			if s <= lv.maxSeq-seenWindow {
				delete(lv.recorded, s)
			}
		}
	}
	if FeedKinds[m.Event] && !m.Unlisted {
		v.feed = append(v.feed, m)
		if len(v.feed) > MaxFeed {
			v.feed = append([]Message(nil), v.feed[len(v.feed)-MaxFeed:]...)
		}
	}
	u, r, ok := boardAdd(m)
	if !ok {
		return nil
	}
	bucket := bucketOf(m.At)
	for _, scope := range boardScopes(m) {
		for _, w := range []string{bucket, "all"} {
			key := scope + "#" + w
			bm := v.boards[key]
			if bm == nil {
				bm = newBoardMerger()
				v.boards[key] = bm
				if w != "all" {
					v.buckets[key] = m.At.UTC().Truncate(BucketSize)
				}
			}
			bm.user(u)
			bm.region(r)
		}
	}
	v.expire()
	return nil
}

// expire drops buckets older than the recent window and lots quiet for
// the retention, at most once a minute. The caller holds v.mu.
func (v *memoryViews) expire() {
	now := v.now()
	if now.Sub(v.swept) < time.Minute {
		return
	}
	v.swept = now
	oldest := now.UTC().Truncate(BucketSize).Add(-RecentBuckets * BucketSize)
	for key, start := range v.buckets {
		if start.Before(oldest) {
			delete(v.buckets, key)
			delete(v.boards, key)
		}
	}
	for id, lv := range v.lots {
		if now.Sub(lv.last) > MemoryViewsRetention {
			delete(v.lots, id)
		}
	}
}

func (v *memoryViews) Leaderboard(_ context.Context, lot string, w Window) (Board, error) {
	scope := lot
	if scope == "" {
		scope = "ALL"
	}
	keys := []string{"all"}
	switch w {
	case WindowAll:
	case WindowRecent:
		keys = recentBuckets(v.now())
	default:
		return Board{}, ErrBadWindow
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	out := newBoardMerger()
	for _, k := range keys {
		if bm := v.boards[scope+"#"+k]; bm != nil {
			for _, u := range bm.users {
				out.user(*u)
			}
			for _, r := range bm.regions {
				out.region(*r)
			}
		}
	}
	return out.board(), nil
}

func (v *memoryViews) Feed(_ context.Context, limit int) ([]Message, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Message, 0, min(limit, len(v.feed)))
	for i := len(v.feed) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, v.feed[i])
	}
	sortFeed(out)
	return out, nil
}

func (v *memoryViews) Reactions(_ context.Context, lot string) (map[string]int64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[string]int64{}
	if lv := v.lots[lot]; lv != nil {
		for e, n := range lv.reactions {
			out[e] = n
		}
	}
	return out, nil
}

func (v *memoryViews) Chat(_ context.Context, lot string, limit int) ([]Message, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	lv := v.lots[lot]
	if lv == nil {
		return []Message{}, nil
	}
	n := min(limit, len(lv.chat))
	return append([]Message{}, lv.chat[len(lv.chat)-n:]...), nil
}

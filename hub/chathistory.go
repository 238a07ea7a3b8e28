package hub

import (
	"context"
	"slices"

	"github.com/lotzero/lotzero/firehose"
)

// chatHistory is a room's last chat lines, encoded, in social_seq order:
// seeded once from the firehose's views when the room first needs it, and
// fed by live delivery under the room's lock from the room's creation on.
// Both feed the same list, deduplicated by social_seq, so a line published
// while the seed was read is held once, and a joining session gets the
// history and then the live lines with no gap between them.
type chatHistory struct {
	seqs    []int64
	frames  [][]byte
	seeded  bool
	seeding chan struct{} // closed when the seed read ends (nil when none runs)
}

// add inserts a line in order, ignoring one already held, and keeps the
// newest firehose.MaxChatHistory. It reports whether the line was new: a
// line the room already holds (the stream delivering it again after a
// node's restart) every session in the room has had, live or in the
// history its join got, and is not sent again. A line older than a full
// history is new (lines of one lot may arrive out of order): it is sent
// and not kept.
func (c *chatHistory) add(seq int64, frame []byte) bool {
	i, found := slices.BinarySearch(c.seqs, seq)
	if found {
		return false
	}
	c.seqs = slices.Insert(c.seqs, i, seq)
	c.frames = slices.Insert(c.frames, i, frame)
	if over := len(c.seqs) - firehose.MaxChatHistory; over > 0 {
		c.seqs = append(c.seqs[:0:0], c.seqs[over:]...)
		c.frames = append(c.frames[:0:0], c.frames[over:]...)
	}
	return true
}

// seedChat makes sure the room's chat history holds the lines published
// before the room existed, reading them once for every join that waits
// meanwhile. A failed read leaves the room unseeded (the next join tries
// again) and the join goes on without history.
func (h *Hub) seedChat(ctx context.Context, r *room) {
	r.mu.Lock()
	if r.chat.seeded || h.firehoseDown() {
		r.mu.Unlock()
		return
	}
	done := r.chat.seeding
	if done == nil {
		done = make(chan struct{})
		r.chat.seeding = done
		go h.loadChat(r, done)
	}
	r.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (h *Hub) loadChat(r *room, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), viewReadTimeout)
	lines, err := h.fh.Views().Chat(ctx, r.id, firehose.MaxChatHistory)
	cancel()
	r.mu.Lock()
	r.chat.seeding = nil
	if err != nil {
		if !h.firehoseDown() {
			h.log.Warn().Err(err).Str("lot", r.id).Msg("read chat history")
		}
	} else {
		for _, l := range lines {
			r.chat.add(l.Seq, socialFrame(l))
		}
		r.chat.seeded = true
	}
	r.mu.Unlock()
	close(done)
}

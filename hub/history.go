package hub

// history is a room's last delivered events, encoded, in a fixed ring: a
// joining session is caught up from it without a ledger read. The events
// it holds are contiguous in seq and end at the room's last.
type history struct {
	seqs   []int64
	frames [][]byte
	start  int // index of the oldest entry
	n      int // entries held
}

func newHistory(size int) history {
	return history{seqs: make([]int64, size), frames: make([][]byte, size)}
}

// push appends the next event, dropping the oldest when full.
func (h *history) push(seq int64, frame []byte) {
	if len(h.seqs) == 0 {
		return
	}
	if h.n > 0 && seq != h.newest()+1 {
		h.reset() // not contiguous: what was held no longer leads here
	}
	i := (h.start + h.n) % len(h.seqs)
	if h.n == len(h.seqs) {
		h.start = (h.start + 1) % len(h.seqs)
	} else {
		h.n++
	}
	h.seqs[i], h.frames[i] = seq, frame
}

func (h *history) reset() {
	clear(h.frames)
	h.start, h.n = 0, 0
}

func (h *history) newest() int64 { return h.seqs[(h.start+h.n-1)%len(h.seqs)] }

// covers reports whether the held events include every seq after `after`
// up to the newest: a session that has `after` can be caught up from here.
// With nothing held it covers only the newest the room delivered.
func (h *history) covers(after, last int64) bool {
	if after >= last {
		return true
	}
	return h.n > 0 && h.seqs[h.start] <= after+1
}

// since returns the frames of the events after `after`, oldest first.
func (h *history) since(after int64) [][]byte {
	var out [][]byte
	for k := 0; k < h.n; k++ {
		i := (h.start + k) % len(h.seqs)
		if h.seqs[i] > after {
			out = append(out, h.frames[i])
		}
	}
	return out
}

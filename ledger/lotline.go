package ledger

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// lotLines queue the operations on each lot of this process and run them
// in batches (group commit): while one transaction of a lot commits, the
// operations that arrive wait, and the next transaction decides all of
// them, in arrival order, and commits once. On a hot lot a node then sells
// many units per commit instead of one, which is what lets it keep up when
// a commit is slow (a cross-Region DSQL commit takes tens of ms).
//
// Correctness never depends on it: other nodes still write the same rows,
// and OCC with the guarded writes decides; a batch that conflicts is rerun
// whole on fresh state. A lone operation is a batch of one.
type lotLines struct {
	mu    sync.Mutex
	lines map[uuid.UUID]*lotLine
}

// lotLine is one lot's queue; busy while a goroutine serves it.
type lotLine struct {
	queue []*op
	busy  bool
}

// submit queues o on its lot and waits for its outcome. If ctx ends while
// o is still queued, o is withdrawn and nothing happens; once a batch has
// taken it, its outcome is awaited (the batch is bounded in time).
func (l *Ledger) submit(ctx context.Context, lot uuid.UUID, o *op) {
	if lot == uuid.Nil {
		l.runBatch(ctx, lot, []*op{o})
		return
	}
	q := &l.lines
	q.mu.Lock()
	line := q.lines[lot]
	if line == nil {
		line = &lotLine{}
		q.lines[lot] = line
	}
	line.queue = append(line.queue, o)
	if !line.busy {
		line.busy = true
		go l.serve(lot, line)
	}
	q.mu.Unlock()

	select {
	case <-o.done:
		return
	case <-ctx.Done():
	}
	q.mu.Lock()
	if !o.taken {
		for i, queued := range line.queue {
			if queued == o {
				line.queue = append(line.queue[:i], line.queue[i+1:]...)
				break
			}
		}
		q.mu.Unlock()
		o.err = ctx.Err()
		return
	}
	q.mu.Unlock()
	<-o.done
}

// serve runs the lot's queue in batches until it is empty.
func (l *Ledger) serve(lot uuid.UUID, line *lotLine) {
	for {
		batch := l.take(lot, line)
		if batch == nil {
			return
		}
		if l.beforeBatch != nil {
			l.beforeBatch(len(batch))
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.opts.MaxElapsed+batchGrace)
		rest := l.runBatch(ctx, lot, batch)
		cancel()
		l.putBack(line, rest)
		for _, o := range batch[:len(batch)-len(rest)] {
			close(o.done)
		}
	}
}

// batchGrace is how long a batch may take beyond the retry bound: its last
// attempt's statements and commit.
const batchGrace = 30 * time.Second

// take removes the next batch from line: queued operations in arrival
// order, up to Options.MaxBatch (the row limit, maxTxRows, bounds it too:
// a batch stops before an operation would pass it), without two that share a request id (the
// later waits for the next batch, where it finds the first's outcome).
// nil means the line is empty and no longer served.
func (l *Ledger) take(lot uuid.UUID, line *lotLine) []*op {
	q := &l.lines
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(line.queue) == 0 {
		line.busy = false
		delete(q.lines, lot)
		return nil
	}
	var batch, left []*op
	ids := map[requestKey]bool{}
	for _, o := range line.queue {
		key := o.key()
		if len(batch) == l.opts.MaxBatch || (o.record && ids[key]) {
			left = append(left, o)
			continue
		}
		if o.record {
			ids[key] = true
		}
		o.taken = true
		batch = append(batch, o)
	}
	line.queue = left
	return batch
}

// putBack returns the operations a batch left for the next one to the
// front of the queue, ahead of later arrivals.
func (l *Ledger) putBack(line *lotLine, rest []*op) {
	if len(rest) == 0 {
		return
	}
	q := &l.lines
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, o := range rest {
		o.taken = false
	}
	line.queue = append(append([]*op(nil), rest...), line.queue...)
}

package proof

import (
	"sync"
	"time"

	"github.com/lotzero/lotzero/proof/checker"
)

// recorder collects the history, safe for every participant at once.
type recorder struct {
	mu  sync.Mutex
	ops []checker.Op
}

func (r *recorder) add(op checker.Op) {
	op.Time = time.Now().UnixNano()
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

func (r *recorder) history() []checker.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]checker.Op(nil), r.ops...)
}

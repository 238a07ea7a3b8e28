package hub

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// pendingSlots counts connections that have not yet said hello, in total
// and per client IP. A connection over a cap waits for a slot instead of
// being refused at once: a crowd arriving together (or a benchmark from
// one address) passes in turn, while sockets that never say hello hold
// their slots until HelloTimeout and make newcomers from their address
// wait and then fail.
type pendingSlots struct {
	mu     sync.Mutex
	freed  chan struct{} // closed and replaced whenever a slot is released
	total  int
	byIP   map[string]int
	max    int
	maxIP  int
	waited time.Duration
}

func newPendingSlots(maxTotal, maxIP int, wait time.Duration) *pendingSlots {
	return &pendingSlots{freed: make(chan struct{}), byIP: map[string]int{}, max: maxTotal, maxIP: maxIP, waited: wait}
}

// errPendingIP and errPendingTotal say which cap refused a connection.
var (
	errPendingIP    = errors.New("too many connections from this address have not said hello")
	errPendingTotal = errors.New("too many connections on this node have not said hello")
)

// acquire takes a slot for ip, waiting up to the configured wait for one.
// The returned release must be called once (after the hello, or when the
// connection ends without one).
func (p *pendingSlots) acquire(ctx context.Context, ip string) (release func(), err error) {
	timer := time.NewTimer(p.waited)
	defer timer.Stop()
	for {
		p.mu.Lock()
		switch {
		case p.byIP[ip] >= p.maxIP:
			err = errPendingIP
		case p.total >= p.max:
			err = errPendingTotal
		default:
			p.byIP[ip]++
			p.total++
			p.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { p.release(ip) }) }, nil
		}
		freed := p.freed
		p.mu.Unlock()
		select {
		case <-freed:
		case <-timer.C:
			return nil, err
		case <-ctx.Done():
			return nil, err
		}
	}
}

func (p *pendingSlots) release(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total--
	if p.byIP[ip]--; p.byIP[ip] <= 0 {
		delete(p.byIP, ip)
	}
	close(p.freed)
	p.freed = make(chan struct{})
}

// clientIP is the address a connection comes from (no proxy headers: a
// forged X-Forwarded-For must not move a client out of its own bucket).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limitBodies reads every request body up front, bounded by MaxBodyBytes
// and by the server's ReadTimeout, so each handler decodes from memory and
// an oversized or dribbled body is refused here with its own code.
func (h *Hub) limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		limit := int64(h.opts.MaxBodyBytes)
		if r.ContentLength > limit {
			h.refuseBody(w, "body_size", http.StatusRequestEntityTooLarge, protocol.ErrLimitExceeded,
				"the request body is larger than the server's limit")
			return
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var tooBig *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &tooBig):
			h.refuseBody(w, "body_size", http.StatusRequestEntityTooLarge, protocol.ErrLimitExceeded,
				"the request body is larger than the server's limit")
			return
		case errors.As(err, &ne) && ne.Timeout():
			h.refuseBody(w, "body_timeout", http.StatusRequestTimeout, protocol.ErrBadRequest,
				"the request body did not arrive in time")
			return
		case err != nil:
			h.refuseBody(w, "body_timeout", http.StatusBadRequest, protocol.ErrBadRequest,
				"the request body could not be read")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		next.ServeHTTP(w, r)
	})
}

func (h *Hub) refuseBody(w http.ResponseWriter, limit string, status int, code, msg string) {
	h.metrics.limited.WithLabelValues(limit).Inc()
	w.Header().Set("Connection", "close") // the rest of the body is not worth reading
	writeJSON(w, status, map[string]any{"error": protocol.Errorf(code, msg)})
}

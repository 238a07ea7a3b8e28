package hub

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/lotzero/lotzero/protocol"
)

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

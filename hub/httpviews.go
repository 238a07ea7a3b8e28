package hub

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/protocol"
)

// The social views over HTTP: public like the lobby, read through the
// same shared cache as the live pushes (at most one read per view per
// second, however many ask).

// queryParams refuses parameters other than allowed, and any given twice.
func queryParams(r *http.Request, allowed ...string) *protocol.Error {
	q := r.URL.Query()
	for k, vs := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return protocol.Errorf(protocol.ErrBadRequest, fmt.Sprintf("unknown parameter %q; known: %v", k, allowed))
		}
		if len(vs) > 1 {
			return protocol.Errorf(protocol.ErrBadRequest, fmt.Sprintf("parameter %q given twice", k))
		}
	}
	return nil
}

// getLeaderboard is GET /api/leaderboard[?lot=<id>][&window=recent|all].
func (h *Hub) getLeaderboard(w http.ResponseWriter, r *http.Request) {
	if perr := queryParams(r, "lot", "window"); perr != nil {
		writeError(w, perr)
		return
	}
	q := r.URL.Query()
	lot := q.Get("lot")
	if q.Has("lot") && !validLot(lot) {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "lot must be a lot id (a lowercase UUID)"))
		return
	}
	if q.Has("window") && q.Get("window") == "" {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "window must be recent or all"))
		return
	}
	win, err := firehose.ParseWindow(q.Get("window"))
	if err != nil {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, err.Error()))
		return
	}
	board, err := h.leaderboard(r.Context(), lot, win, viewsFresh)
	if err != nil {
		writeError(w, h.viewsError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"leaderboard": board})
}

// getFeed is GET /api/feed[?limit=n]: the newest feed events, newest first.
func (h *Hub) getFeed(w http.ResponseWriter, r *http.Request) {
	if perr := queryParams(r, "limit"); perr != nil {
		writeError(w, perr)
		return
	}
	limit := lobbyFeed
	if s := r.URL.Query().Get("limit"); r.URL.Query().Has("limit") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxFeedLimit {
			writeError(w, protocol.Errorf(protocol.ErrBadRequest, fmt.Sprintf("limit must be an integer 1..%d", maxFeedLimit)))
			return
		}
		limit = n
	}
	events, err := h.feed(r.Context(), limit)
	if err != nil {
		writeError(w, h.viewsError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events})
}

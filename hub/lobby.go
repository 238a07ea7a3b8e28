package hub

import (
	"context"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/protocol"
)

// The lobby's live views: sessions that sent watch get the overall
// leaderboards and the global feed, pushed by flushViews (views.go).

// toLobby sends one encoded frame to every lobby watcher.
func (h *Hub) toLobby(frame []byte) {
	lv := h.live
	lv.sendMu.Lock()
	defer lv.sendMu.Unlock()
	lv.mu.Lock()
	watchers := make([]*session, 0, len(lv.lobby))
	for s := range lv.lobby {
		watchers = append(watchers, s)
	}
	lv.mu.Unlock()
	var out broadcast
	for _, s := range watchers {
		out.send(s, frame)
	}
	out.start()
}

// watch adds the session to the lobby's watchers and answers with the
// overall leaderboards and the newest feed events. The session is a
// watcher before the reads, so nothing pushed meanwhile is missed; what
// it gets twice a client drops by (lot, seq).
func (s *session) watch(ctx context.Context) (any, *protocol.Error) {
	h := s.h
	lv := h.live
	lv.mu.Lock()
	lv.lobby[s] = true
	lv.mu.Unlock()
	res := protocol.WatchResult{}
	for _, w := range []firehose.Window{firehose.WindowRecent, firehose.WindowAll} {
		b, err := h.leaderboard(ctx, "", w, viewsFresh)
		if err != nil {
			return nil, h.viewsError(err)
		}
		res.Leaderboards = append(res.Leaderboards, b)
	}
	feed, err := h.feed(ctx, lobbyFeed)
	if err != nil {
		return nil, h.viewsError(err)
	}
	res.Feed = feed
	return res, nil
}

// unwatch removes the session from the lobby's watchers (also when it ends).
func (h *Hub) unwatch(s *session) {
	h.live.mu.Lock()
	delete(h.live.lobby, s)
	h.live.mu.Unlock()
}

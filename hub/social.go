package hub

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/protocol"
)

// social publishes a chat line or a reaction to the lot's room on every node.
func (s *session) social(ctx context.Context, req protocol.Request) (any, *protocol.Error) {
	s.mu.Lock()
	r, joined := s.rooms[req.Lot]
	s.mu.Unlock()
	if !joined {
		return nil, protocol.Errorf(protocol.ErrBadRequest, "join the lot before you "+req.Type)
	}
	if s.h.firehoseDown() {
		return nil, socialUnavailable(req.Type) // at once: the store does not answer
	}
	if req.Type == "chat" && !r.budgets.chat.Allow() {
		// Over the room's chat budget: counted in its next batch, not
		// published (a storm costs the firehose nothing past the budget).
		s.h.suppress(r, protocol.EventChat)
		return protocol.ChatResult{Broadcast: false}, nil
	}
	// The firehose drops a message whose ID it has seen: the ID names the
	// lot too, so a request id reused in another lot is a new message,
	// while a retry in the same lot is still published once.
	m := firehose.Message{
		Kind: firehose.KindChat, ID: s.ident.User + ":" + req.Lot + ":" + req.ID, Lot: req.Lot, Event: protocol.EventChat, At: time.Now(),
		Region: s.region, Actor: s.ident.User,
	}
	if req.Type == "chat" {
		m.Data, _ = json.Marshal(protocol.ChatData{User: s.ident.User, Region: s.region, Text: req.Text})
	} else {
		m.Kind, m.Event = firehose.KindReaction, protocol.EventReaction
		m.Data, _ = json.Marshal(protocol.ReactionData{User: s.ident.User, Region: s.region, Emoji: req.Emoji})
		m.Tally = &firehose.Tally{User: s.ident.User, Emoji: req.Emoji}
	}
	pctx, cancel := context.WithTimeout(ctx, socialTimeout)
	err := s.h.fh.Publish(pctx, m)
	cancel()
	if err != nil {
		return nil, s.h.socialError(req.Type, err)
	}
	if req.Type == "chat" {
		return protocol.ChatResult{Broadcast: true}, nil
	}
	return struct{}{}, nil
}

package hub

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// commandTimeout bounds one command, ledger retries included.
const commandTimeout = 15 * time.Second

// handle parses, rate-limits and runs one request, and replies.
func (s *session) handle(frame []byte) {
	req, perr := protocol.ParseRequest(frame)
	typ := req.Type
	if !slices.Contains(protocol.RequestTypes(), typ) {
		typ = "invalid" // keeps the metric's label set bounded
	}
	// Every frame counts against the rate limits, the invalid ones more:
	// otherwise garbage costs the server a reply each and never a 4029.
	limitAs := req.Type
	if perr != nil {
		limitAs = "invalid"
	}
	if s.limited(limitAs) {
		perr = protocol.Errorf(protocol.ErrRateLimited, "too many requests; slow down")
		perr.RetryAfterMS = max(1, s.retryAfter(req.Type).Milliseconds())
	}
	var result any
	if perr == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), commandTimeout)
		result, perr = s.run(ctx, req)
		cancel()
	}
	if perr != nil {
		s.h.metrics.commands.WithLabelValues(typ, perr.Code).Inc()
		s.reply(errorReply(req.ID, perr))
		return
	}
	if _, done := result.(alreadyReplied); done {
		s.h.metrics.commands.WithLabelValues(typ, "ok").Inc()
		return
	}
	r, err := okReply(req.ID, result)
	if err != nil {
		s.h.metrics.commands.WithLabelValues(typ, protocol.ErrInternal).Inc()
		s.reply(errorReply(req.ID, protocol.Errorf(protocol.ErrInternal, "could not encode the result")))
		return
	}
	s.h.metrics.commands.WithLabelValues(typ, "ok").Inc()
	s.reply(r)
}

func (s *session) actor(req protocol.Request) ledger.Actor {
	return ledger.Actor{User: s.ident.User, Region: s.region, RequestID: req.ID}
}

// run executes one validated request and returns its result.
func (s *session) run(ctx context.Context, req protocol.Request) (any, *protocol.Error) {
	h := s.h
	var lot uuid.UUID
	if req.Lot != "" {
		lot = uuid.MustParse(req.Lot) // validated by ParseRequest
	}
	switch req.Type {
	case "ping":
		return struct{}{}, nil
	case "wallet":
		w, err := h.ledger.Wallet(ctx, s.ident.User)
		if err != nil {
			return nil, h.protocolError(err)
		}
		return map[string]any{"wallet": walletOf(w)}, nil
	case "join":
		return s.join(ctx, req, lot)
	case "leave":
		s.leave(ctx, req.Lot)
		return struct{}{}, nil
	case "chat", "react":
		return s.social(ctx, req)
	case "watch":
		return s.watch(ctx)
	case "unwatch":
		h.unwatch(s)
		return struct{}{}, nil
	}

	// Host commands need the host role as well as the lot's ownership
	// (which the ledger checks): a bidder- or bot-only token for a host's
	// user name must not run the host's lots.
	if (req.Type == "tick" || req.Type == "open" || req.Type == "close") && !s.ident.Has(RoleHost) {
		return nil, protocol.Errorf(protocol.ErrForbidden, req.Type+" needs the host role")
	}
	var (
		result any
		events []ledger.Event
		err    error
	)
	a := s.actor(req)
	switch req.Type {
	case "bid":
		var r ledger.BidResult
		r, events, err = h.ledger.PlaceBid(ctx, a, lot, req.Amount, req.Max)
		result = protocol.BidResult{Amount: r.Amount, High: r.High, Seq: r.Seq}
	case "claim":
		var r ledger.PurchaseResult
		r, events, err = h.ledger.ClaimDutch(ctx, a, lot, req.Qty, req.MaxPrice)
		result = protocol.PurchaseResult{Price: r.Price, Qty: r.Qty, Seq: r.Seq}
	case "buy":
		var r ledger.PurchaseResult
		r, events, err = h.ledger.BuyDrop(ctx, a, lot, req.Qty)
		result = protocol.PurchaseResult{Price: r.Price, Qty: r.Qty, Seq: r.Seq}
	case "tick":
		var r ledger.TickResult
		from := int64(-1)
		if req.Step != nil {
			from = *req.Step
		}
		r, events, err = h.ledger.TickDutch(ctx, a, lot, from)
		result = protocol.TickResult{Price: r.Price, Step: r.Step, Seq: r.Seq}
	case "open":
		var r ledger.LotResult
		r, events, err = h.ledger.OpenLot(ctx, a, lot)
		result = protocol.SeqResult{Seq: r.Seq}
	case "close":
		var r ledger.LotResult
		r, events, err = h.ledger.CloseLot(ctx, a, lot)
		result = protocol.SeqResult{Seq: r.Seq}
	default:
		return nil, protocol.Errorf(protocol.ErrBadRequest, "unknown type "+req.Type)
	}
	if err != nil {
		return nil, h.protocolError(err)
	}
	h.deliverLocal(events)
	h.publish(ctx, events) // beside the reply, never waited for (publisher.go)
	if len(events) == 0 && (req.Type == "bid" || req.Type == "claim" || req.Type == "buy") {
		// A change without an event (a raised proxy maximum) or a replay:
		// the wallet push that events carry must come from here.
		go h.pushWallet(context.Background(), s.ident.User)
	}
	return result, nil
}

// alreadyReplied is the result of a command that sent its own reply.
type alreadyReplied struct{}

package hub

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"slices"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// dispatch feeds every firehose message to this node's rooms and users,
// spread over DispatchShards workers by lot: a lot's messages keep their
// order on one worker, and a busy room delays only the lots that share its
// worker, never the node. Each worker has two lines, money (ledger events)
// and social (chat, reactions, presence), and takes money first: a bid
// never waits behind a chat storm. Each kind keeps its own order.
func (h *Hub) dispatch(ctx context.Context, msgs <-chan firehose.Message) {
	shards := make([]dispatchShard, h.opts.DispatchShards)
	for i := range shards {
		shards[i] = dispatchShard{money: make(chan firehose.Message, 1024), social: make(chan firehose.Message, socialBacklog)}
		h.loop(func() { h.dispatchShard(ctx, shards[i]) })
	}
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			sh := shards[shardOf(m.Lot, len(shards))]
			if m.Kind != firehose.KindLedger {
				// A full social line must not hold up the ledger events
				// behind it on the stream: the message is counted as not
				// shown instead of waited for.
				select {
				case sh.social <- m:
				default:
					h.socialOverflow(m)
				}
				continue
			}
			select {
			case sh.money <- m:
			case <-ctx.Done():
				return
			}
		}
	}
}

// socialBacklog is how many social messages a dispatch worker holds before
// it drops them (counted): thousands of lines, far more than a room shows.
const socialBacklog = 4096

// dispatchShard is one worker's two lines.
type dispatchShard struct {
	money, social chan firehose.Message
}

func shardOf(lot string, n int) int {
	f := fnv.New32a()
	_, _ = f.Write([]byte(lot))
	return int(f.Sum32() % uint32(n))
}

func (h *Hub) dispatchShard(ctx context.Context, sh dispatchShard) {
	for {
		select {
		case m := <-sh.money:
			h.onLedger(m)
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return
		case m := <-sh.money:
			h.onLedger(m)
		case m := <-sh.social:
			h.onSocial(m)
		}
	}
}

func (h *Hub) onLedger(m firehose.Message) {
	if ev, ok := eventOf(m); ok {
		h.onLedgerEvent(ev)
		h.onLedgerMessage(m, ev)
	}
}

// socialOverflow counts a social message a full dispatch line dropped, in
// its room's next batch.
// The dispatcher never waits for the room's lock here (a fan-out may hold
// it, and every lot's ledger events wait behind the dispatcher): when the
// lock is taken the count goes to the room's overflow, which its next
// flush — due, as the room is busy — reports.
func (h *Hub) socialOverflow(m firehose.Message) {
	r := h.existingRoom(m.Lot)
	if r == nil {
		h.metrics.suppressed.WithLabelValues(m.Event).Inc()
		return
	}
	if r.mu.TryLock() {
		h.suppressLocked(r, m.Event)
		r.mu.Unlock()
		return
	}
	h.metrics.suppressed.WithLabelValues(m.Event).Inc()
	r.social.addOverflow(m.Event)
}

// deliverLocal hands events this node just committed to its own sessions
// at once, before they make the round trip through the firehose (whose
// copy the rooms then drop by seq).
func (h *Hub) deliverLocal(events []ledger.Event) {
	for _, ev := range events {
		h.onLedgerEvent(ev)
	}
}

// onLedgerEvent pushes what the event means to the users it concerns, once
// per event on this node, and offers it to the lot's room.
func (h *Hub) onLedgerEvent(ev ledger.Event) {
	if h.personal.add(ledger.EventKey{Lot: ev.Lot, Seq: ev.Seq}) {
		h.pushPersonal(ev)
	}
	if r := h.existingRoom(ev.Lot.String()); r != nil {
		h.offer(r, ev)
	}
}

func (h *Hub) onSocial(m firehose.Message) {
	if m.Event == protocol.EventPresence {
		var d protocol.PresenceData
		if json.Unmarshal(m.Data, &d) == nil {
			asOf := m.AsOf
			if asOf.IsZero() {
				asOf = m.At
			}
			h.presence.published(m.Lot, d.Count, asOf)
		}
	}
	if m.Kind == firehose.KindReaction {
		h.onReaction(m.Lot)
	}
	r := h.existingRoom(m.Lot)
	if r == nil {
		return
	}
	frame := socialFrame(m)
	r.mu.Lock()
	if m.Kind == firehose.KindChat && !r.chat.add(m.Seq, frame) {
		r.mu.Unlock()
		return // the room has it: delivered again by the stream
	}
	h.queueSocial(r, m.Event, frame)
	r.mu.Unlock()
}

// pushPersonal sends the outbid notice and the changed wallets to the users
// an event concerns, on every session they have on this node. The wallets
// come with the event; only an event without them (one the outbox relay
// published) costs a wallet read.
func (h *Hub) pushPersonal(ev ledger.Event) {
	if ev.Kind == ledger.EventBid {
		data, err := ev.DecodeData()
		if d, ok := data.(ledger.BidData); err == nil && ok && d.Outbid != "" {
			if ss := h.userSessions(d.Outbid); len(ss) > 0 {
				frame, _ := json.Marshal(protocol.Outbid{Type: "outbid", Lot: ev.Lot.String(), Amount: d.Amount, ByRegion: d.BidderRegion})
				for _, s := range ss {
					s.send(frame)
				}
			}
		}
	}
	for _, w := range ev.Balances {
		h.pushWalletState(w)
	}
	if len(ev.Balances) == len(ev.Wallets) {
		return // every changed wallet came with the event: the common case
	}
	for _, u := range ev.Wallets {
		carried := slices.ContainsFunc(ev.Balances, func(w ledger.Wallet) bool { return w.User == u })
		if !carried && h.hasSessions(u) {
			go h.pushWallet(context.Background(), u)
		}
	}
}

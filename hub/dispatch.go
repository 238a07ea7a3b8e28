package hub

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// dispatch feeds every firehose message to this node's rooms and users.
func (h *Hub) dispatch(ctx context.Context, msgs <-chan firehose.Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			if m.Kind == firehose.KindLedger {
				h.onLedgerEvent(ctx, m)
			} else {
				h.onSocial(m)
			}
		}
	}
}

func (h *Hub) onLedgerEvent(ctx context.Context, m firehose.Message) {
	ev, ok := eventOf(m)
	if !ok {
		return
	}
	if h.personal.add(ledger.EventKey{Lot: ev.Lot, Seq: ev.Seq}) {
		h.pushPersonal(ev)
	}
	if r := h.existingRoom(m.Lot); r != nil {
		r.mu.Lock()
		if !r.dead {
			h.deliver(ctx, r, []ledger.Event{ev})
		}
		r.mu.Unlock()
	}
}

func (h *Hub) onSocial(m firehose.Message) {
	r := h.existingRoom(m.Lot)
	if r == nil {
		return
	}
	frame := socialFrame(m)
	r.mu.Lock()
	h.broadcast(r, frame)
	r.mu.Unlock()
}

// pushPersonal sends outbid notices and fresh wallets to the users a ledger
// event concerns, on every session they have on this node.
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
	for _, u := range ev.Wallets {
		if len(h.userSessions(u)) > 0 {
			go h.pushWallet(context.Background(), u)
		}
	}
}

// pushWallet reads the user's wallet and sends it to their sessions here.
// One push per user runs at a time, so the last one sent is the newest read.
func (h *Hub) pushWallet(ctx context.Context, user string) {
	mu, _ := h.walletMu.LoadOrStore(user, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	ss := h.userSessions(user)
	if len(ss) == 0 {
		return
	}
	w, err := h.ledger.Wallet(ctx, user)
	if err != nil {
		h.log.Warn().Err(err).Str("user", user).Msg("read wallet to push")
		return
	}
	frame, _ := json.Marshal(protocol.WalletMsg{Type: "wallet", Wallet: walletOf(w)})
	for _, s := range ss {
		s.send(frame)
	}
}

package hub

import (
	"context"
	"encoding/json"

	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// pushWalletState sends a wallet to its owner's sessions on this node
// unless they already have that version or a newer one: events of
// different lots reach the node on different workers, so a user's wallets
// can arrive out of order, and the newest must be the one left showing.
func (h *Hub) pushWalletState(w ledger.Wallet) {
	h.walletMu.Lock()
	defer h.walletMu.Unlock()
	if sent, ok := h.walletSent[w.User]; ok && w.Version != 0 && w.Version <= sent {
		return
	}
	ss := h.userSessions(w.User)
	if len(ss) == 0 {
		return
	}
	h.walletSent[w.User] = w.Version
	frame, _ := json.Marshal(protocol.WalletMsg{Type: "wallet", Wallet: walletOf(w)})
	for _, s := range ss {
		s.send(frame)
	}
}

// noteWalletSent records a wallet sent outside pushWalletState (the
// welcome frame's), so an older push arriving later is not shown after it.
func (h *Hub) noteWalletSent(w ledger.Wallet) {
	h.walletMu.Lock()
	defer h.walletMu.Unlock()
	if w.Version > h.walletSent[w.User] {
		h.walletSent[w.User] = w.Version
	}
}

// forgetWallet drops what was sent to a user who has no session left here.
func (h *Hub) forgetWallet(user string) {
	h.walletMu.Lock()
	defer h.walletMu.Unlock()
	if !h.hasSessions(user) {
		delete(h.walletSent, user)
	}
}

// pushWallet reads the user's wallet and pushes it: for changes that came
// without the wallet (a raised proxy maximum, a deposit, a relayed event).
func (h *Hub) pushWallet(ctx context.Context, user string) {
	if !h.hasSessions(user) {
		return
	}
	w, err := h.ledger.Wallet(ctx, user)
	if err != nil {
		h.log.Warn().Err(err).Str("user", user).Msg("read wallet to push")
		return
	}
	h.pushWalletState(w)
}

package hub

import (
	"net/http"

	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// activityLots is how many lots GET /api/me/activity lists.
const activityLots = 50

// getActivity is GET /api/me/activity: the token's user's bids (with where
// they stand), claims, purchases and holds, lot by lot, from the ledger;
// and the listed open and recently closed lots they host, with proceeds.
func (h *Hub) getActivity(w http.ResponseWriter, r *http.Request) {
	id, e := h.identity(r)
	if e != nil {
		writeError(w, e)
		return
	}
	acts, err := h.ledger.Activity(r.Context(), id.User, activityLots)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	out := protocol.Activity{User: id.User, Lots: make([]protocol.LotActivity, 0, len(acts)), Hosting: []protocol.HostedLot{}}
	for _, a := range acts {
		out.Lots = append(out.Lots, protocol.LotActivity{
			Lot: snapshot(a.Lot, h.presence.count(a.Lot.ID.String())), Standing: a.Standing(id.User),
			Bids: a.Bids, TopBid: a.TopBid, Bought: a.Bought, Paid: a.Paid, Held: a.Held, Earned: a.Earned,
			At: msTime(a.LastAtMS),
		})
	}
	if id.Has(RoleHost) {
		open, recent, err := h.ledger.LobbyLots(r.Context(), lobbyOpen, lobbyRecent)
		if err != nil {
			writeError(w, h.protocolError(err))
			return
		}
		for _, l := range append(open, recent...) {
			if l.Host == id.User {
				out.Hosting = append(out.Hosting, hostedLot(l, h.presence.count(l.ID.String())))
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func hostedLot(l *ledger.Lot, watchers int) protocol.HostedLot {
	return protocol.HostedLot{Lot: snapshot(l, watchers), Proceeds: l.Proceeds}
}

// getConfig is GET /api/config: what the pages need to know of this
// server's mode — demo sign-in, and whether card top-ups are on.
func (h *Hub) getConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"demo": h.tokens.Demo(), "card_topups": h.opts.Stripe.Enabled()})
}

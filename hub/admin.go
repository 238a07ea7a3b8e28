package hub

import (
	"context"
	"net/http"

	"github.com/lotzero/lotzero/ledger"
)

// postCredit is an operator putting money into a wallet from outside the
// ledger (a bank transfer received, a goodwill credit): POST
// /api/admin/credit {"user", "amount", "ref", "create"}. The reference is
// the idempotency key — the same ref credits once, whoever repeats it — and
// the entry names the operator. Operator role only, in every mode.
func (h *Hub) postCredit(w http.ResponseWriter, r *http.Request) {
	id, ok := h.operator(w, r, "crediting a wallet")
	if !ok {
		return
	}
	var body struct {
		User   string `json:"user"`
		Amount int64  `json:"amount"`
		Ref    string `json:"ref"`
		Create bool   `json:"create"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	operator := ledger.Actor{User: id.User, Region: requestRegion(r), RequestID: "credit"}
	res, err := h.ledger.Credit(r.Context(), operator, body.User, body.Amount, body.Ref, body.Create)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	h.log.Info().Str("operator", id.User).Str("user", body.User).Int64("amount", body.Amount).Str("ref", body.Ref).Msg("operator credit")
	go h.pushWallet(context.Background(), body.User)
	writeJSON(w, http.StatusOK, map[string]any{"user": res.User, "wallet": walletOf(res.Wallet)})
}

package hub

import (
	"context"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
	"github.com/stripe/stripe-go/v82"
)

// Payments is the ledger's view for money leaving the platform: refunds and
// disputes taken back (Debit, FrozenWallets) and host payouts.
type Payments interface {
	Debit(ctx context.Context, c ledger.Claim, region string) (ledger.DebitResult, error)
	ReverseDispute(ctx context.Context, r ledger.Reversal, region string) (ledger.DebitResult, error)
	FrozenWallets(ctx context.Context, limit int) ([]ledger.FrozenWallet, error)
	RequestPayout(ctx context.Context, a ledger.Actor, amount int64) (ledger.PayoutResult, error)
	StartTransfer(ctx context.Context, by ledger.Actor, id uuid.UUID, destination string) (ledger.Payout, string, bool, error)
	SettlePayout(ctx context.Context, by ledger.Actor, id uuid.UUID, s ledger.Settlement) (ledger.PayoutResult, error)
	Payouts(ctx context.Context, user, status string, limit int) ([]ledger.Payout, error)
}

// payoutView is a payout on the wire.
type payoutView struct {
	ID        string  `json:"id"`
	User      string  `json:"user"`
	Amount    int64   `json:"amount"`
	Status    string  `json:"status"`
	CreatedAt string  `json:"created_at"`
	SettledAt *string `json:"settled_at,omitempty"`
	Transfer  string  `json:"transfer,omitempty"`
	Reason    string  `json:"reason,omitempty"`
}

func payoutOf(p ledger.Payout) payoutView {
	v := payoutView{ID: p.ID.String(), User: p.User, Amount: p.Amount, Status: p.Status,
		CreatedAt: protocol.Time(p.CreatedAt), Transfer: p.Transfer, Reason: p.Reason}
	if p.SettledAt != nil {
		at := protocol.Time(*p.SettledAt)
		v.SettledAt = &at
	}
	return v
}

func payoutsOf(ps []ledger.Payout) []payoutView {
	out := make([]payoutView, 0, len(ps))
	for _, p := range ps {
		out = append(out, payoutOf(p))
	}
	return out
}

// postPayout is a host asking to pay out earnings: POST /api/wallet/payout
// {"amount", "id"}, host role. The amount is held at once; an operator or a
// Stripe transfer settles it (postAdminPayout). id is the client's
// idempotency key, like a WebSocket request's: the same id answers the
// first outcome.
func (h *Hub) postPayout(w http.ResponseWriter, r *http.Request) {
	id, ok := h.withRole(w, r, RoleHost, "paying out earnings")
	if !ok {
		return
	}
	var body struct {
		Amount int64  `json:"amount"`
		ID     string `json:"id"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	if n := utf8.RuneCountInString(body.ID); n < 1 || n > protocol.MaxIDLen {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "id must be 1..64 characters (the payout request's idempotency key)"))
		return
	}
	if e := protocol.CheckText("id", body.ID, false); e != nil {
		writeError(w, e)
		return
	}
	res, err := h.ledger.RequestPayout(r.Context(), ledger.Actor{User: id.User, Region: requestRegion(r), RequestID: body.ID}, body.Amount)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	h.log.Info().Str("user", id.User).Str("payout", res.Payout.ID.String()).Int64("amount", res.Payout.Amount).Msg("payout requested")
	go h.pushWallet(context.Background(), id.User)
	writeJSON(w, http.StatusOK, map[string]any{"payout": payoutOf(res.Payout), "wallet": walletOf(res.Wallet)})
}

// getPayouts lists the caller's payouts, newest first (50).
func (h *Hub) getPayouts(w http.ResponseWriter, r *http.Request) {
	id, e := h.identity(r)
	if e != nil {
		writeError(w, e)
		return
	}
	ps, err := h.ledger.Payouts(r.Context(), id.User, "", 50)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"payouts": payoutsOf(ps)})
}

// withRole authenticates a request whose token must carry role; what
// names the action in the refusal.
func (h *Hub) withRole(w http.ResponseWriter, r *http.Request, role, what string) (Identity, bool) {
	id, e := h.identity(r)
	if e != nil {
		writeError(w, e)
		return id, false
	}
	if !id.Has(role) {
		writeError(w, protocol.Errorf(protocol.ErrForbidden, what+" needs the "+role+" role"))
		return id, false
	}
	return id, true
}

// operator authenticates an operator's request.
func (h *Hub) operator(w http.ResponseWriter, r *http.Request, what string) (Identity, bool) {
	return h.withRole(w, r, RoleOperator, what)
}

// getAdminPayouts lists every user's payouts for an operator, newest
// first (200): ?status=pending|paid|failed narrows it.
func (h *Hub) getAdminPayouts(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.operator(w, r, "listing payouts"); !ok {
		return
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", ledger.PayoutPending, ledger.PayoutPaid, ledger.PayoutFailed:
	default:
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "status must be pending, paid or failed"))
		return
	}
	ps, err := h.ledger.Payouts(r.Context(), "", status, 200)
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"payouts": payoutsOf(ps)})
}

// postAdminPayout settles a pending payout, once: POST
// /api/admin/payouts/{id} with {"status":"paid","transfer"?} (the operator
// paid it outside the platform), {"status":"failed","reason"} (released
// back to the host), or {"stripe_account":"acct_…"} (a Stripe Transfer to
// the host's connected account, then paid — or failed if Stripe refuses
// it). Operator role only. Settling again with the same outcome answers the
// payout; with another it is forbidden.
func (h *Hub) postAdminPayout(w http.ResponseWriter, r *http.Request) {
	op, ok := h.operator(w, r, "settling a payout")
	if !ok {
		return
	}
	pid, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "the payout id must be a UUID"))
		return
	}
	var body struct {
		Status        string `json:"status"`
		Transfer      string `json:"transfer"`
		Reason        string `json:"reason"`
		StripeAccount string `json:"stripe_account"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	for name, v := range map[string]string{"transfer": body.Transfer, "reason": body.Reason, "stripe_account": body.StripeAccount} {
		if e := protocol.CheckText(name, v, false); e != nil {
			writeError(w, e)
			return
		}
	}
	by := ledger.Actor{User: op.User, Region: requestRegion(r)}
	var res ledger.PayoutResult
	switch {
	case body.StripeAccount != "":
		if body.Status != "" && body.Status != ledger.PayoutPaid || body.Transfer != "" || body.Reason != "" {
			writeError(w, protocol.Errorf(protocol.ErrBadRequest, "a Stripe payout takes stripe_account alone"))
			return
		}
		res, err = h.transferPayout(r.Context(), by, pid, body.StripeAccount)
	case body.Status == ledger.PayoutPaid:
		res, err = h.ledger.SettlePayout(r.Context(), by, pid, ledger.Settlement{Paid: true, Transfer: body.Transfer})
	case body.Status == ledger.PayoutFailed:
		if body.Transfer != "" {
			writeError(w, protocol.Errorf(protocol.ErrBadRequest, "a failed payout has no transfer"))
			return
		}
		res, err = h.ledger.SettlePayout(r.Context(), by, pid, ledger.Settlement{Reason: body.Reason})
	default:
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, `status must be "paid" or "failed", or give stripe_account`))
		return
	}
	if err != nil {
		writeError(w, h.protocolError(err))
		return
	}
	h.log.Info().Str("operator", op.User).Str("payout", pid.String()).Str("status", res.Payout.Status).
		Str("user", res.Payout.User).Int64("amount", res.Payout.Amount).Str("transfer", res.Payout.Transfer).Msg("payout settled")
	go h.pushWallet(context.Background(), res.Payout.User)
	writeJSON(w, http.StatusOK, map[string]any{"payout": payoutOf(res.Payout), "wallet": walletOf(res.Wallet)})
}

// transferPayout pays a payout by a Stripe Transfer. The payout is handed
// to Stripe first (StartTransfer: from then on no operator can fail it by
// hand; a frozen wallet's payout is not handed over), then the Transfer is
// created under an idempotency key of the payout's id and with the
// payout's transfer group (transferGroup) — and the payout settled paid
// with its id. Stripe forgets idempotency keys after a day, so a retry (a
// payout handed over before) first looks the transfer up by its group and
// settles paid if one went out. Stripe refusing the first attempt (a 4xx)
// settles it failed and releases the money; a refusal of a retry (a 4xx,
// an idempotency error) says nothing about the first attempt, so the
// payout stays pending for an operator to check; no answer leaves it
// pending for a retry (busy).
func (h *Hub) transferPayout(ctx context.Context, by ledger.Actor, id uuid.UUID, account string) (ledger.PayoutResult, error) {
	if h.stripe == nil {
		return ledger.PayoutResult{}, &ledger.Error{Code: ledger.CodeNotFound, Message: "Stripe is not configured on this server"}
	}
	p, dest, retry, err := h.ledger.StartTransfer(ctx, by, id, account)
	if err != nil {
		return ledger.PayoutResult{}, err
	}
	if p.Status != ledger.PayoutPending {
		return h.ledger.SettlePayout(ctx, by, id, ledger.Settlement{Paid: p.Status == ledger.PayoutPaid, ByProvider: true,
			Transfer: p.Transfer, Reason: p.Reason})
	}
	group := transferGroup(id)
	log := h.log.With().Str("payout", id.String()).Str("user", p.User).Str("destination", dest).Bool("retry", retry).Logger()
	if retry {
		tr, err := h.findTransfer(ctx, id)
		if err != nil {
			log.Warn().Err(err).Msg("stripe: could not look up the payout's transfer; the payout stays pending for a retry")
			return ledger.PayoutResult{}, &ledger.Error{Code: ledger.CodeBusy, Message: "the payment provider did not answer; retry"}
		}
		if tr != nil {
			log.Info().Str("transfer", tr.ID).Msg("stripe transfer found by its group on a retry")
			return h.ledger.SettlePayout(ctx, by, id, ledger.Settlement{Paid: true, Transfer: tr.ID, ByProvider: true})
		}
	}
	params := &stripe.TransferCreateParams{
		Amount:        stripe.Int64(p.Amount),
		Currency:      stripe.String(h.currency()),
		Destination:   stripe.String(dest),
		TransferGroup: stripe.String(group),
	}
	params.AddMetadata("lotzero_payout", id.String())
	params.AddMetadata("lotzero_user", p.User)
	params.SetIdempotencyKey(group)
	tr, err := h.stripe.V1Transfers.Create(ctx, params)
	if err != nil {
		var se *stripe.Error
		refused := errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
			se.HTTPStatusCode != http.StatusTooManyRequests && se.HTTPStatusCode != http.StatusConflict &&
			se.Type != stripe.ErrorTypeIdempotency
		switch {
		case refused && !retry:
			log.Warn().Err(err).Msg("stripe refused the payout's transfer; released back to the host")
			return h.ledger.SettlePayout(ctx, by, id, ledger.Settlement{ByProvider: true, Reason: "stripe: " + truncate(se.Msg, 400)})
		case se != nil && (retry && refused || se.Type == stripe.ErrorTypeIdempotency):
			// A retry refused, or an idempotency error: an earlier attempt
			// may have paid. Reported, never settled failed here.
			log.Error().Err(err).Str("transfer_group", group).
				Msg("stripe refused a retried payout transfer; the payout stays pending: an operator must check Stripe for the transfer group")
			return ledger.PayoutResult{}, &ledger.Error{Code: ledger.CodeBusy, Message: "the payment provider refused a retried transfer; " +
				"the payout stays pending until an operator checks Stripe for transfer group " + group}
		}
		log.Warn().Err(err).Msg("stripe transfer not confirmed; the payout stays pending for a retry")
		return ledger.PayoutResult{}, &ledger.Error{Code: ledger.CodeBusy, Message: "the payment provider did not confirm the transfer; retry (the same transfer is asked for)"}
	}
	log.Info().Str("transfer", tr.ID).Msg("stripe transfer created")
	return h.ledger.SettlePayout(ctx, by, id, ledger.Settlement{Paid: true, Transfer: tr.ID, ByProvider: true})
}

// transferGroup names a payout's Stripe Transfer: its transfer group and
// idempotency key.
func transferGroup(id uuid.UUID) string { return "lotzero-payout-" + id.String() }

// findTransfer is the payout's transfer if Stripe has one (listed by its
// transfer group, checked again by group or metadata), or nil.
func (h *Hub) findTransfer(ctx context.Context, id uuid.UUID) (*stripe.Transfer, error) {
	params := &stripe.TransferListParams{TransferGroup: stripe.String(transferGroup(id))}
	params.Limit = stripe.Int64(10)
	for tr, err := range h.stripe.V1Transfers.List(ctx, params) {
		if err != nil {
			return nil, err
		}
		if tr.TransferGroup == transferGroup(id) || tr.Metadata["lotzero_payout"] == id.String() {
			return tr, nil
		}
	}
	return nil, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

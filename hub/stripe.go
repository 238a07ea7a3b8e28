package hub

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
)

// StripeOptions configure card top-ups through Stripe.
type StripeOptions struct {
	// SecretKey authenticates the server to Stripe's API (sk_…).
	SecretKey string
	// WebhookSecret verifies the Stripe-Signature of webhook calls (whsec_…).
	WebhookSecret string
	// APIBase points the client at another Stripe API (stripe-mock in the
	// tests). Empty means Stripe's own.
	APIBase string
	// Currency is the wallets' currency, lower case. Empty means "usd".
	Currency string
}

// Enabled reports whether top-ups are configured.
func (o StripeOptions) Enabled() bool { return o.SecretKey != "" && o.WebhookSecret != "" }

// minTopUp is Stripe's smallest USD charge, in cents.
const minTopUp = 50

// stripeClient is the Stripe API client, or nil when top-ups are off.
func newStripeClient(o StripeOptions) *stripe.Client {
	if !o.Enabled() {
		return nil
	}
	var opts []stripe.ClientOption
	if o.APIBase != "" {
		opts = append(opts, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
			URL: stripe.String(o.APIBase), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError},
		})))
	}
	return stripe.NewClient(o.SecretKey, opts...)
}

func (h *Hub) currency() string {
	if h.opts.Stripe.Currency == "" {
		return "usd"
	}
	return strings.ToLower(h.opts.Stripe.Currency)
}

// postTopUp starts a card top-up: POST /api/wallet/topup {"amount"}
// creates a Stripe PaymentIntent for the token's user (metadata
// lotzero_user) and returns what the page needs to collect the card. The
// wallet is credited only when Stripe confirms the payment (the webhook).
// An Idempotency-Key header is passed on to Stripe: a retried request
// gets the same PaymentIntent.
func (h *Hub) postTopUp(w http.ResponseWriter, r *http.Request) {
	if h.stripe == nil {
		writeError(w, protocol.Errorf(protocol.ErrNotFound, "card top-ups are not configured on this server"))
		return
	}
	id, e := h.identity(r)
	if e != nil {
		writeError(w, e)
		return
	}
	var body struct {
		Amount int64 `json:"amount"`
	}
	if e := decodeBody(r, &body); e != nil {
		writeError(w, e)
		return
	}
	if body.Amount < minTopUp || body.Amount > ledger.MaxAmount {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "amount must be between 50 and 2^53-1 minor units"))
		return
	}
	params := &stripe.PaymentIntentCreateParams{
		Amount:                  stripe.Int64(body.Amount),
		Currency:                stripe.String(h.currency()),
		AutomaticPaymentMethods: &stripe.PaymentIntentCreateAutomaticPaymentMethodsParams{Enabled: stripe.Bool(true)},
	}
	params.AddMetadata("lotzero_user", id.User)
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if _, e := idempotencyKey(r); e != nil {
			writeError(w, e)
			return
		}
		params.SetIdempotencyKey(id.User + ":" + key)
	}
	pi, err := h.stripe.V1PaymentIntents.Create(r.Context(), params)
	if err != nil {
		h.log.Warn().Err(err).Str("user", id.User).Msg("stripe: create PaymentIntent")
		writeError(w, protocol.Errorf(protocol.ErrBusy, "the payment provider did not answer; nothing was charged, try again"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"payment_intent": pi.ID, "client_secret": pi.ClientSecret,
		"amount": body.Amount, "currency": h.currency()})
}

// postStripeWebhook takes Stripe's events: the Stripe-Signature header is
// verified with the webhook secret (the library's check, its five-minute
// tolerance included) before anything is read. payment_intent.succeeded
// credits the payment's user once — by payment, so Stripe's retries,
// replays and a second event for the same payment credit nothing more —
// and is answered 2xx only after the credit committed. charge.refunded,
// charge.dispute.created and charge.dispute.funds_withdrawn take money
// back (takeBack); charge.dispute.funds_reinstated and
// charge.dispute.closed as won give a dispute back (giveBack). Every other event
// type is acknowledged and ignored; a payment in another currency, or
// whose amount received differs from its amount, is ignored with a log
// line: none changes anything.
func (h *Hub) postStripeWebhook(w http.ResponseWriter, r *http.Request) {
	if h.stripe == nil {
		writeError(w, protocol.Errorf(protocol.ErrNotFound, "card top-ups are not configured on this server"))
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "could not read the body"))
		return
	}
	event, err := webhook.ConstructEventWithOptions(payload, r.Header.Get("Stripe-Signature"), h.opts.Stripe.WebhookSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		h.log.Warn().Err(err).Msg("stripe webhook refused: signature")
		writeError(w, protocol.Errorf(protocol.ErrBadRequest, "invalid Stripe-Signature"))
		return
	}
	log := h.log.With().Str("event", event.ID).Str("type", string(event.Type)).Logger()
	switch event.Type {
	case "payment_intent.succeeded":
	case "charge.refunded", "charge.dispute.created", "charge.dispute.funds_withdrawn":
		h.takeBack(w, r, event, log)
		return
	case "charge.dispute.funds_reinstated", "charge.dispute.closed":
		h.giveBack(w, r, event, log)
		return
	default:
		log.Debug().Msg("stripe webhook: event type ignored")
		writeJSON(w, http.StatusOK, map[string]any{"received": true})
		return
	}
	var pi stripe.PaymentIntent
	if event.Data == nil || json.Unmarshal(event.Data.Raw, &pi) != nil || pi.ID == "" {
		log.Warn().Msg("stripe webhook: payment_intent.succeeded without a PaymentIntent; ignored")
		writeJSON(w, http.StatusOK, map[string]any{"received": true})
		return
	}
	user := pi.Metadata["lotzero_user"]
	log = log.With().Str("payment_intent", pi.ID).Str("user", user).Int64("amount", pi.AmountReceived).Logger()
	switch {
	case !protocol.ValidUser(user):
		log.Error().Msg("stripe webhook: payment without a LotZero user; ignored, needs an operator")
	case strings.ToLower(string(pi.Currency)) != h.currency():
		log.Error().Str("currency", string(pi.Currency)).Msg("stripe webhook: payment in another currency; ignored, needs an operator")
	case pi.AmountReceived <= 0 || pi.AmountReceived != pi.Amount:
		log.Error().Int64("intended", pi.Amount).Msg("stripe webhook: amount received differs from the amount; ignored, needs an operator")
	default:
		res, err := h.ledger.TopUp(r.Context(), user, pi.AmountReceived, pi.ID, "us-east-1")
		if err != nil {
			var le *ledger.Error
			if errors.As(err, &le) && le.Code != ledger.CodeBusy && le.Code != ledger.CodeInternal {
				// Refused for good (the wallet's bound): Stripe need not retry.
				log.Error().Err(err).Msg("stripe webhook: top-up refused; needs an operator (refund)")
				writeJSON(w, http.StatusOK, map[string]any{"received": true, "credited": false})
				return
			}
			log.Warn().Err(err).Msg("stripe webhook: top-up not committed; Stripe will retry")
			writeError(w, h.protocolError(err))
			return
		}
		log.Info().Int64("funded", res.Wallet.Funded).Msg("stripe top-up credited")
		go h.pushWallet(context.Background(), user)
		writeJSON(w, http.StatusOK, map[string]any{"received": true, "credited": true})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "credited": false})
}

// takeBack applies a refund (charge.refunded: the charge's refunded total)
// or a dispute (charge.dispute.created, or funds_withdrawn when an inquiry
// escalates; counted once by dispute id) to the wallet its PaymentIntent's
// top-up credited: the ledger takes what is available and freezes the
// wallet for what it cannot (ledger/debit.go), once per event and once per
// refund total or dispute. The user is the one the recorded top-up
// credited, so a payment LotZero never credited takes nothing. Answered
// 2xx after the debit committed; a payment whose top-up is not (yet)
// recorded gets 404, so Stripe sends it again later; a charge in another
// currency or without a PaymentIntent is ignored with an error log. An
// inquiry (a dispute in a warning_* status) takes no funds at Stripe and
// nothing here: acknowledged and logged.
func (h *Hub) takeBack(w http.ResponseWriter, r *http.Request, event stripe.Event, log zerolog.Logger) {
	claim := ledger.Claim{Event: event.ID}
	var currency stripe.Currency
	var decodeErr error
	if event.Data == nil {
		decodeErr = errors.New("no data")
	} else if event.Type == "charge.refunded" {
		var ch stripe.Charge
		decodeErr = json.Unmarshal(event.Data.Raw, &ch)
		claim.Kind, claim.ID, claim.Amount, currency = ledger.EntryRefund, ch.ID, ch.AmountRefunded, ch.Currency
		if ch.PaymentIntent != nil {
			claim.Payment = ch.PaymentIntent.ID
		}
	} else {
		var d stripe.Dispute
		decodeErr = json.Unmarshal(event.Data.Raw, &d)
		claim.Kind, claim.ID, claim.Amount, currency = ledger.EntryDispute, d.ID, d.Amount, d.Currency
		if d.PaymentIntent != nil {
			claim.Payment = d.PaymentIntent.ID
		}
		if decodeErr == nil && inquiry(d.Status) {
			log.Info().Str("claim", d.ID).Str("status", string(d.Status)).Msg("stripe webhook: an inquiry takes no funds; nothing taken")
			writeJSON(w, http.StatusOK, map[string]any{"received": true, "taken": 0})
			return
		}
	}
	log = log.With().Str("claim", claim.ID).Str("payment_intent", claim.Payment).Int64("amount", claim.Amount).Logger()
	switch {
	case decodeErr != nil || claim.ID == "":
		log.Error().AnErr("decode", decodeErr).Msg("stripe webhook: unreadable refund or dispute; ignored, needs an operator")
	case claim.Payment == "":
		log.Error().Msg("stripe webhook: refund or dispute without a PaymentIntent; ignored, needs an operator")
	case strings.ToLower(string(currency)) != h.currency():
		log.Error().Str("currency", string(currency)).Msg("stripe webhook: refund or dispute in another currency; ignored, needs an operator")
	default:
		res, err := h.ledger.Debit(r.Context(), claim, "us-east-1")
		switch code := ledger.CodeOf(err); {
		case err == nil:
			ev := log.Info()
			if res.Wallet.Owed > 0 {
				ev = log.Error() // reported: an operator must recover it
			}
			for _, p := range res.Released {
				log.Warn().Str("user", res.User).Str("payout", p.String()).Msg("pending payout released to pay what a refund or dispute took back")
			}
			ev.Str("user", res.User).Int64("claimed", res.Claimed).Int64("taken", res.Taken).Int64("owed", res.Wallet.Owed).
				Bool("frozen", res.Wallet.Frozen()).Msg("stripe " + claim.Kind + " taken back")
			go h.pushWallet(context.Background(), res.User)
			writeJSON(w, http.StatusOK, map[string]any{"received": true, "taken": res.Taken, "owed": res.Wallet.Owed})
			return
		case code == ledger.CodeNotFound:
			log.Warn().Err(err).Msg("stripe webhook: no top-up recorded for the payment (yet); Stripe will retry")
			writeError(w, h.protocolError(err))
			return
		case code == ledger.CodeBusy || code == ledger.CodeInternal:
			log.Warn().Err(err).Msg("stripe webhook: debit not committed; Stripe will retry")
			writeError(w, h.protocolError(err))
			return
		default:
			log.Error().Err(err).Msg("stripe webhook: debit refused; needs an operator")
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "taken": 0})
}

// inquiry reports whether a dispute is an inquiry (a warning_* status):
// Stripe withdraws no funds for it.
func inquiry(s stripe.DisputeStatus) bool {
	switch s {
	case stripe.DisputeStatusWarningNeedsResponse, stripe.DisputeStatusWarningUnderReview, stripe.DisputeStatusWarningClosed:
		return true
	}
	return false
}

// giveBack applies a won dispute (charge.dispute.funds_reinstated, or
// charge.dispute.closed with status won; any other closed dispute changes
// nothing) to the wallet it was taken from: the ledger gives the recorded
// claim back, first paying what the wallet owes (ledger/reversal.go), once
// per event and once per dispute. Answered like takeBack.
func (h *Hub) giveBack(w http.ResponseWriter, r *http.Request, event stripe.Event, log zerolog.Logger) {
	var d stripe.Dispute
	if event.Data == nil || json.Unmarshal(event.Data.Raw, &d) != nil || d.ID == "" {
		log.Error().Msg("stripe webhook: unreadable dispute; ignored, needs an operator")
		writeJSON(w, http.StatusOK, map[string]any{"received": true})
		return
	}
	rev := ledger.Reversal{Dispute: d.ID, Event: event.ID}
	if d.PaymentIntent != nil {
		rev.Payment = d.PaymentIntent.ID
	}
	log = log.With().Str("claim", d.ID).Str("payment_intent", rev.Payment).Str("status", string(d.Status)).Logger()
	switch {
	case event.Type == "charge.dispute.closed" && d.Status != stripe.DisputeStatusWon:
		log.Info().Msg("stripe webhook: dispute closed, not won; nothing given back")
	case rev.Payment == "":
		log.Error().Msg("stripe webhook: dispute without a PaymentIntent; ignored, needs an operator")
	default:
		res, err := h.ledger.ReverseDispute(r.Context(), rev, "us-east-1")
		switch code := ledger.CodeOf(err); {
		case err == nil:
			log.Info().Str("user", res.User).Int64("reversed", res.Reversed).Int64("taken", res.Taken).
				Int64("owed", res.Wallet.Owed).Msg("stripe dispute won: claim given back")
			go h.pushWallet(context.Background(), res.User)
			writeJSON(w, http.StatusOK, map[string]any{"received": true, "reversed": res.Reversed, "owed": res.Wallet.Owed})
			return
		case code == ledger.CodeNotFound || code == ledger.CodeBusy || code == ledger.CodeInternal:
			log.Warn().Err(err).Msg("stripe webhook: dispute reversal not committed; Stripe will retry")
			writeError(w, h.protocolError(err))
			return
		default:
			log.Error().Err(err).Msg("stripe webhook: dispute reversal refused; needs an operator")
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "reversed": 0})
}

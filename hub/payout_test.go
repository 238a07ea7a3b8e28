package hub

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
	"github.com/rs/zerolog"
)

// transferLedger records how transferPayout settles: a pending payout of
// 4,000 handed to the provider.
type transferLedger struct {
	Ledger // unused methods panic
	mu     sync.Mutex
	settle []ledger.Settlement
}

func (f *transferLedger) StartTransfer(_ context.Context, _ ledger.Actor, id uuid.UUID, dest string) (ledger.Payout, string, error) {
	return ledger.Payout{ID: id, User: "hal", Amount: 4000, Status: ledger.PayoutPending}, dest, nil
}

func (f *transferLedger) SettlePayout(_ context.Context, _ ledger.Actor, id uuid.UUID, s ledger.Settlement) (ledger.PayoutResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle = append(f.settle, s)
	status := ledger.PayoutFailed
	if s.Paid {
		status = ledger.PayoutPaid
	}
	return ledger.PayoutResult{Payout: ledger.Payout{ID: id, Status: status, Transfer: s.Transfer}}, nil
}

// TestTransferPayoutOutcomes: how Stripe's answer to the Transfer settles
// the payout. stripe-mock (the e2e tests) always accepts a transfer; the
// refusals here come from a server answering as Stripe does. A 4xx refusal
// settles it failed (the money released), with the idempotency key the
// payout's id; no answer (a 5xx) leaves it pending and answers busy; a
// transfer settles it paid with its id.
func TestTransferPayoutOutcomes(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		want   *ledger.Settlement // nil: not settled
		code   ledger.Code
	}{
		{"refused", http.StatusBadRequest, `{"error":{"type":"invalid_request_error","message":"No such destination: 'acct_x'"}}`,
			&ledger.Settlement{ByProvider: true, Reason: "stripe: No such destination: 'acct_x'"}, ""},
		{"no answer", http.StatusInternalServerError, `{"error":{"type":"api_error","message":"boom"}}`, nil, ledger.CodeBusy},
		{"paid", http.StatusOK, `{"id":"tr_123","object":"transfer","amount":4000,"currency":"usd"}`,
			&ledger.Settlement{Paid: true, ByProvider: true, Transfer: "tr_123"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := uuid.New()
			var keys []string
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/transfers" {
					t.Errorf("unexpected call %s", r.URL.Path)
				}
				keys = append(keys, r.Header.Get("Idempotency-Key"))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			defer api.Close()
			f := &transferLedger{}
			opts := StripeOptions{SecretKey: "sk_test_1", WebhookSecret: "whsec_1", APIBase: api.URL}
			h := &Hub{ledger: f, stripe: newStripeClient(opts), log: zerolog.Nop()}
			h.opts.Stripe = opts
			_, err := h.transferPayout(context.Background(), ledger.Actor{User: "ops"}, id, "acct_x")
			if got := ledger.CodeOf(err); got != c.code {
				t.Fatalf("error %v, want code %q", err, c.code)
			}
			switch {
			case c.want == nil && len(f.settle) != 0:
				t.Fatalf("settled %+v, want pending", f.settle)
			case c.want != nil && (len(f.settle) != 1 || f.settle[0] != *c.want):
				t.Fatalf("settled %+v, want %+v", f.settle, *c.want)
			}
			if len(keys) == 0 || !strings.HasSuffix(keys[0], id.String()) {
				t.Fatalf("idempotency keys %v, want the payout id", keys)
			}
		})
	}
}

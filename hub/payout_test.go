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
// 4,000 handed to the provider — for the first time, or again (retry).
type transferLedger struct {
	Ledger // unused methods panic
	retry  bool
	mu     sync.Mutex
	settle []ledger.Settlement
}

func (f *transferLedger) StartTransfer(_ context.Context, _ ledger.Actor, id uuid.UUID, dest string) (ledger.Payout, string, bool, error) {
	return ledger.Payout{ID: id, User: "hal", Amount: 4000, Status: ledger.PayoutPending}, dest, f.retry, nil
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

// TestTransferPayoutOutcomes: how Stripe's answers settle the payout.
// stripe-mock (the e2e tests) always accepts a transfer; the refusals here
// come from a server answering as Stripe does. On the first attempt a 4xx
// refusal settles it failed (the money released); no answer (a 5xx) or an
// idempotency error leaves it pending; a transfer settles it paid with its
// id. A retry first lists the payout's transfer group: a transfer found
// settles it paid without asking again; a refusal of a retry (the first
// attempt may have paid) leaves it pending. Every transfer asked for
// carries the payout's id as idempotency key and transfer group.
func TestTransferPayoutOutcomes(t *testing.T) {
	const idem = `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}`
	const refusal = `{"error":{"type":"invalid_request_error","message":"No such destination: 'acct_x'"}}`
	for _, c := range []struct {
		name   string
		retry  bool
		list   string // the transfer group's listing; "" for none
		status int
		body   string
		want   *ledger.Settlement // nil: not settled
		code   ledger.Code
	}{
		{"refused", false, "", http.StatusBadRequest, refusal,
			&ledger.Settlement{ByProvider: true, Reason: "stripe: No such destination: 'acct_x'"}, ""},
		{"no answer", false, "", http.StatusInternalServerError, `{"error":{"type":"api_error","message":"boom"}}`, nil, ledger.CodeBusy},
		{"idempotency error", false, "", http.StatusBadRequest, idem, nil, ledger.CodeBusy},
		{"paid", false, "", http.StatusOK, `{"id":"tr_123","object":"transfer","amount":4000,"currency":"usd"}`,
			&ledger.Settlement{Paid: true, ByProvider: true, Transfer: "tr_123"}, ""},
		{"retry finds the transfer", true, `{"id":"tr_old","object":"transfer","amount":4000,"transfer_group":"GROUP"}`, 0, "",
			&ledger.Settlement{Paid: true, ByProvider: true, Transfer: "tr_old"}, ""},
		{"retry refused", true, "", http.StatusBadRequest, `{"error":{"type":"invalid_request_error","message":"Insufficient funds in Stripe account"}}`,
			nil, ledger.CodeBusy},
		{"retry idempotency error", true, "", http.StatusBadRequest, idem, nil, ledger.CodeBusy},
		{"retry paid", true, `{"id":"tr_other","object":"transfer","amount":1,"transfer_group":"someone-else"}`, http.StatusOK,
			`{"id":"tr_new","object":"transfer","amount":4000,"currency":"usd"}`,
			&ledger.Settlement{Paid: true, ByProvider: true, Transfer: "tr_new"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := uuid.New()
			group := "lotzero-payout-" + id.String()
			var mu sync.Mutex
			var keys, groups, listed []string
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if r.URL.Path != "/v1/transfers" {
					t.Errorf("unexpected call %s", r.URL.Path)
				}
				w.Header().Set("Content-Type", "application/json")
				if r.Method == http.MethodGet {
					listed = append(listed, r.URL.Query().Get("transfer_group"))
					data := "[]"
					if c.list != "" {
						data = "[" + strings.ReplaceAll(c.list, "GROUP", group) + "]"
					}
					_, _ = w.Write([]byte(`{"object":"list","url":"/v1/transfers","has_more":false,"data":` + data + `}`))
					return
				}
				_ = r.ParseForm()
				keys = append(keys, r.Header.Get("Idempotency-Key"))
				groups = append(groups, r.PostForm.Get("transfer_group"))
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			defer api.Close()
			f := &transferLedger{retry: c.retry}
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
			mu.Lock()
			defer mu.Unlock()
			if c.retry != (len(listed) == 1) || c.retry && listed[0] != group {
				t.Fatalf("listed transfer groups %v on retry=%v", listed, c.retry)
			}
			if c.status == 0 {
				if len(keys) != 0 {
					t.Fatalf("asked for a transfer again although one was found: %v", keys)
				}
				return
			}
			if len(keys) != 1 || keys[0] != group || groups[0] != group {
				t.Fatalf("idempotency keys %v and transfer groups %v, want %s", keys, groups, group)
			}
		})
	}
}

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
	"github.com/stripe/stripe-go/v82/webhook"
)

const webhookSecret = "whsec_lotzero_test_0123456789abcdef"

// stripeMock starts Stripe's API mock (installed by .ci/prepare) on a free
// port and returns its base URL.
func stripeMock(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("LOTZERO_STRIPE_MOCK")
	if bin == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		bin = filepath.Join(cache, "lotzero", "bin", "stripe-mock")
	}
	if _, err := os.Stat(bin); err != nil {
		if p, lerr := exec.LookPath("stripe-mock"); lerr == nil {
			bin = p
		} else {
			t.Fatalf("stripe-mock not found at %s or on PATH: run `bash .ci/prepare` (make test does), which installs it", bin)
		}
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-http-addr", addr)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stripe-mock did not start listening")
		}
	}
	return "http://" + addr
}

// stripeEvent is a payment_intent.succeeded event as Stripe sends it.
func stripeEvent(id, pi, user string, amount, received int64, currency string) []byte {
	body, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": "payment_intent.succeeded", "api_version": "2025-01-27.acacia",
		"created": time.Now().Unix(), "livemode": false,
		"data": map[string]any{"object": map[string]any{
			"id": pi, "object": "payment_intent", "amount": amount, "amount_received": received,
			"currency": currency, "status": "succeeded", "metadata": map[string]string{"lotzero_user": user},
		}},
	})
	return body
}

func postWebhook(t *testing.T, url string, payload []byte, header string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/stripe/webhook", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func signed(payload []byte, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: webhookSecret, Timestamp: at}).Header
}

// TestStripeTopUp: a card top-up against Stripe's API mock and webhook
// payloads signed as Stripe signs them, on a production server: the top-up
// creates a PaymentIntent; a valid payment_intent.succeeded credits the
// wallet once; the same event replayed and a second event for the same
// payment credit nothing more; a tampered body, a stale signature, another
// currency and a short payment change nothing; the audit is clean.
func TestStripeTopUp(t *testing.T) {
	api := stripeMock(t)
	s := startServer(t, "", "LOTZERO_AUTH_SECRET="+prodSecret, "STRIPE_SECRET_KEY=sk_test_123",
		"STRIPE_WEBHOOK_SECRET="+webhookSecret, "STRIPE_API_BASE="+api)
	ctx := ctxT(t, 60*time.Second)
	now := time.Now()
	dora := mint(t, prodSecret, "dora", []string{"bidder"}, now, time.Hour)
	ops := mint(t, prodSecret, "ops", []string{"operator"}, now, time.Hour)

	var intent struct {
		PaymentIntent string `json:"payment_intent"`
		ClientSecret  string `json:"client_secret"`
		Amount        int64  `json:"amount"`
	}
	if err := protocol.PostJSON(ctx, s.URL+"/api/wallet/topup", dora, []byte(`{"amount":5000}`), &intent); err != nil {
		t.Fatalf("top-up: %v", err)
	}
	if intent.PaymentIntent == "" || intent.ClientSecret == "" || intent.Amount != 5000 {
		t.Fatalf("top-up answered %+v", intent)
	}
	if err := protocol.PostJSON(ctx, s.URL+"/api/wallet/topup", dora, []byte(`{"amount":10}`), nil); err == nil || !strings.Contains(err.Error(), "bad_request") {
		t.Fatalf("a top-up below Stripe's minimum: %v, want bad_request", err)
	}
	funded := func() int64 {
		var w struct {
			Wallet protocol.Wallet `json:"wallet"`
		}
		if err := protocol.GetJSON(ctx, s.URL+"/api/wallet", dora, &w); err != nil {
			if strings.Contains(err.Error(), "not_found") {
				return 0
			}
			t.Fatal(err)
		}
		return w.Wallet.Funded
	}

	ok := stripeEvent("evt_1", intent.PaymentIntent, "dora", 5000, 5000, "usd")
	for i, c := range []struct {
		name    string
		payload []byte
		header  string
		status  int
		funded  int64
	}{
		{"tampered body", bytes.Replace(ok, []byte(`5000`), []byte(`9000`), 1), signed(ok, now), http.StatusBadRequest, 0},
		{"stale signature", ok, signed(ok, now.Add(-time.Hour)), http.StatusBadRequest, 0},
		{"no signature", ok, "", http.StatusBadRequest, 0},
		{"another currency", stripeEvent("evt_2", "pi_other", "dora", 5000, 5000, "eur"), "", http.StatusOK, 0},
		{"short payment", stripeEvent("evt_3", "pi_short", "dora", 5000, 4000, "usd"), "", http.StatusOK, 0},
		{"the payment", ok, "", http.StatusOK, 5000},
		{"the same event again", ok, "", http.StatusOK, 5000},
		{"another event, same payment", stripeEvent("evt_4", intent.PaymentIntent, "dora", 5000, 5000, "usd"), "", http.StatusOK, 5000},
		{"an unknown event type", bytes.Replace(ok, []byte(`payment_intent.succeeded`), []byte(`charge.updated`), 1), "", http.StatusOK, 5000},
	} {
		header := c.header
		if header == "" && c.name != "no signature" {
			header = signed(c.payload, time.Now())
		}
		if got := postWebhook(t, s.URL, c.payload, header); got != c.status {
			t.Fatalf("%d %s: HTTP %d, want %d", i, c.name, got, c.status)
		}
		if got := funded(); got != c.funded {
			t.Fatalf("%d %s: funded %d, want %d", i, c.name, got, c.funded)
		}
	}
	var audit struct {
		OK         bool  `json:"ok"`
		Violations []any `json:"violations"`
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/audit", ops, &audit); err != nil || !audit.OK {
		t.Fatalf("audit after the top-ups: %v %v", err, audit.Violations)
	}
}

// TestStripeOffWithoutKeys: without the Stripe settings the endpoints
// answer 404.
func TestStripeOffWithoutKeys(t *testing.T) {
	s := startServer(t, "")
	tok := s.login(t, "erin", "eu-west-1")
	ctx := ctxT(t, 30*time.Second)
	if err := protocol.PostJSON(ctx, s.URL+"/api/wallet/topup", tok, []byte(`{"amount":5000}`), nil); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("top-up without Stripe: %v, want not_found", err)
	}
	if got := postWebhook(t, s.URL, []byte(`{}`), "t=1,v1=00"); got != http.StatusNotFound {
		t.Fatalf("webhook without Stripe: HTTP %d, want 404", got)
	}
}

// chargeEvent is a charge.refunded event: the charge's refunded total so far.
func chargeEvent(id, charge, pi string, amount, refunded int64) []byte {
	body, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": "charge.refunded", "api_version": "2025-01-27.acacia",
		"created": time.Now().Unix(), "livemode": false,
		"data": map[string]any{"object": map[string]any{
			"id": charge, "object": "charge", "amount": amount, "amount_refunded": refunded, "refunded": refunded == amount,
			"currency": "usd", "payment_intent": pi, "status": "succeeded",
		}},
	})
	return body
}

// disputeEvent is a charge.dispute.created event.
func disputeEvent(id, dispute, charge, pi string, amount int64) []byte {
	return disputeEventOf("charge.dispute.created", "needs_response", id, dispute, charge, pi, amount)
}

// disputeEventOf is an event of type typ about a dispute in status.
func disputeEventOf(typ, status, id, dispute, charge, pi string, amount int64) []byte {
	body, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "api_version": "2025-01-27.acacia",
		"created": time.Now().Unix(), "livemode": false,
		"data": map[string]any{"object": map[string]any{
			"id": dispute, "object": "dispute", "amount": amount, "currency": "usd", "charge": charge,
			"payment_intent": pi, "status": status, "reason": "fraudulent",
		}},
	})
	return body
}

// stripeServer is a production server with Stripe against stripe-mock,
// and an operator's token.
func stripeServer(t *testing.T) (*server, string) {
	api := stripeMock(t)
	s := startServer(t, "", "LOTZERO_AUTH_SECRET="+prodSecret, "STRIPE_SECRET_KEY=sk_test_123",
		"STRIPE_WEBHOOK_SECRET="+webhookSecret, "STRIPE_API_BASE="+api, "LOTZERO_AUDIT_EVERY=10ms")
	return s, mint(t, prodSecret, "ops", []string{"operator"}, time.Now(), time.Hour)
}

// sendEvent posts a signed event and requires the status.
func sendEvent(t *testing.T, s *server, payload []byte, status int) {
	t.Helper()
	if got := postWebhook(t, s.URL, payload, signed(payload, time.Now())); got != status {
		t.Fatalf("webhook %s: HTTP %d, want %d", payload[:60], got, status)
	}
}

// auditReport is GET /api/audit with its frozen wallets.
type auditReport struct {
	OK         bool  `json:"ok"`
	Violations []any `json:"violations"`
	Frozen     []struct {
		User   string `json:"user"`
		Owed   int64  `json:"owed"`
		Claims []struct {
			Claim  string `json:"claim"`
			Amount int64  `json:"amount"`
		} `json:"claims"`
	} `json:"frozen"`
}

func auditOf(t *testing.T, s *server, ops string) auditReport {
	t.Helper()
	var a auditReport
	if err := protocol.GetJSON(ctxT(t, 30*time.Second), s.URL+"/api/audit", ops, &a); err != nil {
		t.Fatal(err)
	}
	if !a.OK {
		t.Fatalf("audit violations: %v", a.Violations)
	}
	return a
}

func operatorCredit(t *testing.T, s *server, ops, user string, amount int64, ref string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"user": user, "amount": amount, "ref": ref, "create": true})
	if err := protocol.PostJSON(ctxT(t, 10*time.Second), s.URL+"/api/admin/credit", ops, body, nil); err != nil {
		t.Fatalf("credit %s: %v", user, err)
	}
}

// TestStripeRefundAfterSpendingFreezes: signed refund and dispute webhooks
// on a production server. A refund of a top-up the wallet already spent
// takes what is available and freezes the wallet for what it cannot take
// (never a negative balance); the same event replayed and another event
// with the same refund total take nothing more; the frozen wallet cannot
// buy; the audit is clean and names the debt; a later top-up and an
// operator credit pay it and unfreeze; a dispute takes back again.
func TestStripeRefundAfterSpendingFreezes(t *testing.T) {
	s, ops := stripeServer(t)
	now := time.Now()
	dora := mint(t, prodSecret, "dora", []string{"bidder"}, now, time.Hour)
	hal := mint(t, prodSecret, "hal", []string{"host"}, now, time.Hour)
	operatorCredit(t, s, ops, "hal", 1, "hal-wallet")
	sendEvent(t, s, stripeEvent("evt_pay1", "pi_dora1", "dora", 10000, 10000, "usd"), http.StatusOK)

	var lot struct {
		Lot protocol.Lot `json:"lot"`
	}
	if err := protocol.PostJSON(ctxT(t, 10*time.Second), s.URL+"/api/lots", hal,
		[]byte(`{"kind":"drop","title":"print","price":7000,"qty":5}`), &lot); err != nil {
		t.Fatal(err)
	}
	c, err := protocol.Dial(ctxT(t, 10*time.Second), s.WS, dora, "us-east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var bought protocol.PurchaseResult
	mustOK(t, c, protocol.Request{Type: "buy", ID: "buy-1", Lot: lot.Lot.ID, Qty: 1}, &bought)

	refund := chargeEvent("evt_ref1", "ch_dora1", "pi_dora1", 10000, 10000)
	sendEvent(t, s, refund, http.StatusOK)
	want := protocol.Wallet{Funded: 7000, Spent: 7000, Available: 0, Owed: 7000, Frozen: true}
	check := func(step string) {
		t.Helper()
		w := s.wallet(t, dora)
		w.Version = 0
		if w != want {
			t.Fatalf("%s: wallet %+v, want %+v", step, w, want)
		}
	}
	check("after the refund")
	sendEvent(t, s, refund, http.StatusOK)
	check("the refund replayed")
	sendEvent(t, s, chargeEvent("evt_ref2", "ch_dora1", "pi_dora1", 10000, 10000), http.StatusOK)
	check("another event for the same refund")
	tampered := bytes.Replace(refund, []byte(`"amount_refunded":10000`), []byte(`"amount_refunded":90000`), 1)
	if got := postWebhook(t, s.URL, tampered, signed(refund, time.Now())); got != http.StatusBadRequest {
		t.Fatalf("a tampered refund: HTTP %d", got)
	}
	if got := postWebhook(t, s.URL, refund, signed(refund, now.Add(-time.Hour))); got != http.StatusBadRequest {
		t.Fatalf("a stale refund signature: HTTP %d", got)
	}
	check("tampered and stale refunds")
	// A refund of a payment LotZero never credited takes nothing (Stripe retries).
	sendEvent(t, s, chargeEvent("evt_ref3", "ch_x", "pi_unknown", 500, 500), http.StatusNotFound)
	check("a refund of an unknown payment")

	r := do(t, c, protocol.Request{Type: "buy", ID: "buy-2", Lot: lot.Lot.ID, Qty: 1})
	if r.OK || r.Error == nil || r.Error.Code != protocol.ErrForbidden || !strings.Contains(r.Error.Message, "frozen") {
		t.Fatalf("a frozen wallet buying: %+v", r)
	}
	a := auditOf(t, s, ops)
	if len(a.Frozen) != 1 || a.Frozen[0].User != "dora" || a.Frozen[0].Owed != 7000 || len(a.Frozen[0].Claims) != 1 || a.Frozen[0].Claims[0].Amount != 10000 {
		t.Fatalf("the audit's frozen wallets: %+v", a.Frozen)
	}

	// A new top-up pays the debt first; an operator credit the rest.
	sendEvent(t, s, stripeEvent("evt_pay2", "pi_dora2", "dora", 5000, 5000, "usd"), http.StatusOK)
	want = protocol.Wallet{Funded: 7000, Spent: 7000, Owed: 2000, Frozen: true}
	check("after a top-up")
	operatorCredit(t, s, ops, "dora", 2500, "cover-dora")
	want = protocol.Wallet{Funded: 7500, Spent: 7000, Available: 500}
	check("after the operator's cover")
	if a := auditOf(t, s, ops); len(a.Frozen) != 0 {
		t.Fatalf("still frozen: %+v", a.Frozen)
	}
	// A dispute of the second payment: 500 taken, 4,500 owed; once only.
	dispute := disputeEvent("evt_dp1", "dp_dora2", "ch_dora2", "pi_dora2", 5000)
	sendEvent(t, s, dispute, http.StatusOK)
	sendEvent(t, s, disputeEvent("evt_dp2", "dp_dora2", "ch_dora2", "pi_dora2", 5000), http.StatusOK)
	want = protocol.Wallet{Funded: 7000, Spent: 7000, Owed: 4500, Frozen: true}
	check("after the dispute")
	if a := auditOf(t, s, ops); len(a.Frozen) != 1 || a.Frozen[0].Owed != 4500 {
		t.Fatalf("the audit after the dispute: %+v", a.Frozen)
	}
	// An inquiry takes no funds at Stripe, and nothing here.
	sendEvent(t, s, stripeEvent("evt_pay3", "pi_dora3", "dora", 1000, 1000, "usd"), http.StatusOK)
	sendEvent(t, s, disputeEventOf("charge.dispute.created", "warning_needs_response", "evt_inq", "dp_inq", "ch_dora3", "pi_dora3", 1000), http.StatusOK)
	want = protocol.Wallet{Funded: 7000, Spent: 7000, Owed: 3500, Frozen: true}
	check("after an inquiry")
	// The dispute won: its 5,000 come back, paying the 3,500 owed first;
	// funds_reinstated and closed-as-won give it back once.
	sendEvent(t, s, disputeEventOf("charge.dispute.funds_reinstated", "under_review", "evt_dp3", "dp_dora2", "ch_dora2", "pi_dora2", 5000), http.StatusOK)
	sendEvent(t, s, disputeEventOf("charge.dispute.closed", "won", "evt_dp4", "dp_dora2", "ch_dora2", "pi_dora2", 5000), http.StatusOK)
	want = protocol.Wallet{Funded: 8500, Spent: 7000, Available: 1500}
	check("after the dispute was won")
	if a := auditOf(t, s, ops); len(a.Frozen) != 0 || !a.OK {
		t.Fatalf("the audit after the dispute was won: %+v", a)
	}
}

type payoutReply struct {
	Payout struct {
		ID       string `json:"id"`
		Amount   int64  `json:"amount"`
		Status   string `json:"status"`
		Transfer string `json:"transfer"`
	} `json:"payout"`
	Wallet protocol.Wallet `json:"wallet"`
}

// TestStripePayouts: a host pays out earnings on a production server. The
// amount is held at once; an operator pays one, fails another (released);
// a third goes by a Stripe Transfer to a connected account (stripe-mock);
// each settles once; only a host asks and only an operator settles;
// concurrent requests never pay out more than earned; the audit is clean
// after each step.
func TestStripePayouts(t *testing.T) {
	s, ops := stripeServer(t)
	ctx := ctxT(t, 60*time.Second)
	now := time.Now()
	hal := mint(t, prodSecret, "hal", []string{"host"}, now, time.Hour)
	bea := mint(t, prodSecret, "bea", []string{"bidder"}, now, time.Hour)
	operatorCredit(t, s, ops, "hal", 1, "hal-wallet")
	operatorCredit(t, s, ops, "bea", 20000, "bea-wallet")
	var lot struct {
		Lot protocol.Lot `json:"lot"`
	}
	if err := protocol.PostJSON(ctx, s.URL+"/api/lots", hal, []byte(`{"kind":"drop","title":"lamp","price":6000,"qty":2}`), &lot); err != nil {
		t.Fatal(err)
	}
	c, err := protocol.Dial(ctx, s.WS, bea, "us-east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var bought protocol.PurchaseResult
	mustOK(t, c, protocol.Request{Type: "buy", ID: "buy-1", Lot: lot.Lot.ID, Qty: 2}, &bought) // sells out: hal earns 12,000
	if w := s.wallet(t, hal); w.Earned != 12000 {
		t.Fatalf("hal: %+v", w)
	}

	payout := func(token, body string) (payoutReply, error) {
		var out payoutReply
		err := protocol.PostJSON(ctx, s.URL+"/api/wallet/payout", token, []byte(body), &out)
		return out, err
	}
	settle := func(id, body string) (payoutReply, error) {
		var out payoutReply
		err := protocol.PostJSON(ctx, s.URL+"/api/admin/payouts/"+id, ops, []byte(body), &out)
		return out, err
	}
	p1, err := payout(hal, `{"amount":5000,"id":"p1"}`)
	if err != nil || p1.Payout.Status != "pending" || p1.Wallet.Held != 5000 || p1.Wallet.PayoutPending != 5000 || p1.Wallet.Available != 7001 {
		t.Fatalf("payout 1: %+v %v", p1, err)
	}
	if again, err := payout(hal, `{"amount":5000,"id":"p1"}`); err != nil || again.Payout.ID != p1.Payout.ID {
		t.Fatalf("payout 1 again: %+v %v", again, err)
	}
	for body, code := range map[string]string{
		`{"amount":7001,"id":"p-over"}`: "insufficient_funds", `{"amount":0,"id":"p-zero"}`: "bad_request",
		`{"amount":100}`: "bad_request", `{"amount":100,"id":"p1"}`: "bad_request",
	} {
		if _, err := payout(hal, body); err == nil || !strings.Contains(err.Error(), code) {
			t.Fatalf("payout %s: %v, want %s", body, err, code)
		}
	}
	if _, err := payout(bea, `{"amount":100,"id":"b1"}`); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("a bidder paying out: %v", err)
	}
	if err := protocol.PostJSON(ctx, s.URL+"/api/admin/payouts/"+p1.Payout.ID, hal, []byte(`{"status":"paid"}`), nil); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("a host settling their own payout: %v", err)
	}
	auditOf(t, s, ops)

	paid, err := settle(p1.Payout.ID, `{"status":"paid","transfer":"wire-77"}`)
	if err != nil || paid.Payout.Status != "paid" || paid.Wallet.Earned != 7000 || paid.Wallet.Held != 0 || paid.Wallet.PayoutPending != 0 {
		t.Fatalf("paid: %+v %v", paid, err)
	}
	if again, err := settle(p1.Payout.ID, `{"status":"paid"}`); err != nil || again.Wallet.Earned != 7000 {
		t.Fatalf("paid again: %+v %v", again, err)
	}
	if _, err := settle(p1.Payout.ID, `{"status":"failed","reason":"late"}`); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("failing a paid payout: %v", err)
	}
	auditOf(t, s, ops)

	p2, err := payout(hal, `{"amount":3000,"id":"p2"}`)
	if err != nil {
		t.Fatal(err)
	}
	failed, err := settle(p2.Payout.ID, `{"status":"failed","reason":"account closed"}`)
	if err != nil || failed.Payout.Status != "failed" || failed.Wallet.Earned != 7000 || failed.Wallet.Held != 0 {
		t.Fatalf("failed: %+v %v", failed, err)
	}
	auditOf(t, s, ops)

	p3, err := payout(hal, `{"amount":4000,"id":"p3"}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := settle(p3.Payout.ID, `{"stripe_account":"acct_1032D82eZvKYlo2C","status":"failed"}`); err == nil || !strings.Contains(err.Error(), "bad_request") {
		t.Fatalf("a Stripe payout with a status: %v", err)
	}
	viaStripe, err := settle(p3.Payout.ID, `{"stripe_account":"acct_1032D82eZvKYlo2C"}`)
	if err != nil || viaStripe.Payout.Status != "paid" || !strings.HasPrefix(viaStripe.Payout.Transfer, "tr_") || viaStripe.Wallet.Earned != 3000 {
		t.Fatalf("paid by a Stripe transfer: %+v %v", viaStripe, err)
	}
	if again, err := settle(p3.Payout.ID, `{"stripe_account":"acct_1032D82eZvKYlo2C"}`); err != nil || again.Payout.Transfer != viaStripe.Payout.Transfer || again.Wallet.Earned != 3000 {
		t.Fatalf("the Stripe payout again: %+v %v", again, err)
	}
	auditOf(t, s, ops)

	// Eight requests of 1,000 at once against 3,000 earned: three pay out.
	var wg sync.WaitGroup
	var mu sync.Mutex
	okCount := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := payout(hal, fmt.Sprintf(`{"amount":1000,"id":"race-%d"}`, i)); err == nil {
				mu.Lock()
				okCount++
				mu.Unlock()
			} else if !strings.Contains(err.Error(), "insufficient_funds") {
				t.Errorf("race %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if w := s.wallet(t, hal); okCount != 3 || w.PayoutPending != 3000 || w.Available != 1 {
		t.Fatalf("%d of 8 racing payouts went through; wallet %+v", okCount, w)
	}
	var list struct {
		Payouts []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"payouts"`
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/wallet/payouts", hal, &list); err != nil || len(list.Payouts) != 6 {
		t.Fatalf("hal's payouts: %+v %v", list, err)
	}
	auditOf(t, s, ops)
}

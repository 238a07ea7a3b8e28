package e2e

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

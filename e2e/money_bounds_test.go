package e2e

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// maxAmount is the protocol's largest amount, 2^53−1 minor units.
const maxAmount int64 = 1<<53 - 1

// TestMoneyBounds plays the ping-pong against the real server: two
// demo hosts funded to a quarter of the largest amount sell lots priced at
// it to each other. The wallets' inflow grows with every sale; the sale
// that would take one past 2^53−1 is answered limit_exceeded and changes
// nothing, no wallet value passes the bound, a deposit past it is refused
// the same way, and the audit answers 200 and clean.
func TestMoneyBounds(t *testing.T) {
	s := startServer(t, "")
	ctx := ctxT(t, 2*time.Minute)
	price := maxAmount / 4
	names := [2]string{"ping", "pong"}
	var toks [2]string
	var clients [2]*protocol.Client
	for i, n := range names {
		toks[i] = s.login(t, n, "us-east-1", "host", "bidder")
		clients[i] = s.dial(t, n, "us-east-1", "host", "bidder")
		if top := price - s.wallet(t, toks[i]).Funded; top > 0 {
			if err := protocol.PostJSON(ctx, s.URL+"/api/wallet/deposit", toks[i], []byte(fmt.Sprintf(`{"amount":%d}`, top)), nil); err != nil {
				t.Fatalf("fund %s: %v", n, err)
			}
		}
	}
	bounded := func(i int) protocol.Wallet {
		w := s.wallet(t, toks[i])
		if w.Funded > maxAmount || w.Earned > maxAmount || w.Spent > maxAmount || w.Held > maxAmount || w.Funded+w.Earned > maxAmount {
			t.Fatalf("wallet of %s past 2^53−1: %+v", names[i], w)
		}
		return w
	}
	refused := false
	for cycle := 0; cycle < 40 && !refused; cycle++ {
		host, buyer := cycle%2, 1-cycle%2
		var res struct {
			Lot protocol.Lot `json:"lot"`
		}
		body := fmt.Sprintf(`{"kind":"drop","title":"max %d","price":%d,"qty":1}`, cycle, price)
		if err := protocol.PostJSON(ctx, s.URL+"/api/lots", toks[host], []byte(body), &res); err != nil {
			t.Fatalf("create lot: %v", err)
		}
		wh, wb := bounded(host), bounded(buyer)
		r := do(t, clients[buyer], protocol.Request{Type: "buy", Lot: res.Lot.ID, Qty: 1})
		switch {
		case r.OK:
		case r.Error != nil && r.Error.Code == "limit_exceeded":
			refused = true
			t.Logf("sale %d refused: %s", cycle, r.Error.Message)
			if a, b := bounded(host), bounded(buyer); a.Funded != wh.Funded || a.Earned != wh.Earned || b.Spent != wb.Spent || b.Funded != wb.Funded {
				t.Fatalf("a refused sale moved money: host %+v -> %+v, buyer %+v -> %+v", wh, a, wb, b)
			}
		default:
			t.Fatalf("sale %d: %+v", cycle, r.Error)
		}
	}
	if !refused {
		t.Fatal("40 max-priced sales back and forth and no limit_exceeded")
	}
	// A deposit past the bound is refused too, over HTTP and with nothing changed.
	for i := range toks {
		w := bounded(i)
		err := protocol.PostJSON(ctx, s.URL+"/api/wallet/deposit", toks[i], []byte(fmt.Sprintf(`{"amount":%d}`, maxAmount)), nil)
		var perr *protocol.Error
		if !errors.As(err, &perr) || perr.Code != "limit_exceeded" {
			t.Fatalf("deposit past the bound by %s: %v, want limit_exceeded", names[i], err)
		}
		if after := bounded(i); after.Funded != w.Funded {
			t.Fatalf("refused deposit changed the wallet: %+v -> %+v", w, after)
		}
	}
	s.audit(t)
}

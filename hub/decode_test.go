package hub

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecodeBodyRefusesDuplicateKeys: "amount":1,"amount":5000 is refused,
// in any letter case (encoding/json matches fields case-insensitively).
func TestDecodeBodyRefusesDuplicateKeys(t *testing.T) {
	for _, body := range []string{`{"amount":1,"amount":5000}`, `{"amount":1,"Amount":5000}`} {
		var v struct {
			Amount int64 `json:"amount"`
		}
		e := decodeBody(httptest.NewRequest("POST", "/api/wallet/deposit", strings.NewReader(body)), &v)
		if e == nil || e.Code != "bad_request" || !strings.Contains(e.Message, "duplicate") {
			t.Errorf("%s: %+v (decoded %d)", body, e, v.Amount)
		}
	}
}

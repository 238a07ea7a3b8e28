package hub

import (
	"net/http/httptest"
	"testing"
)

func TestOriginAllowed(t *testing.T) {
	h := &Hub{opts: Options{AllowedOrigins: []string{"*.example.com", "shop.test:8443"}}}
	for origin, want := range map[string]bool{
		"":                       true, // bots send none
		"http://lotzero.local":   true, // the server's own host
		"https://a.example.com":  true,
		"https://example.com":    false,
		"https://shop.test:8443": true,
		"https://evil.test":      false,
		"null":                   false,
	} {
		r := httptest.NewRequest("GET", "http://lotzero.local/ws", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if got := h.originAllowed(r); got != want {
			t.Errorf("origin %q: %v, want %v", origin, got, want)
		}
	}
}

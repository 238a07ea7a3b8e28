package hub

import (
	"net/http/httptest"
	"testing"
)

func TestOriginAllowed(t *testing.T) {
	h := &Hub{opts: Options{AllowedOrigins: []string{"*.example.com", "shop.test:8443"},
		PublicOrigins: []string{"https://lotzero.local", "127.0.0.1:8080"}}}
	for origin, want := range map[string]bool{
		"":                       true,  // bots send none
		"https://lotzero.local":  true,  // a public origin
		"http://lotzero.local":   false, // ... with its scheme
		"http://127.0.0.1:8080":  true,  // a bare host:port, any scheme
		"http://127.0.0.1:9090":  false,
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

// TestOriginIgnoresHost: a DNS-rebinding page names its own host in both
// Origin and Host; matching them must not let it in.
func TestOriginIgnoresHost(t *testing.T) {
	h := &Hub{opts: Options{PublicOrigins: []string{"127.0.0.1:8080", "localhost:8080"}}}
	r := httptest.NewRequest("GET", "http://rebind.evil.test:8080/ws", nil)
	r.Header.Set("Origin", "http://rebind.evil.test:8080")
	if h.originAllowed(r) {
		t.Fatal("an Origin equal to the Host header was accepted")
	}
}

package hub

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokens(t *testing.T) {
	prod := NewTokens("s3cret", 0)
	tok, err := prod.Mint("alice", []string{RoleBidder, RoleHost}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := prod.Verify(tok)
	if err != nil || id.User != "alice" || !id.Has(RoleHost) || id.Has(RoleBot) {
		t.Fatalf("verify: %+v %v", id, err)
	}
	if _, err := NewTokens("other", 0).Verify(tok); err == nil {
		t.Fatal("a token signed with another secret was accepted")
	}
	if _, err := NewTokens("", 0).Verify(tok); err == nil {
		t.Fatal("a production token was accepted in demo mode")
	}
	if prod.Demo() || !NewTokens("", 0).Demo() {
		t.Fatal("demo mode is exactly the empty secret")
	}
	for _, bad := range []struct {
		user  string
		roles []string
		ttl   time.Duration
	}{{"Alice", []string{RoleBidder}, time.Hour}, {"alice", nil, time.Hour}, {"alice", []string{"admin"}, time.Hour}, {"alice", []string{RoleBidder}, 0}} {
		if _, err := prod.Mint(bad.user, bad.roles, bad.ttl); err == nil {
			t.Errorf("minted %+v", bad)
		}
	}
}

func signed(t *testing.T, secret string, c jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestTokenLifetime: tokens issued in the future (past ClockSkew), without
// iat or living longer than the cap are refused, and Mint keeps to the cap.
func TestTokenLifetime(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	tokens := NewTokens(secret, 2*time.Hour)
	now := time.Now()
	claims := func(iat, exp time.Time) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "roles": []string{RoleBidder}, "iss": "lotzero", "exp": exp.Unix()}
		if !iat.IsZero() {
			c["iat"] = iat.Unix()
		}
		return c
	}
	if _, err := tokens.Verify(signed(t, secret, claims(now, now.Add(2*time.Hour)))); err != nil {
		t.Fatalf("a token within the cap: %v", err)
	}
	if _, err := tokens.Verify(signed(t, secret, claims(now.Add(30*time.Second), now.Add(time.Hour)))); err != nil {
		t.Fatalf("a token within the clock skew: %v", err)
	}
	for name, c := range map[string]jwt.MapClaims{
		"issued in the future": claims(now.Add(ClockSkew+time.Minute), now.Add(time.Hour)),
		"no iat":               claims(time.Time{}, now.Add(time.Hour)),
		"over the cap":         claims(now, now.Add(2*time.Hour+time.Second)),
		"ten years":            claims(now.Add(-time.Hour), now.AddDate(10, 0, 0)),
	} {
		if _, err := tokens.Verify(signed(t, secret, c)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := tokens.Mint("alice", []string{RoleBidder}, 3*time.Hour); err == nil {
		t.Fatal("minted a token over the cap")
	}
	if NewTokens(secret, 0).MaxTTL() != 24*time.Hour {
		t.Fatal("the default cap is 24h")
	}
}

func TestCheckSecret(t *testing.T) {
	if CheckSecret("") != nil || CheckSecret("0123456789abcdef0123456789abcdef") != nil {
		t.Fatal("demo mode and a 32-byte secret are fine")
	}
	if CheckSecret("s3cret") == nil || CheckSecret("0123456789abcdef0123456789abcde") == nil {
		t.Fatal("a secret under 32 bytes was accepted")
	}
	if ValidRoles([]string{RoleOperator}) != nil {
		t.Fatal("operator is a role")
	}
}

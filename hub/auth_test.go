package hub

import (
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	prod := NewTokens("s3cret")
	tok, err := prod.Mint("alice", []string{RoleBidder, RoleHost}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := prod.Verify(tok)
	if err != nil || id.User != "alice" || !id.Has(RoleHost) || id.Has(RoleBot) {
		t.Fatalf("verify: %+v %v", id, err)
	}
	if _, err := NewTokens("other").Verify(tok); err == nil {
		t.Fatal("a token signed with another secret was accepted")
	}
	if _, err := NewTokens("").Verify(tok); err == nil {
		t.Fatal("a production token was accepted in demo mode")
	}
	if prod.Demo() || !NewTokens("").Demo() {
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

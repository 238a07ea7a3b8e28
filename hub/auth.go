package hub

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lotzero/lotzero/protocol"
)

// Roles a token may carry.
const (
	RoleBidder = "bidder"
	RoleHost   = "host"
	RoleBot    = "bot"
)

// demoSecret signs tokens in demo mode. It is public on purpose: in demo
// mode anyone may mint a token through POST /api/session anyway, and a
// fixed key keeps tokens valid across restarts and across nodes.
const demoSecret = "lotzero-demo-mode-public-key"

// Identity is who a token speaks for.
type Identity struct {
	User  string
	Roles []string
}

// Has reports whether the identity carries role.
func (id Identity) Has(role string) bool { return slices.Contains(id.Roles, role) }

// Tokens mints and verifies signed, expiring tokens (JWT, HS256).
type Tokens struct {
	secret []byte
	demo   bool
}

// NewTokens uses secret, or the public demo key when secret is empty.
func NewTokens(secret string) *Tokens {
	if secret == "" {
		return &Tokens{secret: []byte(demoSecret), demo: true}
	}
	return &Tokens{secret: []byte(secret)}
}

// Demo reports whether tokens use the public demo key.
func (t *Tokens) Demo() bool { return t.demo }

type claims struct {
	Roles []string `json:"roles"`
	jwt.RegisteredClaims
}

// ValidRoles checks a role list.
func ValidRoles(roles []string) error {
	if len(roles) == 0 {
		return errors.New("at least one role is needed")
	}
	for _, r := range roles {
		if r != RoleBidder && r != RoleHost && r != RoleBot {
			return fmt.Errorf("unknown role %q (bidder, host, bot)", r)
		}
	}
	return nil
}

// Mint signs a token for user with roles, valid for ttl.
func (t *Tokens) Mint(user string, roles []string, ttl time.Duration) (string, error) {
	if !protocol.ValidUser(user) {
		return "", fmt.Errorf("user must match [a-z0-9_-]{1,32}")
	}
	if err := ValidRoles(roles); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", fmt.Errorf("ttl must be positive")
	}
	now := time.Now()
	c := claims{Roles: roles, RegisteredClaims: jwt.RegisteredClaims{
		Subject: user, Issuer: "lotzero", IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
}

// Verify checks a token's signature, algorithm, issuer and expiry.
func (t *Tokens) Verify(token string) (Identity, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer("lotzero"),
		jwt.WithExpirationRequired())
	if err != nil {
		return Identity{}, fmt.Errorf("invalid token: %w", err)
	}
	if !protocol.ValidUser(c.Subject) || ValidRoles(c.Roles) != nil {
		return Identity{}, errors.New("invalid token: bad subject or roles")
	}
	return Identity{User: c.Subject, Roles: c.Roles}, nil
}

package hub

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lotzero/lotzero/protocol"
)

// Roles a token may carry. An operator may read the whole ledger's audit
// outside demo mode; hosts may too.
const (
	RoleBidder   = "bidder"
	RoleHost     = "host"
	RoleBot      = "bot"
	RoleOperator = "operator"
)

// Token rules outside the signature.
const (
	// MinSecretLen is the shortest auth secret accepted: HS256 keys
	// shorter than its 32-byte output are guessable offline from any one
	// token.
	MinSecretLen = 32
	// DefaultMaxTokenTTL caps a token's lifetime (exp − iat) unless
	// Options.MaxTokenTTL says otherwise.
	DefaultMaxTokenTTL = 24 * time.Hour
	// ClockSkew is how far in the future a token's iat may be: the clock
	// difference tolerated between the machine that minted it and a node.
	ClockSkew = time.Minute
)

// CheckSecret refuses an auth secret too short to sign tokens safely; the
// empty secret is demo mode.
func CheckSecret(secret string) error {
	if secret != "" && len(secret) < MinSecretLen {
		return fmt.Errorf("the auth secret must be at least %d bytes (it is %d); generate one with `openssl rand -hex 32`", MinSecretLen, len(secret))
	}
	return nil
}

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
	maxTTL time.Duration
}

// NewTokens uses secret, or the public demo key when secret is empty, and
// refuses tokens living longer than maxTTL (DefaultMaxTokenTTL when zero).
// The secret's length is checked by CheckSecret, at start.
func NewTokens(secret string, maxTTL time.Duration) *Tokens {
	if maxTTL <= 0 {
		maxTTL = DefaultMaxTokenTTL
	}
	if secret == "" {
		return &Tokens{secret: []byte(demoSecret), demo: true, maxTTL: maxTTL}
	}
	return &Tokens{secret: []byte(secret), maxTTL: maxTTL}
}

// MaxTTL is the longest lifetime a token may have.
func (t *Tokens) MaxTTL() time.Duration { return t.maxTTL }

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
		if r != RoleBidder && r != RoleHost && r != RoleBot && r != RoleOperator {
			return fmt.Errorf("unknown role %q (bidder, host, bot, operator)", r)
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
	if ttl <= 0 || ttl > t.maxTTL {
		return "", fmt.Errorf("ttl must be positive and at most %v", t.maxTTL)
	}
	now := time.Now()
	c := claims{Roles: roles, RegisteredClaims: jwt.RegisteredClaims{
		Subject: user, Issuer: "lotzero", IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
}

// Verify checks a token's signature, algorithm, issuer and expiry, and
// that it was issued (iat) no later than ClockSkew from now and lives no
// longer than the cap: a leaked or mis-minted token cannot stay valid for
// years.
func (t *Tokens) Verify(token string) (Identity, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer("lotzero"),
		jwt.WithExpirationRequired())
	if err != nil {
		return Identity{}, fmt.Errorf("invalid token: %w", err)
	}
	if c.IssuedAt == nil {
		return Identity{}, errors.New("invalid token: no iat")
	}
	if c.IssuedAt.After(time.Now().Add(ClockSkew)) {
		return Identity{}, errors.New("invalid token: issued in the future")
	}
	if c.ExpiresAt.Sub(c.IssuedAt.Time) > t.maxTTL {
		return Identity{}, fmt.Errorf("invalid token: lives longer than %v", t.maxTTL)
	}
	if !protocol.ValidUser(c.Subject) || ValidRoles(c.Roles) != nil {
		return Identity{}, errors.New("invalid token: bad subject or roles")
	}
	return Identity{User: c.Subject, Roles: c.Roles}, nil
}

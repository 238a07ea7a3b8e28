package proof

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lotzero/lotzero/protocol"
)

// Minter signs tokens for a production deployment (one with an auth
// secret): the proof's participants, host and operator. The caller holds the
// secret; the proof never sees it.
type Minter func(user string, roles []string) (string, error)

// fundedBalance is what each of the proof's users starts with in a
// production deployment: a demo user's balance, credited by the proof's
// operator (there are no deposits outside demo mode).
const fundedBalance = 1_000_000

// login gives the run a session for user: in demo mode through POST
// /api/session (which also funds a new user); with a Minter, a token it
// signs, and a wallet funded by an operator credit — idempotent by a
// reference naming this run and user, so a retried set-up credits once.
func (r *run) login(ctx context.Context, user, region string, roles ...string) (string, error) {
	if r.cfg.Mint == nil {
		var s protocol.Session
		err := retrying(ctx, func() (err error) { s, err = protocol.Login(ctx, r.home, user, region, roles...); return err })
		return s.Token, err
	}
	if len(roles) == 0 {
		roles = []string{"bidder"}
	}
	token, err := r.cfg.Mint(user, roles)
	if err != nil {
		return "", fmt.Errorf("mint a token for %s: %w", user, err)
	}
	if r.operator == "" {
		if r.operator, err = r.cfg.Mint("proof-operator", []string{"operator"}); err != nil {
			return "", fmt.Errorf("mint the operator's token: %w", err)
		}
	}
	body, _ := json.Marshal(map[string]any{"user": user, "amount": fundedBalance, "ref": "proof/" + r.tag + "/" + user, "create": true})
	err = retrying(ctx, func() error {
		return protocol.PostJSON(ctx, r.home+"/api/admin/credit", r.operator, body, nil)
	})
	if err != nil {
		return "", fmt.Errorf("fund %s (an operator credit): %w", user, err)
	}
	return token, nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
)

// runPayout is an operator settling host payouts from the command line,
// against the ledger directly (as `lotzero credit`): without --id it lists
// payouts (--status narrows them); with --id and --paid or --failed it
// settles one, once — the same outcome again answers the payout, the other
// is refused. A payout handed to Stripe (POST /api/admin/payouts/{id} with
// stripe_account) is settled only through Stripe.
func runPayout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id, status, transfer, reason, by string
	var paid, failed bool
	l, err := openLedger(ctx, "payout", args, stderr, func(fs *flagSet) {
		fs.StringVar(&id, "id", "", "the payout to settle (a UUID); without it, list payouts")
		fs.StringVar(&status, "status", "pending", "with no --id: list payouts in this status (pending, paid, failed; empty for all)")
		fs.boolFlag(&paid, "paid", false, "settle the payout paid: the operator sent the money")
		fs.boolFlag(&failed, "failed", false, "settle the payout failed: the amount is released back to the host")
		fs.StringVar(&transfer, "transfer", "", "with --paid: the reference of the money sent (a bank transfer id)")
		fs.StringVar(&reason, "reason", "", "with --failed: why")
		fs.StringVar(&by, "by", operatorName(), "the operator the entry names")
	})
	if err != nil {
		return err
	}
	defer l.Close()
	if id == "" {
		if paid || failed {
			return errors.New("--paid and --failed need --id")
		}
		ps, err := l.Payouts(ctx, "", status, 1000)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"payouts": ps})
	}
	pid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("--id must be a payout id (a UUID): %w", err)
	}
	if paid == failed {
		return errors.New("give exactly one of --paid and --failed")
	}
	res, err := l.SettlePayout(ctx, ledger.Actor{User: by, Region: "us-east-1"}, pid,
		ledger.Settlement{Paid: paid, Transfer: transfer, Reason: reason})
	if err != nil {
		return err
	}
	p, w := res.Payout, res.Wallet
	fmt.Fprintf(stdout, "payout %s of %s: %d %s (by %s); earned %d, held %d, available %d\n",
		p.ID, p.User, p.Amount, p.Status, by, w.Earned, w.Held, w.Available())
	return nil
}

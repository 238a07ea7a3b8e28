package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	osuser "os/user"
	"time"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/internal/pgembed"
	"github.com/lotzero/lotzero/ledger"
	"github.com/rs/zerolog"
)

// store is the opened ledger and, when no database was configured, the
// PostgreSQL lotzero started for it; Close stops both, in that order.
type store struct {
	*ledger.Ledger
	pg  *pgembed.Server
	log zerolog.Logger
}

func (s *store) Close() {
	if s.Ledger != nil {
		s.Ledger.Close()
	}
	if s.pg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.pg.Stop(ctx); err != nil {
		s.log.Error().Err(err).Msg("stop embedded postgres")
	}
}

// openLedger parses the shared flags, opens the ledger (starting the
// embedded PostgreSQL when neither DSQL nor a database URL is configured)
// and migrates it.
func openLedger(ctx context.Context, name string, args []string, stderr io.Writer, extra func(*flagSet)) (*store, error) {
	fs := newFlagSet("lotzero " + name)
	var lf ledgerFlags
	lf.register(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.parse(args, stderr); err != nil {
		return nil, err
	}
	cfg, err := lf.config()
	if err != nil {
		return nil, err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return nil, err
	}
	s := &store{log: log}
	if cfg.DSQL.Endpoint == "" && cfg.DatabaseURL == "" {
		if s.pg, err = pgembed.Start(ctx, pgembed.Options{DataDir: lf.dataDir, Logger: log}); err != nil {
			return nil, fmt.Errorf("start embedded postgres: %w", err)
		}
		if err := s.pg.EnsureDatabase(ctx, "lotzero"); err != nil {
			s.Close()
			return nil, err
		}
		cfg.DatabaseURL, cfg.Embedded = s.pg.ConnString("lotzero"), true
	}
	if s.Ledger, err = ledger.Open(ctx, cfg, ledger.Options{Logger: log, MaxBatch: lf.maxBatch}); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var table, endpoint string
	l, err := openLedger(ctx, "migrate", args, stderr, func(fs *flagSet) {
		fs.StringVar(&table, "dynamodb-table", "", "also create this DynamoDB table (stream NEW_IMAGE, TTL) if missing")
		fs.bind("dynamodb-table", "DYNAMODB_TABLE")
		fs.StringVar(&endpoint, "dynamodb-endpoint", "", "DynamoDB endpoint override")
		fs.bind("dynamodb-endpoint", "DYNAMODB_ENDPOINT")
	})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(stdout, "schema up to date on %s\n", l.Backend())
	if table != "" {
		d, err := firehose.NewDynamo(ctx, firehose.DynamoConfig{Table: table, Endpoint: endpoint})
		if err != nil {
			return err
		}
		if err := d.CreateTable(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "DynamoDB table %s ready\n", table)
	}
	return nil
}

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	l, err := openLedger(ctx, "seed", args, stderr, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	evs, err := l.Seed(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo data ready on %s (%d lots opened now)\n", l.Backend(), len(evs))
	return nil
}

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	l, err := openLedger(ctx, "audit", args, stderr, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	vs, err := l.Audit(ctx)
	if err != nil {
		return err
	}
	// Frozen wallets are no violation: each owes what a refund or dispute
	// took back after it was spent; the report says what, for the operator.
	frozen, err := l.FrozenWallets(ctx, 1000)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"ok": len(vs) == 0, "violations": vs, "frozen": frozen}); err != nil {
		return err
	}
	if len(vs) > 0 {
		return exitError(1)
	}
	return nil
}

// runCredit is an operator's credit from the command line, against the
// ledger directly (the operator is on the database's side): the same
// operation as POST /api/admin/credit, idempotent by --ref.
func runCredit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var user, ref, by string
	var amount int64
	var create bool
	l, err := openLedger(ctx, "credit", args, stderr, func(fs *flagSet) {
		fs.StringVar(&user, "user", "", "the user whose wallet is credited")
		fs.Int64Var(&amount, "amount", 0, "minor units to credit, 1..2^53-1")
		fs.StringVar(&ref, "ref", "", "the credit's reference (1..64 characters): the same reference credits once")
		fs.StringVar(&by, "by", operatorName(), "the operator the entry names")
		fs.boolFlag(&create, "create", false, "open the wallet if the user has none (otherwise an unknown user is refused)")
	})
	if err != nil {
		return err
	}
	defer l.Close()
	res, err := l.Credit(ctx, ledger.Actor{User: by, Region: "us-east-1", RequestID: "cli"}, user, amount, ref, create)
	if err != nil {
		return err
	}
	w := res.Wallet
	fmt.Fprintf(stdout, "credited %s: funded %d, available %d (ref %s, by %s)\n", user, w.Funded, w.Available(), ref, by)
	return nil
}

// operatorName is the default --by: the OS user, when it is a valid name.
func operatorName() string {
	if u, err := osuser.Current(); err == nil && ledger.ValidUser(u.Username) {
		return u.Username
	}
	return "operator"
}

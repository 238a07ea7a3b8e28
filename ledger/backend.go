package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// Backend names where the ledger's SQL runs. The SQL is identical on all three.
type Backend string

const (
	BackendEmbedded Backend = "embedded-postgres" // PostgreSQL started from the machine's binaries
	BackendPostgres Backend = "postgres"          // PostgreSQL at DATABASE_URL
	BackendDSQL     Backend = "aurora-dsql"       // Aurora DSQL at DSQL_CLUSTER_ENDPOINT
)

// Config selects and configures a backend: DSQL when DSQL.Endpoint is set,
// else the PostgreSQL at DatabaseURL. Starting a PostgreSQL of its own is
// not the ledger's business: cmd/lotzero does that (internal/pgembed) and
// hands the ledger its URL with Embedded set.
type Config struct {
	DatabaseURL string
	DSQL        DSQLConfig
	// Embedded marks DatabaseURL as the server lotzero started itself, so
	// the ledger reports BackendEmbedded.
	Embedded bool
	// MaxConns bounds the pool. Zero means DefaultMaxConns.
	MaxConns int32
}

// DefaultMaxConns is the connection pool's size when Config.MaxConns is zero.
const DefaultMaxConns = 16

// Open connects to the configured backend and returns a ledger on it,
// logging to opts.Logger. It waits for a database that is still starting.
// Open does not migrate.
func Open(ctx context.Context, cfg Config, opts Options) (*Ledger, error) {
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	log := opts.Logger
	var (
		poolCfg *pgxpool.Config
		backend Backend
		err     error
	)
	switch {
	case cfg.DSQL.Endpoint != "":
		backend = BackendDSQL
		poolCfg, err = dsqlPoolConfig(ctx, cfg.DSQL, cfg.MaxConns)
	case cfg.DatabaseURL != "":
		backend = BackendPostgres
		if cfg.Embedded {
			backend = BackendEmbedded
		}
		poolCfg, err = pgxpool.ParseConfig(cfg.DatabaseURL)
		if err == nil {
			poolCfg.MaxConns = cfg.MaxConns
		}
	default:
		return nil, errors.New("ledger: no backend configured (neither a DSQL endpoint nor a database URL)")
	}
	if err != nil {
		return nil, fmt.Errorf("ledger backend %s: %w", backend, err)
	}
	binaryUUIDs(poolCfg)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err == nil {
		err = pingUntilUp(ctx, pool, log)
		if err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", backend, err)
	}
	l := New(pool, backend, opts)
	log.Info().Str("backend", string(backend)).Msg("ledger connected")
	return l, nil
}

// startupWait is how long Open waits for a database that is starting or
// restarting (connection refused, "the database system is starting up").
const startupWait = 30 * time.Second

// pingUntilUp pings the database, retrying transient failures for up to
// startupWait: a node must not exit because its database is mid-restart.
func pingUntilUp(ctx context.Context, pool *pgxpool.Pool, log zerolog.Logger) error {
	deadline := time.Now().Add(startupWait)
	for attempt := 1; ; attempt++ {
		err := pool.Ping(ctx)
		if err == nil || !retryable(err) || time.Now().After(deadline) {
			return err
		}
		if attempt == 1 {
			log.Warn().Err(err).Msg("database not reachable yet; retrying")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

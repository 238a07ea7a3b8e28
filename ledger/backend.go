package ledger

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
// else PostgreSQL when DatabaseURL is set, else the embedded PostgreSQL.
type Config struct {
	DatabaseURL string
	DSQL        DSQLConfig
	// DataDir is the embedded PostgreSQL's data directory. Empty means
	// DefaultDataDir().
	DataDir string
	// MaxConns bounds the pool. Zero means 16.
	MaxConns int32
}

// DefaultDataDir is where the embedded PostgreSQL keeps its data: under the
// user's data home, or /var/lib/lotzero when running as root (PostgreSQL
// runs as an unprivileged user then, and cannot enter /root).
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/lotzero/postgres"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "lotzero", "postgres")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "lotzero", "postgres")
	}
	return filepath.Join(os.TempDir(), "lotzero", "postgres")
}

// Open starts or connects to the configured backend and returns a ledger
// on it, logging to opts.Logger. Close stops everything Open started. Open
// does not migrate.
func Open(ctx context.Context, cfg Config, opts Options) (*Ledger, error) {
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 16
	}
	log := opts.Logger
	var (
		poolCfg *pgxpool.Config
		backend Backend
		closers []func()
		err     error
	)
	switch {
	case cfg.DSQL.Endpoint != "":
		backend = BackendDSQL
		poolCfg, err = dsqlPoolConfig(ctx, cfg.DSQL, cfg.MaxConns)
	case cfg.DatabaseURL != "":
		backend = BackendPostgres
		poolCfg, err = pgxpool.ParseConfig(cfg.DatabaseURL)
		if err == nil {
			poolCfg.MaxConns = cfg.MaxConns
		}
	default:
		backend = BackendEmbedded
		dir := cfg.DataDir
		if dir == "" {
			dir = DefaultDataDir()
		}
		pg, startErr := StartEmbedded(ctx, EmbeddedOptions{DataDir: dir, Logger: log})
		if startErr != nil {
			return nil, fmt.Errorf("start embedded postgres: %w", startErr)
		}
		closers = append(closers, func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := pg.Stop(stopCtx); err != nil {
				log.Error().Err(err).Msg("stop embedded postgres")
			}
		})
		if err = pg.EnsureDatabase(ctx, "lotzero"); err == nil {
			poolCfg, err = pgxpool.ParseConfig(pg.ConnString("lotzero"))
			if err == nil {
				poolCfg.MaxConns = cfg.MaxConns
			}
		}
	}
	if err != nil {
		runClosers(closers)
		return nil, fmt.Errorf("ledger backend %s: %w", backend, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err == nil {
		err = pingUntilUp(ctx, pool, log)
		if err != nil {
			pool.Close()
		}
	}
	if err != nil {
		runClosers(closers)
		return nil, fmt.Errorf("connect to %s: %w", backend, err)
	}
	l := New(pool, backend, opts)
	l.closers = closers
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

func runClosers(closers []func()) {
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// Package pgembed supervises a PostgreSQL server started from the machine's
// installed binaries: it finds them, prepares the data directory (initdb on
// first use, owned by an unprivileged user when run as root), runs and stops
// the server, and clears what a crashed run left behind. It is how LotZero runs
// with no configuration and how the tests and the proof get a real database;
// it knows nothing of the ledger.
package pgembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
)

// ErrPostgresNotInstalled is returned (wrapped, together with the directories
// that were searched) when the PostgreSQL server binaries cannot be found.
var ErrPostgresNotInstalled = errors.New("PostgreSQL server binaries (initdb, postgres) not found; " +
	"install them with: apt-get install -y postgresql-15 (Debian/Ubuntu)")

const (
	embeddedSuperuser  = "lotzero"
	embeddedPort       = 5432 // only names the socket file; we never listen on TCP
	socketFileName     = ".s.PGSQL.5432"
	maxUnixSocketPath  = 107 // sizeof(sun_path) minus the terminating NUL
	postgresLogName    = "postgres.log"
	postmasterPidName  = "postmaster.pid"
	initdbTmpName      = ".initdb.tmp"
	defaultRunAsUser   = "postgres"
	defaultMaxConns    = 200
	readyTimeout       = 30 * time.Second
	readyPollInterval  = 50 * time.Millisecond
	stopGracePeriod    = 10 * time.Second
	stopQuitPeriod     = 10 * time.Second
	orphanGracePeriod  = 5 * time.Second
	debianPostgresGlob = "/usr/lib/postgresql/*/bin"
)

var databaseNameRE = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// Options configures Start. Zero values mean the documented defaults.
type Options struct {
	// DataDir is required; it is created if missing. initdb runs on first use
	// (no PG_VERSION) and the data persists across restarts.
	DataDir string
	// BinDir holds initdb and postgres. "" means: find them on PATH, else use the
	// highest /usr/lib/postgresql/*/bin (preferring the version the existing
	// data directory was created with).
	BinDir string
	// RunAsUser is only used when the process runs as root (euid 0), because
	// PostgreSQL refuses to run as root. Default "postgres".
	RunAsUser string
	// NoSync trades durability for speed (tests): initdb --no-sync and
	// fsync=off, synchronous_commit=off, full_page_writes=off.
	NoSync bool
	// MaxConnections is the server's max_connections; 0 means 200.
	MaxConnections int
	// Logger receives structured logs. The server's own stderr goes to
	// <DataDir>/postgres.log.
	Logger zerolog.Logger
}

// Server is a PostgreSQL server started from the machine's
// installed binaries, listening only on a Unix socket inside its data dir.
type Server struct {
	opts    Options // normalized copy
	dataDir string  // absolute, symlinks resolved
	binDir  string
	log     zerolog.Logger
	env     []string
	// cred is non-nil when we run as root and must drop to opts.RunAsUser.
	cred *syscall.Credential

	mu    sync.Mutex // serializes start/stop/restart
	proc  *pgProcess // nil when stopped
	owner *os.File   // the data dir's owner lock (ownerlock.go), held until Stop
}

// pgProcess is one running postgres server child.
type pgProcess struct {
	cmd      *exec.Cmd
	pid      int
	done     chan struct{} // closed once the process has been reaped
	waitErr  error         // valid after done is closed
	stopping atomic.Bool   // set by us before signalling, so exits are not reported as crashes
}

// Start prepares DataDir (initdb on first use), clears leftovers of a
// crashed previous run and starts a postgres server, returning once it
// accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("embedded postgres: DataDir is required")
	}
	if opts.RunAsUser == "" {
		opts.RunAsUser = defaultRunAsUser
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = defaultMaxConns
	}
	absDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded postgres: resolve data dir %q: %w", opts.DataDir, err)
	}

	e := &Server{opts: opts}
	e.log = opts.Logger.With().Str("component", "embedded_postgres").Logger()

	// Pick binaries before touching the disk so a missing installation
	// produces the install hint and leaves nothing behind.
	existingMajor := readPGVersion(absDir)
	binDir, err := findBinDir(ctx, opts.BinDir, existingMajor)
	if err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}
	e.binDir = binDir

	if err := e.prepareDataDir(absDir); err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}
	e.log = e.log.With().Str("data_dir", e.dataDir).Logger()
	e.env = childEnv(e.cred, opts.RunAsUser)
	// Before anything touches the cluster: a live owner's server must never
	// be mistaken for a crashed run's leftover and shut down.
	if e.owner, err = lockOwner(e.dataDir); err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}
	started := false
	defer func() {
		if !started {
			e.owner.Close()
		}
	}()

	if readPGVersion(e.dataDir) == "" {
		if err := e.initdb(ctx); err != nil {
			return nil, fmt.Errorf("embedded postgres: %w", err)
		}
	} else if err := e.checkVersion(ctx); err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.startLocked(ctx); err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}
	started = true
	return e, nil
}

// DataDir returns the absolute (symlink-resolved) data directory.
func (e *Server) DataDir() string { return e.dataDir }

// ConnString returns a key=value DSN usable by pgx that connects over the
// Unix socket as the trusted superuser.
func (e *Server) ConnString(database string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable",
		pgDSNQuote(e.dataDir), embeddedPort, embeddedSuperuser, pgDSNQuote(database))
}

// EnsureDatabase creates database name if it does not exist yet. It is
// idempotent and safe to call concurrently (also from several processes).
func (e *Server) EnsureDatabase(ctx context.Context, name string) error {
	if !databaseNameRE.MatchString(name) {
		return fmt.Errorf("embedded postgres: invalid database name %q (want [a-z0-9_]{1,63})", name)
	}
	conn, err := pgx.Connect(ctx, e.ConnString("postgres"))
	if err != nil {
		return fmt.Errorf("embedded postgres: ensure database %s: connect: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	// No advisory lock (the package keeps to DSQL's SQL subset, which has
	// none): concurrent creators are told 42P04 (already exists), and a
	// CREATE DATABASE that finds template1 busy with another one (55006) is
	// simply tried again.
	for attempt := 0; ; attempt++ {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			return fmt.Errorf("embedded postgres: ensure database %s: lookup: %w", name, err)
		}
		if exists {
			return nil
		}
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		if err == nil {
			break
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
			return nil // created concurrently by someone else
		}
		if errors.As(err, &pgErr) && pgErr.Code == "55006" && attempt < 50 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(10+attempt*5) * time.Millisecond):
			}
			continue
		}
		return fmt.Errorf("embedded postgres: create database %s: %w", name, err)
	}
	e.log.Info().Str("database", name).Msg("created database")
	return nil
}

// Restart stops the server gracefully and starts it again on the same data dir.
func (e *Server) Restart(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.stopLocked(ctx); err != nil {
		return fmt.Errorf("embedded postgres: restart: %w", err)
	}
	if err := e.startLocked(ctx); err != nil {
		return fmt.Errorf("embedded postgres: restart: %w", err)
	}
	return nil
}

// Stop shuts the server down: SIGINT (fast shutdown), escalating to SIGQUIT
// (immediate shutdown) after ~10s or when ctx is done. It waits for the
// process to exit and is idempotent.
func (e *Server) Stop(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.stopLocked(ctx); err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	if e.owner != nil {
		_ = e.owner.Close() // releases the lock: the data dir is free
		e.owner = nil
	}
	return nil
}

// pgDSNQuote quotes a value for a libpq key=value connection string.
func pgDSNQuote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n'\\") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// pgQuoteDirList quotes one directory for postgres' comma-separated
// unix_socket_directories list syntax.
func pgQuoteDirList(dir string) string {
	return `"` + dir + `"`
}

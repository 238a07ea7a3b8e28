package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
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

// EmbeddedOptions configures StartEmbedded. Zero values mean the documented defaults.
type EmbeddedOptions struct {
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

// EmbeddedPostgres is a PostgreSQL server started from the machine's
// installed binaries, listening only on a Unix socket inside its data dir.
type EmbeddedPostgres struct {
	opts    EmbeddedOptions // normalized copy
	dataDir string          // absolute, symlinks resolved
	binDir  string
	log     zerolog.Logger
	env     []string
	// cred is non-nil when we run as root and must drop to opts.RunAsUser.
	cred *syscall.Credential

	mu   sync.Mutex // serializes start/stop/restart
	proc *pgProcess // nil when stopped
}

// pgProcess is one running postgres server child.
type pgProcess struct {
	cmd      *exec.Cmd
	pid      int
	done     chan struct{} // closed once the process has been reaped
	waitErr  error         // valid after done is closed
	stopping atomic.Bool   // set by us before signalling, so exits are not reported as crashes
}

// StartEmbedded prepares DataDir (initdb on first use), clears leftovers of a
// crashed previous run and starts a postgres server, returning once it
// accepts connections.
func StartEmbedded(ctx context.Context, opts EmbeddedOptions) (*EmbeddedPostgres, error) {
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

	e := &EmbeddedPostgres{opts: opts}
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
	return e, nil
}

// DataDir returns the absolute (symlink-resolved) data directory.
func (e *EmbeddedPostgres) DataDir() string { return e.dataDir }

// ConnString returns a key=value DSN usable by pgx that connects over the
// Unix socket as the trusted superuser.
func (e *EmbeddedPostgres) ConnString(database string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable",
		pgDSNQuote(e.dataDir), embeddedPort, embeddedSuperuser, pgDSNQuote(database))
}

// EnsureDatabase creates database name if it does not exist yet. It is
// idempotent and safe to call concurrently (also from several processes).
func (e *EmbeddedPostgres) EnsureDatabase(ctx context.Context, name string) error {
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
func (e *EmbeddedPostgres) Restart(ctx context.Context) error {
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
func (e *EmbeddedPostgres) Stop(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.stopLocked(ctx); err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Data directory preparation.

// prepareDataDir creates the data dir, validates the socket path length and,
// when running as root, hands the directory to RunAsUser.
func (e *EmbeddedPostgres) prepareDataDir(absDir string) error {
	// Parents get 0755 so a dropped-privilege server can traverse the ones we
	// create; the data dir itself must be 0700 (postgres insists).
	if err := os.MkdirAll(filepath.Dir(absDir), 0o755); err != nil {
		return fmt.Errorf("create parent of data dir %s: %w", absDir, err)
	}
	if err := os.Mkdir(absDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create data dir %s: %w", absDir, err)
	}
	dir, err := filepath.EvalSymlinks(absDir)
	if err != nil {
		return fmt.Errorf("resolve data dir %s: %w", absDir, err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("stat data dir %s: %w", dir, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if n := len(dir) + 1 + len(socketFileName); n > maxUnixSocketPath {
		return fmt.Errorf("data dir %s is too long for a Unix socket path (%d bytes incl. /%s, limit %d); use a shorter DataDir",
			dir, n, socketFileName, maxUnixSocketPath)
	}
	if strings.ContainsAny(dir, "\"\x00") {
		return fmt.Errorf("data dir %q must not contain double quotes", dir)
	}
	e.dataDir = dir

	if os.Geteuid() == 0 {
		u, err := user.Lookup(e.opts.RunAsUser)
		if err != nil {
			return fmt.Errorf("running as root, but cannot look up RunAsUser %q (postgres refuses to run as root): %w", e.opts.RunAsUser, err)
		}
		cred, err := credentialFor(u)
		if err != nil {
			return err
		}
		if cred.Uid == 0 {
			return fmt.Errorf("RunAsUser %q is root; postgres refuses to run as root", e.opts.RunAsUser)
		}
		if err := checkTraversable(dir, cred, e.opts.RunAsUser); err != nil {
			return err
		}
		if err := chownTree(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
		e.cred = cred
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("chmod 0700 %s: %w", dir, err)
	}
	return nil
}

func credentialFor(u *user.User) (*syscall.Credential, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: bad uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: bad gid %q: %w", u.Username, u.Gid, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	// Keep the user's supplementary groups (e.g. ssl-cert) like a login would;
	// failure to list them is not fatal.
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}

// checkTraversable verifies that every ancestor of dir grants search (x)
// permission to the target user. We report instead of chmod-ing because
// silently opening up e.g. /root is not our call.
func checkTraversable(dir string, cred *syscall.Credential, username string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("stat %s: %w", d, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("stat %s: unexpected stat type %T", d, fi.Sys())
		}
		var bit os.FileMode
		switch {
		case st.Uid == cred.Uid:
			bit = 0o100
		case st.Gid == cred.Gid || slices.Contains(cred.Groups, st.Gid):
			bit = 0o010
		default:
			bit = 0o001
		}
		if fi.Mode().Perm()&bit == 0 {
			return fmt.Errorf("directory %s (mode %v, uid %d, gid %d) is not traversable by user %q (uid %d) that postgres runs as; "+
				"grant search permission (e.g. chmod o+x %s) or choose a DataDir elsewhere",
				d, fi.Mode().Perm(), st.Uid, st.Gid, username, cred.Uid, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// chownTree is chown -R that only touches entries with the wrong owner, so
// it stays cheap on large, already-correct data dirs.
func chownTree(dir string, uid, gid int) error {
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
			return nil
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("chown -R %d:%d %s: %w", uid, gid, dir, err)
	}
	return nil
}

// childEnv is our environment minus anything that could redirect or
// localize postgres (PG*, locale vars), plus a deterministic C locale.
func childEnv(cred *syscall.Credential, runAs string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" ||
			(cred != nil && (k == "HOME" || k == "USER" || k == "LOGNAME")) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "LC_ALL=C", "LANG=C")
	if cred != nil {
		env = append(env, "USER="+runAs, "LOGNAME="+runAs)
		if u, err := user.LookupId(strconv.FormatUint(uint64(cred.Uid), 10)); err == nil && u.HomeDir != "" {
			env = append(env, "HOME="+u.HomeDir)
		}
	}
	return env
}

// ---------------------------------------------------------------------------
// initdb and version checks.

// initdb creates the cluster in a scratch subdirectory and moves it into
// place with PG_VERSION last, so an interrupted initdb (we got killed) never
// leaves a half-initialized cluster that looks complete.
func (e *EmbeddedPostgres) initdb(ctx context.Context) error {
	tmp := filepath.Join(e.dataDir, initdbTmpName)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove leftover %s: %w", tmp, err)
	}
	entries, err := os.ReadDir(e.dataDir)
	if err != nil {
		return fmt.Errorf("read data dir: %w", err)
	}
	for _, ent := range entries {
		if !isClusterEntryName(ent.Name()) {
			return fmt.Errorf("data dir %s has no PG_VERSION but contains %q; refusing to initdb over unrelated files", e.dataDir, ent.Name())
		}
	}

	args := []string{"-D", tmp, "-U", embeddedSuperuser, "--auth=trust", "--encoding=UTF8", "--locale=C"}
	if e.opts.NoSync {
		args = append(args, "--no-sync")
	}
	start := time.Now()
	e.log.Info().Str("bin_dir", e.binDir).Bool("no_sync", e.opts.NoSync).Msg("initializing new PostgreSQL cluster (initdb)")
	cmd := exec.CommandContext(ctx, filepath.Join(e.binDir, "initdb"), args...)
	cmd.Dir = e.dataDir // our cwd may not be accessible to RunAsUser
	cmd.Env = e.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	out, err := cmd.CombinedOutput()
	e.log.Debug().Str("output", string(out)).Msg("initdb output")
	if err != nil {
		return fmt.Errorf("initdb: %w; output tail:\n%s", err, pgTailLines(out, 20))
	}

	made, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("read initdb output dir: %w", err)
	}
	var sawVersion bool
	for _, ent := range made {
		if ent.Name() == "PG_VERSION" {
			sawVersion = true
			continue
		}
		if err := moveInto(tmp, e.dataDir, ent.Name()); err != nil {
			return err
		}
	}
	if !sawVersion {
		return fmt.Errorf("initdb produced no PG_VERSION in %s", tmp)
	}
	if err := moveInto(tmp, e.dataDir, "PG_VERSION"); err != nil {
		return err
	}
	if !e.opts.NoSync {
		if err := pgFsyncDir(e.dataDir); err != nil {
			return err
		}
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("remove %s: %w", tmp, err)
	}
	e.log.Info().Dur("took", time.Since(start)).Msg("initdb done")
	return nil
}

// isClusterEntryName reports whether a file in a not-yet-initialized data dir
// could have been left by us (our log, an interrupted initdb or move).
func isClusterEntryName(name string) bool {
	switch name {
	case postgresLogName, initdbTmpName, "base", "global":
		return true
	}
	for _, p := range []string{"pg_", "postgresql.", "postmaster.", ".s.PGSQL."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// moveInto renames src/name to dst/name, replacing a leftover of an earlier
// interrupted move (safe: without PG_VERSION the cluster never ran).
func moveInto(src, dst, name string) error {
	to := filepath.Join(dst, name)
	if err := os.RemoveAll(to); err != nil {
		return fmt.Errorf("remove leftover %s: %w", to, err)
	}
	if err := os.Rename(filepath.Join(src, name), to); err != nil {
		return fmt.Errorf("move initdb output into place: %w", err)
	}
	return nil
}

func pgFsyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s for fsync: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// readPGVersion returns the major version recorded in dir/PG_VERSION, or "".
func readPGVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "PG_VERSION"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// checkVersion fails early with a readable message when the data dir was
// created by a different major version than the binaries we picked.
func (e *EmbeddedPostgres) checkVersion(ctx context.Context) error {
	want := readPGVersion(e.dataDir)
	got, err := binaryMajor(ctx, e.binDir)
	if err != nil {
		return err
	}
	if want != got {
		return fmt.Errorf("data dir %s was initialized by PostgreSQL %s but %s is PostgreSQL %s; install postgresql-%s or set BinDir",
			e.dataDir, want, e.binDir, got, want)
	}
	return nil
}

var postgresVersionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// binaryMajor runs "postgres -V" (allowed as root) and returns the major
// version in PG_VERSION format ("15", or "9.6" for pre-10 releases).
func binaryMajor(ctx context.Context, binDir string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "-V").Output()
	if err != nil {
		return "", fmt.Errorf("%s/postgres -V: %w", binDir, err)
	}
	m := postgresVersionRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("%s/postgres -V: unrecognized output %q", binDir, strings.TrimSpace(string(out)))
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 && m[2] != "" {
		return m[1] + "." + m[2], nil
	}
	return m[1], nil
}

// findBinDir locates a directory holding both initdb and postgres.
func findBinDir(ctx context.Context, explicit, wantMajor string) (string, error) {
	if explicit != "" {
		if hasServerBinaries(explicit) {
			return explicit, nil
		}
		return "", fmt.Errorf("%w (searched BinDir %s)", ErrPostgresNotInstalled, explicit)
	}

	var candidates, searched []string
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		// PATH often holds symlinks into /usr/lib/postgresql/N/bin; use the
		// real directory so logs and version matching see where it lives.
		if r, err := filepath.EvalSymlinks(p); err == nil && hasServerBinaries(filepath.Dir(r)) {
			d = filepath.Dir(r)
		}
		searched = append(searched, filepath.Dir(p)+" (from PATH)")
		if hasServerBinaries(d) {
			candidates = append(candidates, d)
		}
	} else {
		searched = append(searched, "PATH")
	}
	dirs, _ := filepath.Glob(debianPostgresGlob)
	// Highest version first: compare the numeric version components.
	sort.SliceStable(dirs, func(i, j int) bool {
		return pgVersionLess(filepath.Base(filepath.Dir(dirs[j])), filepath.Base(filepath.Dir(dirs[i])))
	})
	if len(dirs) == 0 {
		searched = append(searched, debianPostgresGlob)
	}
	for _, d := range dirs {
		searched = append(searched, d)
		if hasServerBinaries(d) && !slices.Contains(candidates, d) {
			candidates = append(candidates, d)
		}
	}
	if len(candidates) == 0 {
		return "", fmt.Errorf("%w (searched: %s)", ErrPostgresNotInstalled, strings.Join(searched, ", "))
	}
	// An existing cluster only runs on its own major version, so prefer that
	// one over simply the newest.
	if wantMajor != "" {
		for _, d := range candidates {
			if got, err := binaryMajor(ctx, d); err == nil && got == wantMajor {
				return d, nil
			}
		}
	}
	return candidates[0], nil
}

// pgVersionLess compares dotted numeric versions ("9.6" < "15").
func pgVersionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return a < b
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Server lifecycle.

// startLocked clears leftovers of a crashed run, launches postgres and waits
// until it accepts connections. Caller holds e.mu.
func (e *EmbeddedPostgres) startLocked(ctx context.Context) error {
	if e.proc != nil {
		select {
		case <-e.proc.done:
			e.proc = nil // crashed earlier; its leftovers are handled below
		default:
			return errors.New("already running")
		}
	}
	if err := e.clearStaleLock(ctx, filepath.Join(e.dataDir, postmasterPidName)); err != nil {
		return err
	}
	// The socket lock file has the same pid-reuse problem as postmaster.pid.
	if err := e.clearStaleLock(ctx, filepath.Join(e.dataDir, socketFileName+".lock")); err != nil {
		return err
	}
	// Backends of a SIGKILLed postmaster linger briefly and still hold its
	// shared memory; postgres refuses to start until they are gone.
	if err := e.reapOrphans(ctx); err != nil {
		return err
	}

	logPath := filepath.Join(e.dataDir, postgresLogName)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", logPath, err)
	}
	defer logFile.Close() // the child keeps its own copy of the descriptor
	if e.cred != nil {
		if err := logFile.Chown(int(e.cred.Uid), int(e.cred.Gid)); err != nil {
			return fmt.Errorf("chown %s: %w", logPath, err)
		}
	}
	var logOffset int64
	if fi, err := logFile.Stat(); err == nil {
		logOffset = fi.Size()
	}

	args := []string{
		"-D", e.dataDir,
		"-c", "listen_addresses=", // no TCP at all: trust auth is only safe on the private socket
		"-c", "unix_socket_directories=" + pgQuoteDirList(e.dataDir),
		"-c", "unix_socket_permissions=0700",
		"-c", "port=" + strconv.Itoa(embeddedPort),
		"-c", "max_connections=" + strconv.Itoa(e.opts.MaxConnections),
	}
	if e.opts.NoSync {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(e.binDir, "postgres"), args...)
	cmd.Dir = e.dataDir
	cmd.Env = e.env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: e.cred,
		// SIGQUIT = immediate shutdown, so the server does not outlive us.
		Pdeathsig: syscall.SIGQUIT,
		// Own process group: a terminal ^C reaches us, and we decide how
		// postgres shuts down.
		Setpgid: true,
	}

	p, err := e.spawn(cmd)
	if err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	log := e.log.With().Int("pid", p.pid).Logger()
	log.Info().Str("bin_dir", e.binDir).Str("log_file", logPath).Msg("postgres starting")

	start := time.Now()
	if err := e.waitReady(ctx, p); err != nil {
		// Do not leave a half-started server behind.
		if !pgExited(p) {
			_ = e.terminate(context.WithoutCancel(ctx), p)
		}
		return fmt.Errorf("%w; postgres log tail (%s):\n%s", err, logPath, pgReadLogTail(logPath, logOffset, 30))
	}
	e.proc = p
	log.Info().Dur("took", time.Since(start)).Msg("postgres ready")
	return nil
}

// spawn starts cmd from a goroutine locked to its OS thread for the child's
// whole life: Linux delivers Pdeathsig when the forking *thread* exits, and
// the Go runtime may otherwise retire that thread while the server runs.
func (e *EmbeddedPostgres) spawn(cmd *exec.Cmd) (*pgProcess, error) {
	p := &pgProcess{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.waitErr = cmd.Wait()
		if !p.stopping.Load() {
			e.log.Warn().Int("pid", p.pid).AnErr("exit", p.waitErr).Msg("postgres exited unexpectedly")
		}
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func pgExited(p *pgProcess) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady polls with real connections (the only reliable readiness
// signal) until the server answers, exits, or ~30s pass.
func (e *EmbeddedPostgres) waitReady(ctx context.Context, p *pgProcess) error {
	rctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	dsn := e.ConnString("postgres")
	var lastErr error
	for {
		actx, acancel := context.WithTimeout(rctx, 2*time.Second)
		conn, err := pgx.Connect(actx, dsn)
		if err == nil {
			err = conn.Ping(actx)
			_ = conn.Close(actx)
		}
		acancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-p.done:
			return fmt.Errorf("postgres (pid %d) exited during startup: %v", p.pid, p.waitErr)
		case <-rctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for postgres to accept connections: %w (last error: %v)", ctx.Err(), lastErr)
			}
			return fmt.Errorf("postgres did not accept connections within %s: %w", readyTimeout, lastErr)
		case <-time.After(readyPollInterval):
		}
	}
}

// stopLocked stops our child, if any. Caller holds e.mu.
func (e *EmbeddedPostgres) stopLocked(ctx context.Context) error {
	p := e.proc
	if p == nil {
		return nil
	}
	if pgExited(p) {
		// It died on its own; a leftover postmaster.pid is dealt with by the
		// next start, which can tell whether it is really stale.
		e.proc = nil
		e.log.Warn().Int("pid", p.pid).AnErr("exit", p.waitErr).Msg("postgres was already stopped")
		return nil
	}
	if err := e.terminate(ctx, p); err != nil {
		return err
	}
	e.proc = nil
	return nil
}

// terminate runs the shutdown ladder on our child: SIGINT (fast shutdown:
// abort transactions, checkpoint, exit), then SIGQUIT (immediate shutdown,
// crash recovery on next start), then SIGKILL as the very last resort.
func (e *EmbeddedPostgres) terminate(ctx context.Context, p *pgProcess) error {
	log := e.log.With().Int("pid", p.pid).Logger()
	p.stopping.Store(true)
	start := time.Now()

	signal := func(sig syscall.Signal) {
		if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			log.Warn().Err(err).Str("signal", sig.String()).Msg("signal postgres")
		}
	}
	waitFor := func(d time.Duration, ctxDone <-chan struct{}) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-p.done:
			return true
		case <-t.C:
		case <-ctxDone:
		}
		return false
	}

	log.Info().Msg("stopping postgres (fast shutdown)")
	signal(syscall.SIGINT)
	if !waitFor(stopGracePeriod, ctx.Done()) {
		log.Warn().Dur("waited", time.Since(start)).Bool("ctx_done", ctx.Err() != nil).
			Msg("postgres did not stop in time; immediate shutdown (SIGQUIT)")
		signal(syscall.SIGQUIT)
		if !waitFor(stopQuitPeriod, nil) {
			log.Error().Msg("postgres ignored SIGQUIT; sending SIGKILL")
			signal(syscall.SIGKILL)
			<-p.done
		}
	}
	// postgres removes postmaster.pid on any orderly or immediate exit; one
	// still naming our pid means it could not (SIGKILL), so clear it.
	if e.removePidFileIf(p.pid) {
		log.Warn().Msg("removed postmaster.pid left by our stopped postgres")
	}
	log.Info().Dur("took", time.Since(start)).AnErr("exit", p.waitErr).Msg("postgres stopped")
	return nil
}

// removePidFileIf removes postmaster.pid only if it still names pid, so we
// never delete the lock of a newer server on the same data dir.
func (e *EmbeddedPostgres) removePidFileIf(pid int) bool {
	path := filepath.Join(e.dataDir, postmasterPidName)
	got, err := readLockPid(path)
	if err != nil || got != pid {
		return false
	}
	return os.Remove(path) == nil
}

// ---------------------------------------------------------------------------
// Crash leftovers.

// clearStaleLock handles a postmaster.pid (or socket lock file) left behind.
// postgres itself only checks kill(pid, 0), so a recycled pid would block it
// forever; a live postgres for this data dir (an earlier run of ours whose
// parent died) is shut down so that we can own the server.
func (e *EmbeddedPostgres) clearStaleLock(ctx context.Context, path string) error {
	pid, err := readLockPid(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	log := e.log.With().Str("lock_file", filepath.Base(path)).Logger()
	if err != nil {
		log.Warn().Err(err).Msg("removing unreadable lock file")
		return removePgLockFile(path)
	}
	if !processAlive(pid) {
		log.Info().Int("stale_pid", pid).Msg("removing stale lock file: process is not running")
		return removePgLockFile(path)
	}
	owner, known := isPostgresFor(pid, e.dataDir)
	if !known {
		return fmt.Errorf("%s names live process %d that cannot be inspected; refusing to touch it (stop it manually)", path, pid)
	}
	if !owner {
		log.Info().Int("stale_pid", pid).Msg("removing stale lock file: pid now belongs to an unrelated process")
		return removePgLockFile(path)
	}
	log.Warn().Int("pid", pid).Msg("a postgres from an earlier run is still serving this data dir; shutting it down")
	if err := stopForeign(ctx, pid, stopGracePeriod, log); err != nil {
		return err
	}
	// A clean shutdown removes the file; after SIGKILL it is ours to remove.
	if got, err := readLockPid(path); err == nil && got == pid {
		log.Info().Int("stale_pid", pid).Msg("removing lock file of the stopped postgres")
		return removePgLockFile(path)
	}
	return nil
}

// reapOrphans waits for (and eventually kills) postgres processes still
// running in our data dir, e.g. backends of a postmaster that was SIGKILLed.
// All server processes chdir to the data dir, which identifies them.
func (e *EmbeddedPostgres) reapOrphans(ctx context.Context) error {
	pids := postgresProcsIn(e.dataDir)
	if len(pids) == 0 {
		return nil
	}
	e.log.Warn().Ints("pids", pids).Msg("waiting for leftover postgres processes of a crashed server to exit")
	deadline := time.Now().Add(orphanGracePeriod)
	for _, sig := range []syscall.Signal{0, syscall.SIGQUIT, syscall.SIGKILL} {
		for _, pid := range pids {
			if sig != 0 {
				_ = syscall.Kill(pid, sig)
				_ = syscall.Kill(pid, syscall.SIGCONT) // a stopped process cannot act on SIGQUIT
			}
		}
		for time.Now().Before(deadline) {
			if pids = postgresProcsIn(e.dataDir); len(pids) == 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for leftover postgres processes %v: %w", pids, ctx.Err())
			case <-time.After(readyPollInterval):
			}
		}
		if sig != syscall.SIGKILL {
			e.log.Warn().Ints("pids", pids).Msg("leftover postgres processes still running; signalling them")
		}
		deadline = time.Now().Add(orphanGracePeriod)
	}
	return fmt.Errorf("leftover postgres processes %v in %s would not exit", pids, e.dataDir)
}

// stopForeign shuts down a postgres that is not our child (so we cannot wait
// on it) by signalling and polling.
func stopForeign(ctx context.Context, pid int, grace time.Duration, log zerolog.Logger) error {
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, grace}, {syscall.SIGQUIT, stopQuitPeriod}, {syscall.SIGKILL, 5 * time.Second}} {
		if err := syscall.Kill(pid, step.sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal %v to postgres pid %d: %w", step.sig, pid, err)
		}
		deadline := time.Now().Add(step.wait)
		for time.Now().Before(deadline) {
			if !processAlive(pid) {
				log.Info().Int("pid", pid).Str("signal", step.sig.String()).Msg("earlier postgres stopped")
				return nil
			}
			if ctx.Err() != nil {
				break // escalate right away
			}
			time.Sleep(readyPollInterval)
		}
	}
	if processAlive(pid) {
		return fmt.Errorf("could not stop earlier postgres pid %d", pid)
	}
	return nil
}

// readLockPid parses the first line of a postgres lock file. Standalone
// backends write a negative pid.
func readLockPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("parse pid in %s: %w", path, err)
	}
	if pid < 0 {
		pid = -pid
	}
	if pid == 0 {
		return 0, fmt.Errorf("parse pid in %s: pid 0", path)
	}
	return pid, nil
}

func removePgLockFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// processAlive reports whether pid runs; zombies count as dead because
// kill(pid, 0) still succeeds on them.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the parenthesized command name, which may contain spaces.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		if s := b[i+2]; s == 'Z' || s == 'X' {
			return false
		}
	}
	return true
}

// isPostgresFor reports whether pid is a postgres server process serving
// dataDir. known is false when /proc does not let us tell.
func isPostgresFor(pid int, dataDir string) (match, known bool) {
	proc := "/proc/" + strconv.Itoa(pid)
	isPG, ok := isPostgresBinary(proc)
	if !ok {
		return false, false
	}
	if !isPG {
		return false, true
	}
	// Every postgres server process chdirs into its data directory.
	if cwd, err := os.Readlink(proc + "/cwd"); err == nil {
		return cwd == dataDir, true
	}
	// Fall back to the -D argument.
	if b, err := os.ReadFile(proc + "/cmdline"); err == nil {
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		for i, a := range args {
			var d string
			switch {
			case a == "-D" && i+1 < len(args):
				d = args[i+1]
			case strings.HasPrefix(a, "-D") && len(a) > 2:
				d = a[2:]
			case strings.HasPrefix(a, "--pgdata="):
				d = strings.TrimPrefix(a, "--pgdata=")
			default:
				continue
			}
			if filepath.IsAbs(d) {
				if r, err := filepath.EvalSymlinks(d); err == nil {
					d = r
				}
				return filepath.Clean(d) == dataDir, true
			}
		}
	}
	return false, false
}

// isPostgresBinary checks /proc/<pid>/exe, falling back to argv[0].
func isPostgresBinary(proc string) (isPG, known bool) {
	if exe, err := os.Readlink(proc + "/exe"); err == nil {
		base := filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
		return base == "postgres" || base == "postmaster", true
	}
	b, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, true
		}
		return false, false
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	argv0, _, _ = strings.Cut(argv0, " ") // children rewrite argv to "postgres: ..."
	base := strings.TrimSuffix(filepath.Base(argv0), ":")
	return base == "postgres" || base == "postmaster", true
}

// postgresProcsIn lists live postgres processes whose cwd is dataDir.
// Processes we may not inspect are skipped: they cannot be serving a 0700
// data dir we own.
func postgresProcsIn(dataDir string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == self {
			continue
		}
		proc := "/proc/" + ent.Name()
		cwd, err := os.Readlink(proc + "/cwd")
		if err != nil || cwd != dataDir {
			continue
		}
		if isPG, _ := isPostgresBinary(proc); isPG && processAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ---------------------------------------------------------------------------
// Small helpers.

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

// pgReadLogTail returns the last n lines written to path at or after offset.
func pgReadLogTail(path string, offset int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	const maxTail = 16 << 10
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > maxTail {
		offset = fi.Size() - maxTail
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(log is empty)"
	}
	return pgTailLines(b, n)
}

func pgTailLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package pgembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
)

// testProc exposes the running child to tests without widening the API.
func (e *Server) testProc() *pgProcess {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.proc
}

// testOwnerDied releases the owner lock as the kernel does when the owning
// process dies, leaving its postgres (if alive) an orphan.
func (e *Server) testOwnerDied() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.owner != nil {
		_ = e.owner.Close()
		e.owner = nil
	}
}

func embeddedTestLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
}

// embeddedTestDir returns a not-yet-existing data dir path inside
// t.TempDir(). t.TempDir creates 0700 directories; when we run as root the
// postgres user must be able to traverse them, so the test (not the library,
// which refuses to chmod parents) opens them up to search-only.
func embeddedTestDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatalf("chmod %s: %v", d, err)
			}
		}
	}
	return filepath.Join(dir, "pg")
}

func startEmbeddedForTest(t *testing.T, dataDir string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := Start(ctx, Options{
		DataDir:        dataDir,
		NoSync:         true,
		MaxConnections: 50,
		Logger:         embeddedTestLogger(t),
	})
	if err != nil {
		t.Fatalf("Start(%s): %v", dataDir, err)
	}
	t.Cleanup(func() {
		if err := e.Stop(context.Background()); err != nil {
			t.Errorf("cleanup Stop: %v", err)
		}
	})
	return e
}

func embConnect(t *testing.T, e *Server, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.ConnString(db))
	if err != nil {
		t.Fatalf("connect %q: %v", e.ConnString(db), err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func embExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func embQuery(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), sql).Scan(&s); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return s
}

func embAssertNoPidFile(t *testing.T, dataDir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dataDir, postmasterPidName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("postmaster.pid should be gone after Stop, stat err = %v", err)
	}
}

func TestEmbeddedLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := embeddedTestDir(t)
	e := startEmbeddedForTest(t, dir)

	if e.DataDir() != dir {
		t.Fatalf("DataDir() = %q, want %q", e.DataDir(), dir)
	}
	wantDSN := fmt.Sprintf("host=%s port=5432 user=lotzero dbname=app sslmode=disable", dir)
	if got := e.ConnString("app"); got != wantDSN {
		t.Fatalf("ConnString = %q, want %q", got, wantDSN)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode = %v, want 0700", fi.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		if got := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)); got != u.Uid {
			t.Fatalf("data dir owner uid = %s, want postgres (%s)", got, u.Uid)
		}
	}
	for _, f := range []string{"PG_VERSION", postgresLogName, socketFileName, postmasterPidName} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("expected %s in data dir: %v", f, err)
		}
	}

	conn := embConnect(t, e, "postgres")
	if got := embQuery(t, conn, "SELECT 1::text"); got != "1" {
		t.Fatalf("SELECT 1 = %q", got)
	}
	if got := embQuery(t, conn, "SHOW lc_collate"); got != "C" {
		t.Fatalf("lc_collate = %q, want C", got)
	}
	if got := embQuery(t, conn, "SHOW server_encoding"); got != "UTF8" {
		t.Fatalf("server_encoding = %q, want UTF8", got)
	}
	if got := embQuery(t, conn, "SHOW listen_addresses"); got != "" {
		t.Fatalf("listen_addresses = %q, want empty (no TCP)", got)
	}
	if got := embQuery(t, conn, "SHOW fsync"); got != "off" {
		t.Fatalf("fsync = %q, want off with NoSync", got)
	}
	if got := embQuery(t, conn, "SHOW max_connections"); got != "50" {
		t.Fatalf("max_connections = %q, want 50", got)
	}
	_ = conn.Close(ctx)

	// EnsureDatabase: idempotent, concurrent-safe, validated.
	for i := 0; i < 2; i++ {
		if err := e.EnsureDatabase(ctx, "ledger_test"); err != nil {
			t.Fatalf("EnsureDatabase #%d: %v", i+1, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- e.EnsureDatabase(ctx, fmt.Sprintf("conc_%d", i%2))
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent EnsureDatabase: %v", err)
		}
	}
	for _, bad := range []string{"", "Upper", "has-dash", `x"; DROP`, strings.Repeat("a", 64)} {
		if err := e.EnsureDatabase(ctx, bad); err == nil {
			t.Fatalf("EnsureDatabase(%q) should fail validation", bad)
		}
	}

	db := embConnect(t, e, "ledger_test")
	embExec(t, db, "CREATE TABLE kv (k text PRIMARY KEY, v text)")
	embExec(t, db, "INSERT INTO kv VALUES ('hello', 'world')")
	_ = db.Close(ctx)

	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("second Stop should be a no-op: %v", err)
	}
	embAssertNoPidFile(t, dir)

	// Second start on the same dir: no initdb, data persisted.
	e2 := startEmbeddedForTest(t, dir)
	db2 := embConnect(t, e2, "ledger_test")
	if got := embQuery(t, db2, "SELECT v FROM kv WHERE k = 'hello'"); got != "world" {
		t.Fatalf("persisted value = %q", got)
	}
	if err := e2.EnsureDatabase(ctx, "ledger_test"); err != nil {
		t.Fatalf("EnsureDatabase after restart: %v", err)
	}
	_ = db2.Close(ctx)
	if err := e2.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	embAssertNoPidFile(t, dir)
}

func TestEmbeddedRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := embeddedTestDir(t)
	e := startEmbeddedForTest(t, dir)

	conn := embConnect(t, e, "postgres")
	embExec(t, conn, "CREATE TABLE t (id int)")
	embExec(t, conn, "INSERT INTO t VALUES (42)")
	_ = conn.Close(ctx)
	pid1 := e.testProc().pid

	if err := e.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if pid2 := e.testProc().pid; pid2 == pid1 {
		t.Fatalf("Restart kept the same postgres pid %d", pid1)
	}
	conn = embConnect(t, e, "postgres")
	if got := embQuery(t, conn, "SELECT id::text FROM t"); got != "42" {
		t.Fatalf("after Restart got %q, want 42", got)
	}
	_ = conn.Close(ctx)

	// Restart also revives a server that is currently stopped.
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Restart(ctx); err != nil {
		t.Fatalf("Restart after Stop: %v", err)
	}
	conn = embConnect(t, e, "postgres")
	if got := embQuery(t, conn, "SELECT id::text FROM t"); got != "42" {
		t.Fatalf("after second Restart got %q", got)
	}
	_ = conn.Close(ctx)

	// A done ctx skips the grace period (immediate shutdown), yet Stop still
	// waits for the exit and leaves no lock file.
	done, cancel := context.WithCancel(ctx)
	cancel()
	start := time.Now()
	if err := e.Stop(done); err != nil {
		t.Fatalf("Stop with cancelled ctx: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Stop with cancelled ctx took %s; should escalate at once", took)
	}
	embAssertNoPidFile(t, dir)
	if err := e.Restart(ctx); err != nil {
		t.Fatalf("Restart after immediate shutdown: %v", err)
	}
	conn = embConnect(t, e, "postgres")
	if got := embQuery(t, conn, "SELECT id::text FROM t"); got != "42" {
		t.Fatalf("after immediate shutdown got %q", got)
	}
}

// A SIGKILLed postmaster leaves postmaster.pid (and briefly its backends)
// behind; the next Start must recover and keep committed data.
func TestEmbeddedRecoversAfterSIGKILL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := embeddedTestDir(t)
	e1 := startEmbeddedForTest(t, dir)

	conn := embConnect(t, e1, "postgres")
	// NoSync implies synchronous_commit=off, whose commits may sit in WAL
	// buffers and die with a SIGKILLed server; ask for a real commit here.
	embExec(t, conn, "SET synchronous_commit = on")
	embExec(t, conn, "CREATE TABLE t (id int)")
	embExec(t, conn, "INSERT INTO t VALUES (7)")
	// Freeze a backend so it outlives the postmaster while still attached to
	// its shared memory; postgres alone would then refuse to start with
	// "pre-existing shared memory block is still in use".
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(backend, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP backend %d: %v", backend, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(backend, syscall.SIGKILL) })

	p := e1.testProc()
	if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", p.pid, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("postgres did not die from SIGKILL")
	}
	if pid, err := readLockPid(filepath.Join(dir, postmasterPidName)); err != nil || pid != p.pid {
		t.Fatalf("expected stale postmaster.pid naming %d, got %d, %v", p.pid, pid, err)
	}

	if !processAlive(backend) {
		t.Fatalf("frozen backend %d should still be alive", backend)
	}

	e1.testOwnerDied() // as if the lotzero that ran e1 had been killed too
	e2 := startEmbeddedForTest(t, dir)
	if processAlive(backend) {
		t.Fatalf("orphaned backend %d should have been reaped", backend)
	}
	conn2 := embConnect(t, e2, "postgres")
	if got := embQuery(t, conn2, "SELECT id::text FROM t"); got != "7" {
		t.Fatalf("after crash recovery got %q, want 7", got)
	}

	// Stopping the dead instance must not disturb the new server's lock.
	if err := e1.Stop(ctx); err != nil {
		t.Fatalf("Stop of crashed instance: %v", err)
	}
	if pid, err := readLockPid(filepath.Join(dir, postmasterPidName)); err != nil || pid != e2.testProc().pid {
		t.Fatalf("postmaster.pid = %d, %v; want live pid %d", pid, err, e2.testProc().pid)
	}
	if got := embQuery(t, conn2, "SELECT 1::text"); got != "1" {
		t.Fatalf("e2 broken after e1.Stop: %q", got)
	}
	_ = conn2.Close(ctx)
	if err := e2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	embAssertNoPidFile(t, dir)
}

// A postmaster.pid naming a dead pid, a live unrelated process, or garbage
// must not prevent startup (postgres alone would refuse the live-pid case).
func TestEmbeddedStalePidFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := embeddedTestDir(t)
	e := startEmbeddedForTest(t, dir)
	conn := embConnect(t, e, "postgres")
	embExec(t, conn, "CREATE TABLE t (id int)")
	embExec(t, conn, "INSERT INTO t VALUES (1)")
	_ = conn.Close(ctx)
	pidFile, err := os.ReadFile(filepath.Join(dir, postmasterPidName))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	unrelated := exec.Command("sleep", "300")
	if err := unrelated.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unrelated.Process.Kill()
		_ = unrelated.Wait()
	})

	withPid := func(pid int) []byte {
		_, rest, _ := strings.Cut(string(pidFile), "\n")
		return []byte(strconv.Itoa(pid) + "\n" + rest)
	}
	cases := []struct {
		name     string
		content  []byte
		sockLock bool // also plant a stale socket lock file
	}{
		{"dead pid", withPid(dead.Process.Pid), false},
		{"live unrelated pid", withPid(unrelated.Process.Pid), true},
		{"garbage", []byte("not a pid\n"), false},
	}
	for _, tc := range cases {
		if err := os.WriteFile(filepath.Join(dir, postmasterPidName), tc.content, 0o600); err != nil {
			t.Fatal(err)
		}
		if tc.sockLock {
			lock := fmt.Sprintf("%d\n%s\n", unrelated.Process.Pid, dir)
			if err := os.WriteFile(filepath.Join(dir, socketFileName+".lock"), []byte(lock), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		e, err := Start(ctx, Options{DataDir: dir, NoSync: true, Logger: embeddedTestLogger(t)})
		if err != nil {
			t.Fatalf("%s: Start: %v", tc.name, err)
		}
		conn := embConnect(t, e, "postgres")
		if got := embQuery(t, conn, "SELECT id::text FROM t"); got != "1" {
			t.Fatalf("%s: got %q", tc.name, got)
		}
		_ = conn.Close(ctx)
		if err := e.Stop(ctx); err != nil {
			t.Fatalf("%s: Stop: %v", tc.name, err)
		}
		embAssertNoPidFile(t, dir)
	}
	if unrelated.ProcessState != nil || !processAlive(unrelated.Process.Pid) {
		t.Fatal("the unrelated process named in the stale pid file must not be touched")
	}
}

// A postgres still serving the data dir whose owner died (a crashed
// earlier run of ours) is shut down and replaced by our own child.
func TestEmbeddedTakesOverLiveLeftoverServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := embeddedTestDir(t)
	old := startEmbeddedForTest(t, dir)
	oldProc := old.testProc()
	old.testOwnerDied()

	e := startEmbeddedForTest(t, dir)
	select {
	case <-oldProc.done:
	default:
		t.Fatal("leftover postgres should have been stopped")
	}
	if e.testProc().pid == oldProc.pid {
		t.Fatal("expected a new postgres process")
	}
	conn := embConnect(t, e, "postgres")
	if got := embQuery(t, conn, "SELECT 1::text"); got != "1" {
		t.Fatalf("got %q", got)
	}
	_ = conn.Close(ctx)
	if err := old.Stop(ctx); err != nil {
		t.Fatalf("Stop of replaced instance: %v", err)
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	embAssertNoPidFile(t, dir)
}

// A second Start on a data dir whose owner is alive refuses, naming the
// owner's pid, and the owner's server keeps running untouched.
func TestEmbeddedRefusesDataDirInUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := embeddedTestDir(t)
	first := startEmbeddedForTest(t, dir)
	conn := embConnect(t, first, "postgres")
	embExec(t, conn, "CREATE TABLE t (id int)")
	firstProc := first.testProc()

	second, err := Start(ctx, Options{DataDir: dir, NoSync: true, Logger: embeddedTestLogger(t)})
	if err == nil {
		_ = second.Stop(ctx)
		t.Fatal("a second Start on a data dir in use succeeded")
	}
	if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("want ErrDataDirInUse naming pid %d, got %v", os.Getpid(), err)
	}
	select {
	case <-firstProc.done:
		t.Fatal("the owner's postgres was stopped by the refused second start")
	default:
	}
	embExec(t, conn, "INSERT INTO t VALUES (1)")
	if got := embQuery(t, conn, "SELECT count(*)::text FROM t"); got != "1" {
		t.Fatalf("owner's database after the refused start: %q", got)
	}
	_ = conn.Close(ctx)

	// Once the owner stops, the directory is free again.
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	third := startEmbeddedForTest(t, dir)
	c3 := embConnect(t, third, "postgres")
	if got := embQuery(t, c3, "SELECT count(*)::text FROM t"); got != "1" {
		t.Fatalf("after handover: %q", got)
	}
	_ = c3.Close(ctx)
}

func TestEmbeddedNotInstalled(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	dataDir := filepath.Join(t.TempDir(), "pg")
	_, err := Start(context.Background(), Options{
		DataDir: dataDir,
		BinDir:  empty,
		Logger:  embeddedTestLogger(t),
	})
	if !errors.Is(err, ErrPostgresNotInstalled) {
		t.Fatalf("err = %v, want ErrPostgresNotInstalled", err)
	}
	for _, want := range []string{"apt-get install -y postgresql-15", empty} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q should mention %q", err, want)
		}
	}
	if _, statErr := os.Stat(dataDir); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatalf("data dir should not be created when binaries are missing (stat: %v)", statErr)
	}
}

func TestEmbeddedInvalidDataDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := embeddedTestLogger(t)

	if _, err := Start(ctx, Options{Logger: log}); err == nil {
		t.Fatal("empty DataDir should fail")
	}

	long := filepath.Join(embeddedTestDir(t), strings.Repeat("x", 100))
	_, err := Start(ctx, Options{DataDir: long, NoSync: true, Logger: log})
	if err == nil || !strings.Contains(err.Error(), "too long for a Unix socket path") {
		t.Fatalf("long DataDir: err = %v, want socket path length error", err)
	}

	// A data dir below a directory the server user cannot traverse.
	locked := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	e, err := Start(ctx, Options{DataDir: filepath.Join(locked, "pg"), NoSync: true, Logger: log})
	if os.Geteuid() == 0 {
		// As root the server runs as "postgres", which cannot enter a 0700 root dir.
		if err == nil || !strings.Contains(err.Error(), "not traversable") || !strings.Contains(err.Error(), locked) {
			t.Fatalf("err = %v, want a not-traversable error naming %s", err, locked)
		}
	} else {
		// Unprivileged, everything runs as us, and we own the 0700 parent.
		if err != nil {
			t.Fatalf("non-root start below own 0700 dir: %v", err)
		}
		if err := e.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// A non-empty directory that is not a cluster is never initdb'ed over.
	foreign := embeddedTestDir(t)
	if err := os.MkdirAll(foreign, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(foreign, "important.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Start(ctx, Options{DataDir: foreign, NoSync: true, Logger: log})
	if err == nil || !strings.Contains(err.Error(), "important.txt") {
		t.Fatalf("foreign dir: err = %v, want refusal naming important.txt", err)
	}
}

func TestDefaultDataDir(t *testing.T) {
	d := DefaultDataDir()
	if os.Geteuid() == 0 && d != "/var/lib/lotzero/postgres" {
		t.Fatalf("as root the data dir must be enterable by the postgres user: %s", d)
	}
	if !filepath.IsAbs(d) {
		t.Fatalf("data dir %q is not absolute", d)
	}
}

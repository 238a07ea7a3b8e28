package pgembed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// startLocked clears leftovers of a crashed run, launches postgres and waits
// until it accepts connections. Caller holds e.mu.
func (e *Server) startLocked(ctx context.Context) error {
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
func (e *Server) spawn(cmd *exec.Cmd) (*pgProcess, error) {
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
func (e *Server) waitReady(ctx context.Context, p *pgProcess) error {
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
func (e *Server) stopLocked(ctx context.Context) error {
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
func (e *Server) terminate(ctx context.Context, p *pgProcess) error {
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
func (e *Server) removePidFileIf(pid int) bool {
	path := filepath.Join(e.dataDir, postmasterPidName)
	got, err := readLockPid(path)
	if err != nil || got != pid {
		return false
	}
	return os.Remove(path) == nil
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

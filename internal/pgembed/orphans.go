package pgembed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// clearStaleLock handles a postmaster.pid (or socket lock file) left behind.
// postgres itself only checks kill(pid, 0), so a recycled pid would block it
// forever; a live postgres for this data dir whose owner died (we hold the
// owner lock, so no live process owns it) is shut down so that we can own
// the server.
func (e *Server) clearStaleLock(ctx context.Context, path string) error {
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
func (e *Server) reapOrphans(ctx context.Context) error {
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

package pgembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prepareDataDir creates the data dir, validates the socket path length and,
// when running as root, hands the directory to RunAsUser.
func (e *Server) prepareDataDir(absDir string) error {
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
func (e *Server) initdb(ctx context.Context) error {
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
	case postgresLogName, initdbTmpName, ownerLockName, "base", "global":
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

// DefaultDataDir is where lotzero keeps its embedded PostgreSQL's data:
// under the user's data home, or /var/lib/lotzero when running as root
// (PostgreSQL runs as an unprivileged user then, and cannot enter /root).
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

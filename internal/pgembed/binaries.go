package pgembed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// checkVersion fails early with a readable message when the data dir was
// created by a different major version than the binaries we picked.
func (e *Server) checkVersion(ctx context.Context) error {
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

package pgembed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ownerLockName is the file in the data dir that the owning process holds
// an exclusive flock on for as long as it runs the server. The kernel drops
// the lock when that process dies, however it dies, so a held lock means
// "its owner is alive: hands off", and a free one means any postgres still
// serving the directory is a true orphan that may be taken over. The file
// holds the owner's pid, for the refusal message.
const ownerLockName = "lotzero.lock"

// ErrDataDirInUse is returned (wrapped, naming the owner's pid) when another
// live process already runs a server on the data directory.
var ErrDataDirInUse = errors.New("data directory in use by another running process")

// lockOwner takes the data dir's owner lock without waiting, or says who
// holds it. The descriptor is close-on-exec, so postgres never inherits it
// and the lock dies with us, not with our child.
func lockOwner(dataDir string) (*os.File, error) {
	path := filepath.Join(dataDir, ownerLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open owner lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			owner := "unknown pid"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					owner = "pid " + strconv.Itoa(pid)
				}
			}
			return nil, fmt.Errorf("%w: %s is held by %s (lock file %s); stop that process or use another data directory",
				ErrDataDirInUse, dataDir, owner, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write owner lock %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write owner lock %s: %w", path, err)
	}
	return f, nil
}

package proof

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/lotzero/lotzero/ledger"
)

// nodes is the server the proof starts itself: one lotzero process and,
// for fault runs, a PostgreSQL the proof owns so it can restart it while
// the node keeps running.
type nodes struct {
	binary string
	dir    string
	addr   string
	url    string
	env    []string
	cmd    *exec.Cmd
	exited chan struct{}
	pg     *ledger.EmbeddedPostgres
}

func startNodes(ctx context.Context, binary string, faults bool) (*nodes, error) {
	if binary == "" {
		var err error
		if binary, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "lotzero-proof-")
	if err != nil {
		return nil, err
	}
	_ = os.Chmod(dir, 0o755) // PostgreSQL's own user must enter it when run as root
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n := &nodes{binary: binary, dir: dir, addr: ln.Addr().String()}
	ln.Close()
	n.url = "http://" + n.addr
	n.env = append(os.Environ(), "LOTZERO_COMMAND_RATE=100000", "LOTZERO_COMMAND_BURST=100000", "LOTZERO_SEED=true",
		"LOTZERO_RELAY_EVERY=500ms")
	if faults {
		n.pg, err = ledger.StartEmbedded(ctx, ledger.EmbeddedOptions{DataDir: filepath.Join(dir, "pg")})
		if err == nil {
			err = n.pg.EnsureDatabase(ctx, "lotzero")
		}
		if err != nil {
			n.stop()
			return nil, fmt.Errorf("start PostgreSQL for the proof: %w", err)
		}
		n.env = append(n.env, "DATABASE_URL="+n.pg.ConnString("lotzero"))
	} else {
		n.env = append(n.env, "LOTZERO_DATA_DIR="+filepath.Join(dir, "node"))
	}
	if err := n.startNode(ctx); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

func (n *nodes) startNode(ctx context.Context) error {
	n.cmd = exec.Command(n.binary, "serve", "--addr", n.addr, "--log-level", "error")
	n.cmd.Env = n.env
	n.cmd.Stderr = os.Stderr
	if err := n.cmd.Start(); err != nil {
		return err
	}
	n.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(n.cmd, n.exited)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-n.exited:
			return errors.New("the proof's lotzero node exited during start")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("the proof's lotzero node was not ready in 60s")
}

// kill ends the node with SIGKILL and starts it again on the same address.
func (n *nodes) kill(ctx context.Context) error {
	_ = n.cmd.Process.Kill()
	<-n.exited
	return n.startNode(ctx)
}

func (n *nodes) stop() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(30 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	}
	if n.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = n.pg.Stop(ctx)
		cancel()
	}
	os.RemoveAll(n.dir)
}

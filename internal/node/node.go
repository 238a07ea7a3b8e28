// Package node runs a lotzero server process for the tools that drive one
// from outside: the fan-out benchmark and the proof.
package node

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Node is one `lotzero serve` process on a loopback address of its own.
type Node struct {
	URL    string // http://127.0.0.1:port
	binary string
	addr   string
	env    []string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs binary (empty: this executable) as `lotzero serve` with extra
// environment, and waits until it is ready.
func Start(ctx context.Context, binary string, env ...string) (*Node, error) {
	if binary == "" {
		var err error
		if binary, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n := &Node{binary: binary, addr: ln.Addr().String(), env: append(os.Environ(), env...)}
	ln.Close()
	n.URL = "http://" + n.addr
	if err := n.start(ctx); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

func (n *Node) start(ctx context.Context) error {
	n.cmd = exec.Command(n.binary, "serve", "--addr", n.addr, "--log-level", "error")
	n.cmd.Env = n.env
	n.cmd.Stderr = os.Stderr
	if err := n.cmd.Start(); err != nil {
		return err
	}
	n.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(n.cmd, n.exited)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-n.exited:
			return errors.New("lotzero exited during start")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("lotzero was not ready in 60s")
}

// Pid is the process id of the running server.
func (n *Node) Pid() int { return n.cmd.Process.Pid }

// Kill ends the server with SIGKILL and starts it again on the same address.
func (n *Node) Kill(ctx context.Context) error {
	_ = n.cmd.Process.Kill()
	<-n.exited
	return n.start(ctx)
}

// Stop ends the server gracefully (SIGTERM), killing it after 30s.
func (n *Node) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

// TempDir makes a temporary directory the embedded PostgreSQL's
// unprivileged user can enter when the tools run as root.
func TempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

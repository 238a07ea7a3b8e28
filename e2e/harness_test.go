// Package e2e runs the real lotzero binary — its own embedded PostgreSQL,
// real WebSocket clients — and checks what users and bots would see.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// binary is the lotzero binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lotzero-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The embedded PostgreSQL runs as the postgres user when tests run as
	// root: it must be able to enter the data directories under dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binary = filepath.Join(dir, "lotzero")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/lotzero")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build lotzero:", err)
		return 1
	}
	code := m.Run()
	if dsqlSimOn() {
		fmt.Fprintln(os.Stderr, dsqlSimSummary())
	}
	return code
}

// server is one lotzero process.
type server struct {
	t       testing.TB
	cmd     *exec.Cmd
	URL     string // http://127.0.0.1:port
	WS      string // ws://127.0.0.1:port/ws
	DataDir string
	addr    string
	env     []string
	mu      sync.Mutex
	logs    bytes.Buffer
	exited  chan struct{}
}

// dataDir returns a fresh data directory the postgres user can enter.
func dataDir(t testing.TB) string {
	root, err := os.MkdirTemp(filepath.Dir(binary), "data-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	return filepath.Join(root, "pg")
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `lotzero serve` on a fresh port and waits until ready.
// env adds LOTZERO_* settings; dir reuses a data directory (restarts).
func startServer(t testing.TB, dir string, env ...string) *server {
	t.Helper()
	if dir == "" {
		dir = dataDir(t)
	}
	if os.Getenv("LOTZERO_E2E_FIREHOSE") == "dynamodb" && !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "DYNAMODB_TABLE=") }) {
		// The whole suite again on the DynamoDB firehose (make test does both).
		env = append(env, "DYNAMODB_TABLE="+tableName(), "DYNAMODB_ENDPOINT="+dynamoEndpoint(t))
	}
	if dsqlSimOn() && !slices.Contains(env, "DATABASE_URL=") {
		// "DATABASE_URL=" asks for the embedded PostgreSQL in every pass.
		env = throughDSQLSim(t, dir, env)
	}
	s := &server{t: t, DataDir: dir, addr: freeAddr(t), env: env}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.URL = "http://" + s.addr
	s.WS = "ws://" + s.addr + "/ws"
	s.cmd = exec.Command(binary, "serve", "--addr", s.addr, "--data-dir", s.DataDir, "--log-level", "warn")
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Stdout, s.cmd.Stderr = &lockedWriter{s}, &lockedWriter{s}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.exited:
			s.t.Fatalf("lotzero exited during start:\n%s", s.Logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.t.Fatalf("lotzero not ready in 60s:\n%s", s.Logs())
}

type lockedWriter struct{ s *server }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.logs.Write(p)
}

func (s *server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// stop ends the process gracefully (SIGTERM), as an operator would.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("lotzero did not stop within 30s of SIGTERM:\n%s", s.Logs())
	}
	if strings.Contains(s.Logs(), "DATA RACE") || strings.Contains(s.Logs(), "panic:") {
		s.t.Errorf("lotzero reported a race or panic:\n%s", s.Logs())
	} else if s.t.Failed() {
		// What the server warned of is often the why of a failure seen
		// only in CI.
		s.t.Logf("lotzero's log (warnings and errors), last lines:\n%s", lastLines(s.Logs(), 60))
	}
}

// lastLines is the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// kill ends the process at once with SIGKILL.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// restart starts the process again on the same data directory and port.
func (s *server) restart() { s.start() }

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// login gets a demo token.
func (s *server) login(t testing.TB, user, region string, roles ...string) string {
	t.Helper()
	sess, err := protocol.Login(ctxT(t, 10*time.Second), s.URL, user, region, roles...)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return sess.Token
}

// dial logs in and connects a client.
func (s *server) dial(t testing.TB, user, region string, roles ...string) *protocol.Client {
	t.Helper()
	c, err := protocol.Dial(ctxT(t, 15*time.Second), s.WS, s.login(t, user, region, roles...), region, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// do sends a request and fails the test on a transport error.
func do(t testing.TB, c *protocol.Client, req protocol.Request) protocol.Reply {
	t.Helper()
	r, err := c.Do(ctxT(t, 20*time.Second), req)
	if err != nil {
		t.Fatalf("%s: %v", req.Type, err)
	}
	return r
}

// mustOK sends a request that must succeed and decodes its result.
func mustOK(t testing.TB, c *protocol.Client, req protocol.Request, out any) {
	t.Helper()
	r := do(t, c, req)
	if err := r.Decode(out); err != nil {
		t.Fatalf("%s %+v: %v", req.Type, req, err)
	}
}

// createLot creates a lot as the demo host over HTTP.
func (s *server) createLot(t testing.TB, body string) string {
	t.Helper()
	tok := s.login(t, "auctioneer", "us-east-1")
	var res struct {
		Lot protocol.Lot `json:"lot"`
	}
	if err := protocol.PostJSON(ctxT(t, 10*time.Second), s.URL+"/api/lots", tok, []byte(body), &res); err != nil {
		t.Fatalf("create lot %s: %v", body, err)
	}
	return res.Lot.ID
}

// next waits for the next pushed message matching keep.
func next(t testing.TB, c *protocol.Client, d time.Duration, keep func(protocol.Message) bool) protocol.Message {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("connection closed while waiting: %v", c.Err())
			}
			if keep(m) {
				return m
			}
		case <-timeout:
			t.Fatalf("no matching message within %v", d)
		}
	}
}

func isEvent(kind string) func(protocol.Message) bool {
	return func(m protocol.Message) bool { return m.Event != nil && m.Event.Kind == kind }
}

func (s *server) audit(t testing.TB) {
	t.Helper()
	var a struct {
		OK         bool  `json:"ok"`
		Violations []any `json:"violations"`
	}
	if err := protocol.GetJSON(ctxT(t, 30*time.Second), s.URL+"/api/audit", "", &a); err != nil {
		t.Fatal(err)
	}
	if !a.OK {
		t.Fatalf("audit violations: %v", a.Violations)
	}
}

func (s *server) wallet(t testing.TB, token string) protocol.Wallet {
	t.Helper()
	var w struct {
		Wallet protocol.Wallet `json:"wallet"`
	}
	if err := protocol.GetJSON(ctxT(t, 10*time.Second), s.URL+"/api/wallet", token, &w); err != nil {
		t.Fatal(err)
	}
	return w.Wallet
}

// dynamoEndpoint is the DynamoDB Local the test command started.
func dynamoEndpoint(t testing.TB) string {
	ep := os.Getenv("LOTZERO_DYNAMODB_ENDPOINT")
	if ep == "" {
		t.Fatal("LOTZERO_DYNAMODB_ENDPOINT is not set: run with `make test` (or `bash .ci/with-dynamodb go test ./e2e`), which starts DynamoDB Local")
	}
	return ep
}

var tableSeq atomic.Int64

func tableName() string {
	return fmt.Sprintf("lz_e2e_%d_%d", os.Getpid(), tableSeq.Add(1))
}

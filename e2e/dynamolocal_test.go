package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dynamoLocal is a DynamoDB Local process of a test's own, which the test
// may freeze, kill and restart without disturbing the shared one that
// .ci/with-dynamodb started for the other tests. Its data live in a
// directory (-dbPath), so a restart keeps them.
type dynamoLocal struct {
	t        testing.TB
	emulator string // the folder holding DynamoDBLocal.jar
	dbPath   string
	port     int
	Endpoint string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	frozen bool
}

// startDynamoLocal runs a DynamoDB Local of the test's own on a free port.
func startDynamoLocal(t testing.TB) *dynamoLocal {
	t.Helper()
	emu := os.Getenv("LOTZERO_DYNAMODB_LOCAL")
	if emu == "" {
		t.Fatal("LOTZERO_DYNAMODB_LOCAL is not set: run with `bash .ci/with-dynamodb go test ./e2e` (or make test), which names DynamoDB Local's folder")
	}
	if _, err := os.Stat(filepath.Join(emu, "DynamoDBLocal.jar")); err != nil {
		t.Fatalf("LOTZERO_DYNAMODB_LOCAL=%s holds no DynamoDBLocal.jar: %v", emu, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	d := &dynamoLocal{t: t, emulator: emu, dbPath: t.TempDir(), port: port,
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port)}
	d.start()
	t.Cleanup(d.stop)
	return d
}

// start runs the process and waits until it accepts connections.
func (d *dynamoLocal) start() {
	d.t.Helper()
	cmd := exec.Command("java", "-Djava.library.path="+filepath.Join(d.emulator, "DynamoDBLocal_lib"), "-jar",
		filepath.Join(d.emulator, "DynamoDBLocal.jar"), "-dbPath", d.dbPath, "-sharedDb", "-port", strconv.Itoa(d.port))
	cmd.Dir = d.dbPath // it writes a metadata file where it runs
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("start DynamoDB Local: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	d.mu.Lock()
	d.cmd, d.exited, d.frozen = cmd, exited, false
	d.mu.Unlock()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-exited:
			d.t.Fatalf("DynamoDB Local exited during start:\n%s", logs.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(d.port), time.Second); err == nil {
			c.Close()
			return
		}
	}
	d.t.Fatalf("DynamoDB Local did not listen within 60s:\n%s", logs.String())
}

// freeze stops the process (SIGSTOP): connections are accepted by the
// kernel and never answered, as a hung endpoint behaves.
func (d *dynamoLocal) freeze() { d.signal(syscall.SIGSTOP, true) }

// thaw lets a frozen process go on (SIGCONT).
func (d *dynamoLocal) thaw() { d.signal(syscall.SIGCONT, false) }

func (d *dynamoLocal) signal(sig syscall.Signal, frozen bool) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("DynamoDB Local: %v: %v", sig, err)
	}
	d.frozen = frozen
}

// kill ends the process at once (SIGKILL); its data stay in dbPath.
func (d *dynamoLocal) kill() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	_ = cmd.Process.Kill()
	<-exited
}

// stop ends the process for good, a frozen one too.
func (d *dynamoLocal) stop() {
	d.mu.Lock()
	frozen := d.frozen
	d.mu.Unlock()
	if frozen {
		d.thaw()
	}
	d.kill()
}

// lockedBuffer collects a child process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

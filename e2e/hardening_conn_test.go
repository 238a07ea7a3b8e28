package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lotzero/lotzero/protocol"
)

// metricValue reads one series from /metrics (the whole line's prefix,
// labels included), 0 when absent.
func metricValue(t *testing.T, s *server, series string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestGarbageFramesEndIn4029: a burst of invalid frames is rate limited
// like requests (more so) and the session is closed with 4029, instead of
// every frame getting its own reply.
func TestGarbageFramesEndIn4029(t *testing.T) {
	s := startServer(t, "")
	c := s.dial(t, "vandal", "eu-west-1")
	ctx := ctxT(t, 60*time.Second)
	for i := 0; i < 2000; i++ {
		if err := c.WriteRaw(ctx, []byte(`{"type":"bogus","id":"x`+strconv.Itoa(i)+`"}`)); err != nil {
			break // already closed
		}
	}
	var status websocket.StatusCode = -1
	for status == -1 {
		select {
		case _, ok := <-c.Messages():
			if !ok {
				status = websocket.CloseStatus(c.Err())
			}
		case <-ctx.Done():
			t.Fatal("the session flooding garbage was never closed")
		}
	}
	if status != protocol.CloseRateLimited {
		t.Fatalf("closed with %d, want 4029", status)
	}
	if metricValue(t, s, `lotzero_limit_refusals_total{limit="rate"}`) == 0 {
		t.Fatal("no rate refusals counted")
	}
}

// TestConnectionCaps: sessions per user, lots per session and silent
// (pre-hello) connections per address are capped, each refusal with its
// code and a metric.
func TestConnectionCaps(t *testing.T) {
	s := startServer(t, "", "LOTZERO_MAX_SESSIONS_PER_USER=2", "LOTZERO_MAX_ROOMS_PER_SESSION=2",
		"LOTZERO_MAX_PENDING_PER_IP=3", "LOTZERO_HELLO_TIMEOUT=2s")
	ctx := ctxT(t, 60*time.Second)

	// Sessions per user: the third is closed with 4029 after its hello.
	s.dial(t, "tabby", "eu-west-1")
	s.dial(t, "tabby", "eu-west-1")
	_, err := protocol.Dial(ctx, s.WS, s.login(t, "tabby", "eu-west-1"), "eu-west-1", nil)
	if websocket.CloseStatus(err) != protocol.CloseRateLimited {
		t.Fatalf("third session of one user: %v, want close 4029", err)
	}
	s.dial(t, "other", "eu-west-1") // other users are not affected

	// Lots per session.
	c := s.dial(t, "roamer", "eu-west-1")
	for i := 0; i < 3; i++ {
		lot := s.createLot(t, `{"kind":"drop","title":"cap`+strconv.Itoa(i)+`","price":100,"qty":10}`)
		r := do(t, c, protocol.Request{Type: "join", Lot: lot})
		if i < 2 && !r.OK {
			t.Fatalf("join %d: %+v", i, r.Error)
		}
		if i == 2 && (r.OK || r.Error.Code != protocol.ErrLimitExceeded) {
			t.Fatalf("third lot: %+v, want limit_exceeded", r)
		}
	}

	// Silent sockets from one address: three hold their slots, the fourth
	// waits for one and, none freeing within the hello timeout, gets 429.
	var silent []*websocket.Conn
	for i := 0; i < 3; i++ {
		conn, _, err := websocket.Dial(ctx, s.WS, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		silent = append(silent, conn)
	}
	_, resp, err := websocket.Dial(ctx, s.WS, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth silent socket from one address: %v %v, want HTTP 429", resp, err)
	}
	// Once they time out (4008), the address may connect again.
	for _, conn := range silent {
		_, _, err := conn.Read(ctx)
		if websocket.CloseStatus(err) != protocol.CloseHelloTimeout {
			t.Fatalf("silent socket: %v, want 4008", err)
		}
	}
	s.dial(t, "late", "eu-west-1")
	for _, limit := range []string{"user_sessions", "rooms", "ip_pending"} {
		if metricValue(t, s, `lotzero_limit_refusals_total{limit="`+limit+`"}`) == 0 {
			t.Fatalf("no %s refusal counted", limit)
		}
	}
}

// TestSlowHTTPBodyIsCutOff: a request body dribbled 4 bytes at a time is
// refused once the read timeout passes, not served for as long as the
// client likes; an oversized body is refused with 413.
func TestSlowHTTPBodyIsCutOff(t *testing.T) {
	s := startServer(t, "", "LOTZERO_HTTP_READ_TIMEOUT=2s")
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"user":"dribble","region":"eu-west-1"}` + strings.Repeat(" ", 200)
	start := time.Now()
	_, _ = io.WriteString(conn, "POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n")
	done := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn)
		done <- string(b)
	}()
	var answer string
dribble:
	for i := 0; i < len(body); i += 4 {
		select {
		case answer = <-done:
			break dribble
		case <-time.After(250 * time.Millisecond):
		}
		_, _ = io.WriteString(conn, body[i:min(i+4, len(body))])
	}
	if answer == "" {
		select {
		case answer = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection was still open after the whole dribbled body")
		}
	}
	if held := time.Since(start); held > 8*time.Second {
		t.Fatalf("a dribbled body held the connection for %v", held)
	}
	if !strings.Contains(answer, "408") {
		t.Fatalf("answer to a dribbled body: %q, want 408", answer)
	}

	big := `{"user":"` + strings.Repeat("a", 100<<10) + `"}`
	resp, err := http.Post(s.URL+"/api/session", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error protocol.Error }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != protocol.ErrLimitExceeded {
		t.Fatalf("oversized body: %d %q, want 413 limit_exceeded", resp.StatusCode, e.Error.Code)
	}
	if metricValue(t, s, `lotzero_limit_refusals_total{limit="body_timeout"}`) == 0 ||
		metricValue(t, s, `lotzero_limit_refusals_total{limit="body_size"}`) == 0 {
		t.Fatal("body refusals not counted")
	}
}

// TestStuckWriterGets4009: a client that stops reading, so that the
// server's write to it is stuck past the write timeout, finds a 4009 close
// frame after what was buffered when it reads again — not a reset or a
// bare 1001.
func TestStuckWriterGets4009(t *testing.T) {
	// A queue large enough that only the stuck-write watchdog can act. The
	// watchdog is the hub's: the in-process firehose in both passes, so the
	// flood of chat that fills the socket does not wait on DynamoDB Local.
	// The sleeper answers no ping: no ping round may close it first.
	s := startServer(t, "", "LOTZERO_QUEUE_BYTES=67108864", "LOTZERO_CHAT_RATE=100000",
		"LOTZERO_CHAT_BUDGET=1000000", "LOTZERO_COMMAND_RATE=100000", "LOTZERO_COMMAND_BURST=100000", "DYNAMODB_TABLE=",
		"LOTZERO_PING_INTERVAL=1h")
	lot := s.createLot(t, `{"kind":"drop","title":"stuck","price":100,"qty":10}`)
	ctx := ctxT(t, 120*time.Second)
	slow, _, err := websocket.Dial(ctx, s.WS, &websocket.DialOptions{HTTPClient: smallBufferClient()})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	slow.SetReadLimit(1 << 20)
	hello, _ := json.Marshal(protocol.Hello{Type: "hello", Token: s.login(t, "sleeper", "sa-east-1"), Region: "sa-east-1"})
	_ = slow.Write(ctx, websocket.MessageText, hello)
	_, _, _ = slow.Read(ctx) // welcome
	_ = slow.Write(ctx, websocket.MessageText, []byte(`{"type":"join","id":"j","lot":"`+lot+`"}`))
	_, _, _ = slow.Read(ctx) // join reply; from now on it reads nothing

	chatter := s.dial(t, "talker", "us-east-1")
	mustOK(t, chatter, protocol.Request{Type: "join", Lot: lot}, nil)
	drain(chatter)
	text := strings.Repeat("lorem ipsum ", 40)
	// Enough chat to fill the slow client's buffers and the server's
	// socket buffer (which grows to a few MiB), then a trickle until the
	// watchdog closes it.
	for i := 0; metricValue(t, s, "lotzero_slow_consumer_closes_total") == 0; i++ {
		if i > 600 {
			t.Fatal("the stuck connection was never closed")
		}
		n := 1
		if i < 40 {
			n = 300
		}
		for j := 0; j < n; j++ {
			frame := `{"type":"chat","id":"m` + itoa(i*1000+j) + `","lot":"` + lot + `","text":"` + text + `"}`
			if err := chatter.WriteRaw(ctx, []byte(frame)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	// It reads again shortly after: what was buffered, then 4009.
	time.Sleep(time.Second)
	for {
		_, _, err := slow.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != protocol.CloseTooSlow {
				t.Fatalf("stuck reader got %v (status %d), want a 4009 close frame", err, st)
			}
			return
		}
	}
}

// TestSecondProcessRefusesDataDirInUse: a second lotzero on the data
// directory of a running one refuses to start, naming the first's pid, and
// the first keeps its database.
func TestSecondProcessRefusesDataDirInUse(t *testing.T) {
	// About the embedded PostgreSQL's data directory: embedded in every
	// pass, the DSQL layer's included.
	first := startServer(t, "", "DATABASE_URL=")
	token := first.login(t, "keeper", "eu-west-1")

	cmd := exec.Command(binary, "serve", "--addr", freeAddr(t), "--data-dir", first.DataDir, "--log-level", "warn")
	done := make(chan struct{})
	var out []byte
	go func() {
		out, _ = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the second lotzero on a data directory in use did not exit")
	}
	if cmd.ProcessState.Success() {
		t.Fatalf("the second lotzero exited 0:\n%s", out)
	}
	pid := strconv.Itoa(first.cmd.Process.Pid)
	if !strings.Contains(string(out), "in use") || !strings.Contains(string(out), "pid "+pid) {
		t.Fatalf("the refusal does not name the running process (pid %s):\n%s", pid, out)
	}
	// The first node's database is untouched: it still answers, for a while.
	for i := 0; i < 10; i++ {
		first.wallet(t, token)
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Contains(first.Logs(), "exited unexpectedly") {
		t.Fatalf("the first node lost its database:\n%s", first.Logs())
	}
	first.audit(t)
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// metric reads one unlabelled series from a node's /metrics (-1 when the
// node does not report it).
func metric(t testing.TB, base, name string) float64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t, 10*time.Second), http.MethodGet, base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

// chatLog is the chat lines one client received, by text, in order.
type chatLog struct {
	mu    sync.Mutex
	lines []string
	done  chan struct{} // closed when the connection ends
}

func logChat(c *protocol.Client) *chatLog {
	l := &chatLog{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for m := range c.Messages() {
			if m.Event == nil || m.Event.Kind != "chat" {
				continue
			}
			var d protocol.ChatData
			if json.Unmarshal(m.Event.Data, &d) == nil {
				l.mu.Lock()
				l.lines = append(l.lines, d.Text)
				l.mu.Unlock()
			}
		}
	}()
	return l
}

func (l *chatLog) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// TestKilledNodeResumesTheStream: node A is killed with SIGKILL while a
// client on node B chats into a lot that a client on A watches, and
// restarted under the same name. Its stream tailer resumes from the
// checkpoint it wrote while running (never from a clean shutdown), so a
// client that joins the restarted A gets every chat line sent while A was
// down, and each line exactly once. A client only receives chat live, and a
// restarted node catches up in milliseconds, so A runs with the tailer
// held back for a few seconds after it starts (LOTZERO_FAULT_TAIL_DELAY):
// the client is in the room before A reads what it missed.
//
// Always on DynamoDB Local (the stream is the subject), in both passes.
func TestKilledNodeResumesTheStream(t *testing.T) {
	const hold = 6 * time.Second
	env := clusterEnv(t, "LOTZERO_CHAT_RATE=1000", "LOTZERO_CHAT_BUDGET=1000")
	a := startServer(t, "", slices.Concat(env, []string{"LOTZERO_NODE=node-a", "LOTZERO_FAULT_TAIL_DELAY=" + hold.String()})...)
	b := startServer(t, "", slices.Concat(env, []string{"LOTZERO_NODE=node-b"})...)
	lot := b.createLot(t, `{"kind":"drop","title":"chatty","price":100,"qty":10}`)

	watcher := a.dial(t, "watcher", "eu-west-1")
	mustOK(t, watcher, protocol.Request{Type: "join", Lot: lot}, nil)
	before := logChat(watcher)
	talker := b.dial(t, "talker", "us-east-1")
	mustOK(t, talker, protocol.Request{Type: "join", Lot: lot}, nil)
	for _, n := range []*server{a, b} {
		waitUntil(t, 30*time.Second, "the tailers to start", func() bool { return metric(t, n.URL, "lotzero_firehose_getrecords_total") > 0 })
	}

	// The talker on B sends a line every 40ms until told to stop; a line
	// is sent when its reply says it is stored.
	type line struct {
		text string
		at   time.Time
	}
	var sent []line
	var sentMu sync.Mutex
	stop, stopped := make(chan struct{}), make(chan error, 1)
	go func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				stopped <- nil
				return
			case <-time.After(40 * time.Millisecond):
			}
			text := fmt.Sprintf("line %04d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r, err := talker.Do(ctx, protocol.Request{Type: "chat", ID: fmt.Sprintf("c%d", i), Lot: lot, Text: text})
			cancel()
			if err == nil && !r.OK {
				err = fmt.Errorf("chat %d refused: %+v", i, r.Error)
			}
			if err != nil {
				stopped <- err
				return
			}
			sentMu.Lock()
			sent = append(sent, line{text, time.Now()})
			sentMu.Unlock()
		}
	}()

	waitUntil(t, 20*time.Second, "the watcher on A to receive 20 lines", func() bool { return len(before.got()) >= 20 })
	killed := time.Now()
	a.kill() // mid-chat: no clean shutdown, no last checkpoint
	<-before.done
	time.Sleep(time.Second) // lines go on through B while A is down
	a.restart()
	watcher2 := a.dial(t, "watcher", "eu-west-1")
	mustOK(t, watcher2, protocol.Request{Type: "join", Lot: lot}, nil)
	after := logChat(watcher2)
	if n := metric(t, a.URL, "lotzero_firehose_getrecords_total"); n != 0 {
		t.Fatalf("the restarted node read the stream (%v calls) before the client joined: raise the tail delay", n)
	}
	waitUntil(t, 30*time.Second, "the restarted tailer to start", func() bool { return metric(t, a.URL, "lotzero_firehose_getrecords_total") > 0 })
	time.Sleep(time.Second) // and live lines after it caught up
	close(stop)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	sentMu.Lock()
	all := slices.Clone(sent)
	sentMu.Unlock()

	seenBefore := map[string]int{}
	for _, l := range before.got() {
		seenBefore[l]++
	}
	// A line stored just before the kill may have been on its way to the
	// dead node's session, past the checkpoint, when it died: that
	// session's loss, not the stream's. Any other line must reach a watcher.
	const inFlight = 250 * time.Millisecond
	mustReach := func(l line) bool { return l.at.After(killed) || l.at.Before(killed.Add(-inFlight)) }
	waitUntil(t, 30*time.Second, "every line sent to reach A's watcher, before or after the kill", func() bool {
		got := map[string]bool{}
		for _, l := range after.got() {
			got[l] = true
		}
		for _, l := range all {
			if mustReach(l) && seenBefore[l.text] == 0 && !got[l.text] {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond) // room for a duplicate to show
	seenAfter := map[string]int{}
	for _, l := range after.got() {
		seenAfter[l]++
	}
	redelivered, whileDown, lostInFlight := 0, 0, 0
	for _, l := range all {
		b, a := seenBefore[l.text], seenAfter[l.text]
		switch {
		case b > 1 || a > 1:
			t.Errorf("%q reached a watcher on A more than once (%d before the kill, %d after)", l.text, b, a)
		case b == 1 && a == 1:
			redelivered++
		case b == 0 && a == 0:
			lostInFlight++ // only lines stored within inFlight of the kill get here
		case l.at.After(killed):
			whileDown++
		}
	}
	t.Logf("%d lines sent; %d seen before the kill; %d stored after it, each received once by the restarted node's watcher; "+
		"%d delivered after A's last checkpoint came again; %d stored within %v before the kill reached neither watcher",
		len(all), len(seenBefore), whileDown, redelivered, lostInFlight, inFlight)
	if whileDown == 0 {
		t.Fatal("no line was sent while A was down: the test proved nothing")
	}
	if n := metric(t, a.URL, "lotzero_firehose_checkpoint_writes_total"); n <= 0 {
		t.Errorf("the restarted node wrote no checkpoint (%v)", n)
	}
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

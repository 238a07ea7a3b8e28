package protocol

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestClientUnpacksBatches: Dial asks for batch frames, and a batch
// reaches Messages as its events, one Message each with the event's own
// frame as Raw, then its suppressed counts.
func TestClientUnpacksBatches(t *testing.T) {
	hellos := make(chan Hello, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		_, frame, err := c.Read(ctx)
		if err != nil {
			return
		}
		h, _ := ParseHello(frame)
		hellos <- h
		for _, f := range []string{
			`{"type":"welcome","session":"s","user":"u","roles":[],"region":"eu-west-1","server":{"node":"n","ledger":"l","firehose":"memory"},"wallet":{}}`,
			`{"type":"batch","lot":"l","events":[` +
				`{"type":"event","lot":"l","social_seq":1,"kind":"chat","at":"t","region":"eu-west-1","data":{"user":"a","region":"eu-west-1","text":"one"}},` +
				`{"type":"event","lot":"l","social_seq":2,"kind":"reaction","at":"t","region":"eu-west-1","data":{"user":"b","region":"eu-west-1","emoji":"🔥"}}],` +
				`"suppressed":{"chat":7}}`,
			`{"type":"batch","lot":"l","events":[{"type":"event","lot":"l","social_seq":3,"kind":"chat","at":"t","region":"eu-west-1","data":{"user":"a","region":"eu-west-1","text":"two"}}]}`,
		} {
			if c.Write(ctx, websocket.MessageText, []byte(f)) != nil {
				return
			}
		}
		_, _, _ = c.Read(ctx) // until the client closes
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, WSURL(srv.URL), "token", "eu-west-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	if h := <-hellos; !h.Batch {
		t.Fatal("Dial did not ask for batch frames")
	}
	var got []string
	for len(got) < 4 {
		select {
		case m := <-c.Messages():
			switch {
			case m.Event != nil:
				var ev Event
				if err := json.Unmarshal(m.Raw, &ev); err != nil || ev.Type != "event" || ev.SocialSeq != m.Event.SocialSeq {
					t.Fatalf("Raw is not the event's frame: %s", m.Raw)
				}
				got = append(got, m.Type+":"+m.Event.Kind)
			case m.Batch != nil:
				got = append(got, fmt.Sprint("counts:", m.Batch.Suppressed["chat"]))
			}
		case <-ctx.Done():
			t.Fatalf("got only %v", got)
		}
	}
	if want := "[event:chat event:reaction counts:7 event:chat]"; fmt.Sprint(got) != want {
		t.Fatalf("messages %v, want %s", got, want)
	}
}

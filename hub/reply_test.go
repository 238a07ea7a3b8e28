package hub

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/lotzero/lotzero/protocol"
)

// A reply frame put together around its result is byte for byte what
// encoding/json makes of the whole reply, escapes included.
func TestReplyFrameIsTheReplyMarshalled(t *testing.T) {
	results := []any{
		nil,
		map[string]any{"lot": protocol.Lot{ID: "l1", Kind: "english", Title: `<b>"Lamp" & co</b>`, HighBid: 1500}},
		protocol.JoinResult{Lot: protocol.Lot{ID: "l2", Kind: "dutch", Title: "ünïcødé \u2028 line"}, Seq: 7,
			Presence: []protocol.Presence{{User: "a<b", Region: "eu-west-1"}}},
		[]string{"\x00\x1f", `back\slash`},
	}
	for _, id := range []string{"", "1", `q"uote`, "<script>&", "ü\u2029"} {
		for _, res := range results {
			r, err := okReply(id, res)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := replyFrame(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("reply frame\n%s\nwant\n%s", got, want)
			}
		}
	}
}

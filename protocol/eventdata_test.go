package protocol

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// Every kind in README.md's events table, and every social kind, has a
// data type; an unknown kind is reported as such.
func TestDocumentedKindsDecode(t *testing.T) {
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)`(?: / `([a-z_]+)`)? \\|")
	kinds := []string{EventChat, EventReaction, EventPresence}
	doc := readme(t)
	table := strings.Index(doc, "| kind | data |")
	if table < 0 {
		t.Fatal("README.md has no events table")
	}
	end := strings.Index(doc[table:], "\n\n")
	for _, m := range row.FindAllStringSubmatch(doc[table:table+end], -1) {
		kinds = append(kinds, m[1])
		if m[2] != "" {
			kinds = append(kinds, m[2])
		}
	}
	if len(kinds) < 12 {
		t.Fatalf("found only %v", kinds)
	}
	for _, k := range kinds {
		d, err := DecodeEventData(k, []byte(`{}`))
		if err != nil || d.EventKind() != k {
			t.Errorf("kind %s: %v, %v", k, d, err)
		}
	}
	if _, err := DecodeEventData("auction_of_the_future", []byte(`{}`)); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("unknown kind: %v", err)
	}
}

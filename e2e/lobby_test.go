package e2e

import (
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// TestLobbyListsOpenLotsThenRecentlyClosed: the lobby lists open lots (the
// demo's among them, however many lots come after), then the recently
// closed; an unlisted lot (as the proof creates) never shows, yet trades
// and is read by its id as any other.
func TestLobbyListsOpenLotsThenRecentlyClosed(t *testing.T) {
	s := startServer(t, "")
	hidden := s.createLot(t, `{"kind":"drop","title":"a proof lot","price":100,"qty":2,"unlisted":true}`)
	shown := s.createLot(t, `{"kind":"drop","title":"a listed lot","price":100,"qty":1}`)
	buyer := s.dial(t, "alice", "eu-west-1")
	mustOK(t, buyer, protocol.Request{Type: "buy", Lot: hidden, Qty: 1}, nil)
	mustOK(t, buyer, protocol.Request{Type: "buy", Lot: shown, Qty: 1}, nil) // sells out: closed and settled

	var lobby struct {
		Lots   []protocol.Lot `json:"lots"`
		Recent []protocol.Lot `json:"recent"`
	}
	if err := protocol.GetJSON(ctxT(t, 10*time.Second), s.URL+"/api/lots", "", &lobby); err != nil {
		t.Fatal(err)
	}
	demo := 0
	for _, l := range lobby.Lots {
		if l.ID == hidden || l.ID == shown {
			t.Fatalf("open list holds %s (%s)", l.Title, l.Status)
		}
		if l.Status != "open" && l.Status != "scheduled" {
			t.Fatalf("a %s lot in the open list", l.Status)
		}
		if l.Host == "auctioneer" {
			demo++
		}
	}
	if demo == 0 {
		t.Fatal("the demo lots are missing from the lobby")
	}
	recent := false
	for _, l := range lobby.Recent {
		recent = recent || l.ID == shown
		if l.ID == hidden {
			t.Fatal("an unlisted lot in the recently closed list")
		}
	}
	if !recent {
		t.Fatalf("the sold-out lot is not in the recently closed list: %+v", lobby.Recent)
	}
	var one struct {
		Lot protocol.Lot `json:"lot"`
	}
	if err := protocol.GetJSON(ctxT(t, 10*time.Second), s.URL+"/api/lots/"+hidden, "", &one); err != nil || one.Lot.QtyClaimed != 1 {
		t.Fatalf("the unlisted lot by its id: %+v %v", one.Lot, err)
	}
}

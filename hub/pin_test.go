package hub

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// The ledger and the protocol never import each other, so each has its own
// event payload types and error codes; the hub, which imports both, pins
// them together here.

func strp(s string) *string { return &s }

// ledgerPayloads is a sample of every ledger payload type in every variant
// its mechanic or state gives it.
var ledgerPayloads = []struct {
	name string
	data ledger.EventData
}{
	{"opened english", ledger.OpenedData{Status: "open", EndsAt: "2026-11-26T18:17:00.260Z", StartPrice: 50000}},
	{"opened dutch", ledger.OpenedData{Status: "open", Price: 10000, NextTickAt: "2026-11-26T17:17:01.260Z"}},
	{"opened drop", ledger.OpenedData{Status: "open", Price: 12000, QtyTotal: 100}},
	{"bid", ledger.BidData{Bidder: "alice", BidderRegion: "eu-west-1", Amount: 80000, Proxy: true, HighBid: 80000,
		HighBidder: "alice", MinNextBid: 81000, BidCount: 2}},
	{"bid outbidding", ledger.BidData{Bidder: "bob", BidderRegion: "ap-southeast-1", Amount: 90000, HighBid: 90000,
		HighBidder: "bob", MinNextBid: 91000, BidCount: 3, ReserveMet: true, Outbid: "alice"}},
	{"extended", ledger.ExtendedData{EndsAt: "2026-11-26T18:17:30.000Z", ExtensionS: 30}},
	{"price_tick", ledger.PriceTickData{Price: 9500, Step: 1, FloorPrice: 5000, NextTickAt: "2026-11-26T17:17:02.260Z"}},
	{"price_tick held at the floor", ledger.PriceTickData{Price: 5000, Step: 10, FloorPrice: 5000}},
	{"claimed", ledger.ClaimedData{Buyer: "carol", BuyerRegion: "us-east-1", Qty: 2, Price: 9500, QtyClaimed: 2, Remaining: 8}},
	{"sold", ledger.SoldData{Buyer: "dave", BuyerRegion: "sa-east-1", Qty: 1, Price: 12000, QtyClaimed: 100}},
	{"sold_out", ledger.SoldOutData{QtyTotal: 100}},
	{"closed", ledger.ClosedData{Reason: "ended"}},
	{"settled english won", ledger.SettledData{Proceeds: 90000, QtySold: 1,
		EnglishSettlement: &ledger.EnglishSettlement{Winner: strp("bob"), Price: 90000, ReserveMet: true}}},
	{"settled english unsold", ledger.SettledData{EnglishSettlement: &ledger.EnglishSettlement{}}},
	{"settled dutch or drop", ledger.SettledData{Proceeds: 36000, QtySold: 3}},
}

// TestEventPayloadsAgree encodes each ledger payload, decodes it strictly
// into the protocol's type for its kind, and encodes and decodes it back:
// the JSON must be the same value both ways and the ledger value must
// survive the trip.
func TestEventPayloadsAgree(t *testing.T) {
	for _, c := range ledgerPayloads {
		kind := c.data.EventKind()
		raw, err := json.Marshal(c.data)
		if err != nil {
			t.Fatal(err)
		}
		loose, err := protocol.DecodeEventData(kind, raw)
		if err != nil {
			t.Errorf("%s: the protocol has no type for kind %q: %v", c.name, kind, err)
			continue
		}
		if loose.EventKind() != kind {
			t.Errorf("%s: protocol type %T is kind %q, want %q", c.name, loose, loose.EventKind(), kind)
		}
		strict := reflect.New(reflect.TypeOf(loose))
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(strict.Interface()); err != nil {
			t.Errorf("%s: %s does not decode strictly into %T: %v", c.name, raw, loose, err)
			continue
		}
		wire, err := json.Marshal(strict.Elem().Interface())
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, raw, wire) {
			t.Errorf("%s: ledger writes %s, the protocol %s", c.name, raw, wire)
		}
		back, err := ledger.DecodeEventData(kind, wire)
		if err != nil || !reflect.DeepEqual(back, c.data) {
			t.Errorf("%s: back through the ledger: %#v, %v; want %#v", c.name, back, err, c.data)
		}
	}
}

// TestEveryLedgerKindIsPinned fails when the ledger gains an event kind or
// payload type that the samples above (and so the protocol) lack. It reads
// the ledger's source, so a kind cannot be added without being seen.
func TestEveryLedgerKindIsPinned(t *testing.T) {
	kinds, types := ledgerEventKindsAndTypes(t)
	sampledKinds, sampledTypes := map[string]bool{}, map[string]bool{}
	for _, c := range ledgerPayloads {
		sampledKinds[c.data.EventKind()] = true
		sampledTypes[reflect.TypeOf(c.data).Name()] = true
	}
	for _, k := range kinds {
		if !sampledKinds[k] {
			t.Errorf("ledger event kind %q has no sample here and so no proof of a protocol type", k)
		}
	}
	for _, ty := range types {
		if !sampledTypes[ty] {
			t.Errorf("ledger payload type %s has no sample here", ty)
		}
	}
	listed := ledger.EventKinds()
	slices.Sort(listed)
	if !slices.Equal(listed, kinds) {
		t.Errorf("ledger.EventKinds() = %v, the source declares %v", listed, kinds)
	}
	if len(kinds) == 0 || len(types) == 0 {
		t.Fatal("found no ledger event kinds or payload types: has the source moved?")
	}
}

// TestEveryLedgerCodeHasAWireCode fails when the ledger has an error code
// the hub does not map to one of the protocol's codes.
func TestEveryLedgerCodeHasAWireCode(t *testing.T) {
	wire := map[string]bool{}
	for _, v := range stringConsts(t, "../protocol", func(name, _ string) bool { return strings.HasPrefix(name, "Err") }) {
		wire[v] = true
	}
	codes := stringConsts(t, "../ledger", func(_, typ string) bool { return typ == "Code" })
	if len(codes) == 0 || len(wire) == 0 {
		t.Fatal("found no codes: has the source moved?")
	}
	for _, c := range codes {
		w, ok := wireCodes[ledger.Code(c)]
		if !ok {
			t.Errorf("ledger code %q has no protocol code in wireCodes", c)
			continue
		}
		if !wire[w] {
			t.Errorf("ledger code %q maps to %q, which protocol/codes.go does not define", c, w)
		}
	}
	if len(wireCodes) != len(codes) {
		t.Errorf("wireCodes has %d entries for %d ledger codes", len(wireCodes), len(codes))
	}
}

// ledgerEventKindsAndTypes reads the ledger's source for its event kinds
// (string constants named Event…) and its payload types (receivers of an
// EventKind method), both sorted.
func ledgerEventKindsAndTypes(t *testing.T) (kinds, types []string) {
	kinds = stringConsts(t, "../ledger", func(name, _ string) bool {
		return strings.HasPrefix(name, "Event") && len(name) > len("Event")
	})
	for _, f := range parseDir(t, "../ledger") {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "EventKind" {
				continue
			}
			rt := fn.Recv.List[0].Type
			if star, ok := rt.(*ast.StarExpr); ok {
				rt = star.X
			}
			types = append(types, rt.(*ast.Ident).Name)
		}
	}
	slices.Sort(kinds)
	slices.Sort(types)
	return kinds, types
}

// stringConsts returns the values of the string-literal constants of a
// package directory that keep(name, declared type) accepts.
func stringConsts(t *testing.T, dir string, keep func(name, typ string) bool) []string {
	t.Helper()
	var out []string
	for _, f := range parseDir(t, dir) {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				typ := ""
				if id, ok := vs.Type.(*ast.Ident); ok {
					typ = id.Name
				}
				for i, name := range vs.Names {
					if i >= len(vs.Values) || !keep(name.Name, typ) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					out = append(out, v)
				}
			}
		}
	}
	return out
}

func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// TestEveryProtocolCodeIsDocumentedAndHasAStatus: each error code in
// protocol/codes.go is listed in protocol/README.md, and the HTTP status
// of each that is not a refusal by the lot's or wallet's state (409) is
// chosen, not defaulted.
func TestEveryProtocolCodeIsDocumentedAndHasAStatus(t *testing.T) {
	doc, err := os.ReadFile("../protocol/README.md")
	if err != nil {
		t.Fatal(err)
	}
	refusals := map[string]bool{protocol.ErrLotNotOpen: true, protocol.ErrLotClosed: true, protocol.ErrBidTooLow: true,
		protocol.ErrSoldOut: true, protocol.ErrInsufficientFunds: true, protocol.ErrLimitExceeded: true, protocol.ErrPriceChanged: true}
	codes := stringConsts(t, "../protocol", func(name, _ string) bool { return strings.HasPrefix(name, "Err") })
	if len(codes) == 0 {
		t.Fatal("found no codes: has the source moved?")
	}
	for _, c := range codes {
		if !strings.Contains(string(doc), "`"+c+"`") {
			t.Errorf("error code %q is not documented in protocol/README.md", c)
		}
		if got := statusOf(c); (got == http.StatusConflict) != refusals[c] {
			t.Errorf("error code %q has HTTP status %d", c, got)
		}
	}
	if statusOf(protocol.ErrUnavailable) != http.StatusServiceUnavailable {
		t.Errorf("unavailable is %d, want 503", statusOf(protocol.ErrUnavailable))
	}
}

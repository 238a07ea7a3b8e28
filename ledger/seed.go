package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// DemoHost hosts every seeded lot.
const DemoHost = "auctioneer"

// DemoUser is a seeded user and the Region they act from by default.
type DemoUser struct {
	Name   string
	Region string
}

// DemoRegions are the five Regions the demo spreads its users across.
func DemoRegions() []string {
	return []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1", "sa-east-1"}
}

// DemoUsers is the seeded host followed by a dozen funded bidders.
func DemoUsers() []DemoUser {
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj"}
	regions := DemoRegions()
	users := []DemoUser{{Name: DemoHost, Region: regions[0]}}
	for i, n := range names {
		users = append(users, DemoUser{Name: n, Region: regions[i%len(regions)]})
	}
	return users
}

// demoLot is one seeded lot; Slug names it stably so seeding is idempotent.
type demoLot struct {
	Slug string
	Spec LotSpec
}

func demoLots() []demoLot {
	return []demoLot{
		{"leica-m3", LotSpec{Kind: KindEnglish, Title: "1954 Leica M3 rangefinder", StartPrice: 50_000, Reserve: 120_000, DurationS: 3600, ExtensionS: 30}},
		{"strat-1962", LotSpec{Kind: KindEnglish, Title: "Signed 1962 Stratocaster", StartPrice: 250_000, DurationS: 900, ExtensionS: 30, HardEndS: 1800}},
		{"dune-first", LotSpec{Kind: KindEnglish, Title: "Dune, first edition (1965)", StartPrice: 10_000, DurationS: 86_400, ExtensionS: 60}},
		{"tuna-bluefin", LotSpec{Kind: KindDutch, Title: "Bluefin tuna, 200 kg", StartPrice: 900_000, FloorPrice: 300_000, Step: 10_000, IntervalMS: 5_000, Qty: 1}},
		{"tulips-crate", LotSpec{Kind: KindDutch, Title: "Crates of Semper Augustus tulips", StartPrice: 20_000, FloorPrice: 5_000, Step: 500, IntervalMS: 3_000, Qty: 40, FloorAction: FloorHold}},
		{"wine-case", LotSpec{Kind: KindDutch, Title: "Case of 2015 Pauillac", StartPrice: 150_000, FloorPrice: 60_000, Step: 2_500, IntervalMS: 4_000, Qty: 10}},
		{"sneaker-drop", LotSpec{Kind: KindDrop, Title: "Limited sneaker drop", Price: 18_000, Qty: 50, PerUserLimit: 2}},
		{"vinyl-box", LotSpec{Kind: KindDrop, Title: "Numbered vinyl box set", Price: 12_500, Qty: 200, PerUserLimit: 1}},
		{"concert-pass", LotSpec{Kind: KindDrop, Title: "Front-row festival pass", Price: 45_000, Qty: 25}},
	}
}

// DemoLotID is the fixed id of a seeded lot.
func DemoLotID(slug string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("lotzero:demo:"+slug))
}

// Seed creates the demo data set: the host, a dozen funded users across
// five Regions, and three lots of each mechanic. It is idempotent: users
// are created only when missing and each lot under a fixed request id, so
// running it again (on every start, on several nodes) changes nothing. It
// returns the events of lots it created.
func (l *Ledger) Seed(ctx context.Context) ([]Event, error) {
	for _, u := range DemoUsers() {
		if _, err := l.EnsureUser(ctx, u.Name, u.Region, l.DemoBalance()); err != nil {
			return nil, fmt.Errorf("seed user %s: %w", u.Name, err)
		}
	}
	var events []Event
	host := Actor{User: DemoHost, Region: DemoRegions()[0]}
	for _, d := range demoLots() {
		d.Spec.ID = DemoLotID(d.Slug)
		host.RequestID = "seed:" + d.Slug
		_, evs, err := l.CreateLot(ctx, host, d.Spec)
		if err != nil {
			return nil, fmt.Errorf("seed lot %s: %w", d.Slug, err)
		}
		events = append(events, evs...)
	}
	return events, nil
}

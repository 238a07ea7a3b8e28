package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
)

// runDemo shows the ledger working on its configured backend: the demo data,
// then a rush of every demo user at one small drop from five Regions, then
// the audit: the ledger alone, without the server.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var buyers int
	l, err := openLedger(ctx, "demo", args, stderr, func(fs *flagSet) {
		fs.IntVar(&buyers, "buyers", 200, "concurrent buyers in the demonstration rush")
	})
	if err != nil {
		return err
	}
	defer l.Close()
	if buyers < 1 || buyers > 10_000 {
		return fmt.Errorf("--buyers must be between 1 and 10000")
	}
	if _, err := l.Seed(ctx); err != nil {
		return err
	}
	lots, err := l.Lots(ctx, 100)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "LotZero ledger on %s: %d lots\n", l.Backend(), len(lots))
	for _, lot := range lots {
		fmt.Fprintf(stdout, "  %-8s %-9s %-40s seq %d\n", lot.Kind, lot.Status, lot.Title, lot.Seq)
	}

	// A fresh drop of 5 units, rushed by `buyers` users at the same instant.
	run := uuid.NewString()[:8]
	host := ledger.Actor{User: ledger.DemoHost, Region: "us-east-1", RequestID: "demo-lot-" + run}
	res, _, err := l.CreateLot(ctx, host, ledger.LotSpec{Kind: ledger.KindDrop, Title: "Demo rush " + run, Price: 1_000, Qty: 5})
	if err != nil {
		return err
	}
	regions := ledger.DemoRegions()
	outcomes := map[ledger.Code]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < buyers; i++ {
		user := fmt.Sprintf("rush%d", i)
		if _, err := l.EnsureUser(ctx, user, regions[i%len(regions)], l.DemoBalance()); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _, err := l.BuyDrop(ctx, ledger.Actor{User: user, Region: regions[i%len(regions)], RequestID: "demo-" + run}, res.Lot, 1)
			mu.Lock()
			outcomes[ledger.CodeOf(err)]++
			mu.Unlock()
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	fmt.Fprintf(stdout, "\n%d buyers rushed 5 units in %v: %d bought, refused %v\n",
		buyers, time.Since(began).Round(time.Millisecond), outcomes[""], refusals(outcomes))
	vs, err := l.Audit(ctx)
	if err != nil {
		return err
	}
	if len(vs) > 0 {
		for _, v := range vs {
			fmt.Fprintln(stdout, "VIOLATION", v)
		}
		return exitError(1)
	}
	st := l.Stats()
	fmt.Fprintf(stdout, "audit: every invariant holds (%d commits, %d OCC retries)\n", st.Commits, st.Conflicts)
	return nil
}

func refusals(m map[ledger.Code]int) map[ledger.Code]int {
	out := map[ledger.Code]int{}
	for c, n := range m {
		if c != "" {
			out[c] = n
		}
	}
	return out
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotzero/lotzero/internal/dblatency"
	"github.com/lotzero/lotzero/internal/dsqlsim"
	"github.com/lotzero/lotzero/internal/pgembed"
)

// With LOTZERO_E2E_DSQL_SIM=1 every server reaches its PostgreSQL only
// through the DSQL layer (internal/dsqlsim): 5 % of writing COMMITs aborted
// with 40001 OC000, connections closed after 20 s, DSQL's refusals and
// limits. A server that would run its own embedded PostgreSQL gets one the
// harness runs for its data directory instead (it outlives the server's
// restarts, as the embedded one's data does), behind the layer.
func dsqlSimOn() bool { return os.Getenv("LOTZERO_E2E_DSQL_SIM") == "1" }

// dsqlSimOptions are the suite's settings for the layer.
func dsqlSimOptions() dsqlsim.Options {
	return dsqlsim.Options{AbortShare: 0.05, ConnLifetime: 20 * time.Second, StaleSchemaWindow: 100 * time.Millisecond}
}

// simDatabases are the harness's PostgreSQL servers, by data directory.
var simDatabases = struct {
	sync.Mutex
	pg   map[string]*pgembed.Server
	sims []*dsqlsim.Sim
}{pg: map[string]*pgembed.Server{}}

// throughDSQLSim rewrites a server's settings so its database is reached
// through the layer.
func throughDSQLSim(t testing.TB, dir string, env []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn, at := "", -1
	for i, e := range env {
		if v, ok := strings.CutPrefix(e, "DATABASE_URL="); ok {
			dsn, at = v, i
		}
	}
	if dsn == "" {
		simDatabases.Lock()
		pg := simDatabases.pg[dir]
		simDatabases.Unlock()
		if pg == nil {
			// Beside the data directory, not in it: lotzero's own lock on
			// the directory stays its own.
			var err error
			if pg, err = pgembed.Start(ctx, pgembed.Options{DataDir: dir + "-dsqlsim", NoSync: true}); err != nil {
				t.Fatal(err)
			}
			if err := pg.EnsureDatabase(ctx, "lotzero"); err != nil {
				t.Fatal(err)
			}
			simDatabases.Lock()
			simDatabases.pg[dir] = pg
			simDatabases.Unlock()
			t.Cleanup(func() {
				c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = pg.Stop(c)
				simDatabases.Lock()
				delete(simDatabases.pg, dir)
				simDatabases.Unlock()
			})
		}
		dsn = pg.ConnString("lotzero")
	}
	target, err := dblatency.Target(dsn)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := dsqlsim.Start(context.Background(), target, dsqlSimOptions())
	if err != nil {
		t.Fatal(err)
	}
	simDatabases.Lock()
	simDatabases.sims = append(simDatabases.sims, sim)
	simDatabases.Unlock()
	t.Cleanup(func() { sim.Close() })
	via, err := sim.PoolConnString(dsn)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]string(nil), env...)
	if at >= 0 {
		out[at] = "DATABASE_URL=" + via
	} else {
		out = append(out, "DATABASE_URL="+via)
	}
	return out
}

// dsqlSimSummary is what the layer did over the whole suite.
func dsqlSimSummary() string {
	simDatabases.Lock()
	defer simDatabases.Unlock()
	var total dsqlsim.Stats
	for _, s := range simDatabases.sims {
		st := s.Stats()
		total.Connections += st.Connections
		total.Commits += st.Commits
		total.AbortedOC000 += st.AbortedOC000
		total.AbortedOC001 += st.AbortedOC001
		total.RowLimit += st.RowLimit
		total.TimeLimit += st.TimeLimit
		total.ConnsClosed += st.ConnsClosed
		for rule, n := range st.Refused {
			if total.Refused == nil {
				total.Refused = map[string]int64{}
			}
			total.Refused[rule] += n
		}
	}
	return fmt.Sprintf("DSQL layer over the e2e suite: %d proxies, %d connections, %d COMMITs through, aborted OC000 %d, OC001 %d; refused %v; 54000 rows %d, time %d; connections closed %d",
		len(simDatabases.sims), total.Connections, total.Commits, total.AbortedOC000, total.AbortedOC001, total.Refused,
		total.RowLimit, total.TimeLimit, total.ConnsClosed)
}

package proof

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lotzero/lotzero/internal/dblatency"
	"github.com/lotzero/lotzero/internal/dsqlsim"
	"github.com/lotzero/lotzero/internal/node"
	"github.com/lotzero/lotzero/internal/pgembed"
)

// nodes are the servers the proof starts itself: n lotzero processes on
// their default settings and, when there is more than one or for fault
// runs, a PostgreSQL the proof owns and they share — so it can restart the
// database under them, and two nodes commit against the same rows, where
// OCC decides. With a DynamoDB endpoint they share a firehose table too.
// With a database latency they reach that PostgreSQL only through a proxy
// that adds it (internal/dblatency), as does the raw bound. With the DSQL
// layer (internal/dsqlsim) they reach it only through that, which then
// adds the latency itself.
type nodes struct {
	all   []*node.Node
	dir   string
	pg    *pgembed.Server
	proxy *dblatency.Proxy // nil without a database latency (or with the DSQL layer)
	sim   *dsqlsim.Sim     // nil without the DSQL layer
}

func startNodes(ctx context.Context, binary string, n int, ownDatabase bool, dynamoEndpoint string, dbLatency time.Duration, sim *dsqlsim.Options) (*nodes, error) {
	dir, err := node.TempDir("lotzero-proof-")
	if err != nil {
		return nil, err
	}
	ns := &nodes{dir: dir}
	shared := []string{"LOTZERO_SEED=true"} // otherwise the servers' defaults: the proof is what users meet
	if ownDatabase || n > 1 || dbLatency > 0 || sim != nil {
		ns.pg, err = pgembed.Start(ctx, pgembed.Options{DataDir: filepath.Join(dir, "pg")})
		if err == nil {
			err = ns.pg.EnsureDatabase(ctx, "lotzero")
		}
		if err != nil {
			ns.stop()
			return nil, fmt.Errorf("start PostgreSQL for the proof: %w", err)
		}
		if sim != nil {
			opts := *sim
			opts.RoundTrip = dbLatency
			if ns.sim, err = startSim(ctx, ns.pg, opts); err != nil {
				ns.stop()
				return nil, err
			}
		} else if dbLatency > 0 {
			if ns.proxy, err = startProxy(ctx, ns.pg, dbLatency); err != nil {
				ns.stop()
				return nil, err
			}
		}
		dsn, err := ns.connString("lotzero")
		if err != nil {
			ns.stop()
			return nil, err
		}
		shared = append(shared, "DATABASE_URL="+dsn)
	} else {
		shared = append(shared, "LOTZERO_DATA_DIR="+filepath.Join(dir, "node"))
	}
	if dynamoEndpoint != "" {
		shared = append(shared, "DYNAMODB_ENDPOINT="+dynamoEndpoint, fmt.Sprintf("DYNAMODB_TABLE=proof-%d", time.Now().UnixNano()))
	}
	for i := 0; i < n; i++ {
		env := append(shared[:len(shared):len(shared)], fmt.Sprintf("LOTZERO_NODE=proof-node-%d", i+1))
		nd, err := node.Start(ctx, binary, env...)
		if err != nil {
			ns.stop()
			return nil, fmt.Errorf("start the proof's lotzero %d: %w", i+1, err)
		}
		ns.all = append(ns.all, nd)
	}
	return ns, nil
}

// startProxy puts the latency in front of pg. The proxy dials PostgreSQL's
// socket for every connection, so a restarted database (--faults) is
// reached again as it would be directly. It lives until stop, not ctx:
// nodes draining on the way out still reach their database.
func startProxy(ctx context.Context, pg *pgembed.Server, latency time.Duration) (*dblatency.Proxy, error) {
	target, err := dblatency.Target(pg.ConnString("postgres"))
	if err == nil {
		var p *dblatency.Proxy
		if p, err = dblatency.Start(context.WithoutCancel(ctx), target, latency); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("put %v between the proof's nodes and PostgreSQL: %w", latency, err)
}

// startSim puts the DSQL layer in front of pg; like startProxy, it lives
// until stop and dials PostgreSQL's socket anew for every connection.
func startSim(ctx context.Context, pg *pgembed.Server, opts dsqlsim.Options) (*dsqlsim.Sim, error) {
	target, err := dblatency.Target(pg.ConnString("postgres"))
	if err == nil {
		var s *dsqlsim.Sim
		if s, err = dsqlsim.Start(context.WithoutCancel(ctx), target, opts); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("put the DSQL layer between the proof's nodes and PostgreSQL: %w", err)
}

// connString is how the nodes and the raw bound reach a database: through
// the DSQL layer or the latency proxy when there is one.
func (ns *nodes) connString(database string) (string, error) {
	dsn := ns.pg.ConnString(database)
	switch {
	case ns.sim != nil:
		// The nodes' pools recycle connections before the layer closes
		// them, as the ledger's DSQL backend does before DSQL's hour.
		return ns.sim.PoolConnString(dsn)
	case ns.proxy != nil:
		return ns.proxy.ConnString(dsn)
	}
	return dsn, nil
}

// urls are the nodes' base URLs.
func (ns *nodes) urls() []string {
	out := make([]string, len(ns.all))
	for i, nd := range ns.all {
		out[i] = nd.URL
	}
	return out
}

func (ns *nodes) stop() {
	for _, nd := range ns.all {
		nd.Stop()
	}
	if ns.proxy != nil {
		ns.proxy.Close()
	}
	if ns.sim != nil {
		ns.sim.Close()
	}
	if ns.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = ns.pg.Stop(ctx)
		cancel()
	}
	os.RemoveAll(ns.dir)
}

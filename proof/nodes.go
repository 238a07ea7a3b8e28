package proof

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lotzero/lotzero/internal/node"
	"github.com/lotzero/lotzero/internal/pgembed"
)

// nodes are the servers the proof starts itself: n lotzero processes on
// their default settings and, when there is more than one or for fault
// runs, a PostgreSQL the proof owns and they share — so it can restart the
// database under them, and two nodes commit against the same rows, where
// OCC decides. With a DynamoDB endpoint they share a firehose table too.
type nodes struct {
	all []*node.Node
	dir string
	pg  *pgembed.Server
}

func startNodes(ctx context.Context, binary string, n int, ownDatabase bool, dynamoEndpoint string) (*nodes, error) {
	dir, err := node.TempDir("lotzero-proof-")
	if err != nil {
		return nil, err
	}
	ns := &nodes{dir: dir}
	shared := []string{"LOTZERO_SEED=true"} // otherwise the servers' defaults: the proof is what users meet
	if ownDatabase || n > 1 {
		ns.pg, err = pgembed.Start(ctx, pgembed.Options{DataDir: filepath.Join(dir, "pg")})
		if err == nil {
			err = ns.pg.EnsureDatabase(ctx, "lotzero")
		}
		if err != nil {
			ns.stop()
			return nil, fmt.Errorf("start PostgreSQL for the proof: %w", err)
		}
		shared = append(shared, "DATABASE_URL="+ns.pg.ConnString("lotzero"))
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
	if ns.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = ns.pg.Stop(ctx)
		cancel()
	}
	os.RemoveAll(ns.dir)
}

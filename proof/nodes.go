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

// nodes is the server the proof starts itself: one lotzero process and,
// for fault runs, a PostgreSQL the proof owns so it can restart it while
// the node keeps running.
type nodes struct {
	*node.Node
	dir string
	pg  *pgembed.Server
}

func startNodes(ctx context.Context, binary string, ownDatabase bool) (*nodes, error) {
	dir, err := node.TempDir("lotzero-proof-")
	if err != nil {
		return nil, err
	}
	n := &nodes{dir: dir}
	env := []string{"LOTZERO_SEED=true"} // otherwise the server's defaults: the proof is what users meet
	if ownDatabase {
		n.pg, err = pgembed.Start(ctx, pgembed.Options{DataDir: filepath.Join(dir, "pg")})
		if err == nil {
			err = n.pg.EnsureDatabase(ctx, "lotzero")
		}
		if err != nil {
			n.stop()
			return nil, fmt.Errorf("start PostgreSQL for the proof: %w", err)
		}
		env = append(env, "DATABASE_URL="+n.pg.ConnString("lotzero"))
	} else {
		env = append(env, "LOTZERO_DATA_DIR="+filepath.Join(dir, "node"))
	}
	if n.Node, err = node.Start(ctx, binary, env...); err != nil {
		n.stop()
		return nil, fmt.Errorf("start the proof's lotzero: %w", err)
	}
	return n, nil
}

func (n *nodes) stop() {
	if n.Node != nil {
		n.Node.Stop()
	}
	if n.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = n.pg.Stop(ctx)
		cancel()
	}
	os.RemoveAll(n.dir)
}

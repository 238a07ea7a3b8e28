//go:build dsql

package ledger

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestDSQLCluster runs the ledger against a real Aurora DSQL cluster. It is
// built only with -tags dsql and needs DSQL_CLUSTER_ENDPOINT (plus AWS
// credentials, AWS_REGION if the endpoint does not name it, optional
// DSQL_USER):
//
//	DSQL_CLUSTER_ENDPOINT=... go test -tags dsql -run DSQL -v ./ledger
func TestDSQLCluster(t *testing.T) {
	ep := os.Getenv("DSQL_CLUSTER_ENDPOINT")
	if ep == "" {
		t.Fatal("DSQL_CLUSTER_ENDPOINT must name a cluster for -tags dsql")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, err := Open(ctx, Config{DSQL: DSQLConfig{Endpoint: ep, Region: os.Getenv("AWS_REGION"), User: os.Getenv("DSQL_USER")}}, Options{})
	mustOK(t, err)
	defer l.Close()
	if l.Backend() != BackendDSQL {
		t.Fatalf("backend %s", l.Backend())
	}
	mustOK(t, l.Migrate(ctx))
	suffix := uuid.NewString()[:8]
	host, buyer := "dsqlhost-"+suffix, "dsqlbuyer-"+suffix
	_, err = l.EnsureUser(ctx, host, "us-east-1", 1)
	mustOK(t, err)
	_, err = l.EnsureUser(ctx, buyer, "us-east-1", 10_000)
	mustOK(t, err)
	res, _, err := l.CreateLot(ctx, Actor{User: host, Region: "us-east-1", RequestID: "c"}, LotSpec{Kind: KindDrop, Title: "dsql", Price: 100, Qty: 3})
	mustOK(t, err)
	codes := rush(10, func(i int) error {
		_, _, err := l.BuyDrop(ctx, Actor{User: buyer, Region: "us-east-1", RequestID: uuid.NewString()}, res.Lot, 1)
		return err
	})
	if got := countCodes(codes); got[""] != 3 {
		t.Fatalf("outcomes %v", got)
	}
	vs, err := l.Audit(ctx)
	mustOK(t, err)
	if len(vs) != 0 {
		t.Fatalf("audit: %v", vs)
	}
}

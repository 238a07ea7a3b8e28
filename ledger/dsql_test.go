package ledger

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"
)

var testCreds = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")

func TestDSQLRegionFromEndpoint(t *testing.T) {
	for ep, want := range map[string]string{
		"abcdefghijklmnop.dsql.us-east-1.on.aws": "us-east-1",
		"xyz.dsql.ap-southeast-1.on.aws":         "ap-southeast-1",
		"db.example.com":                         "",
		"abc.dsql-fnh4.eu-west-1.on.aws":         "",
	} {
		if got := regionFromEndpoint(ep); got != want {
			t.Errorf("regionFromEndpoint(%q) = %q, want %q", ep, got, want)
		}
	}
	_, err := DSQLConfig{Endpoint: "db.example.com"}.withDefaults()
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("missing region must name AWS_REGION: %v", err)
	}
	_, err = DSQLConfig{}.withDefaults()
	if err == nil {
		t.Fatal("an empty endpoint must be refused")
	}
}

// TestDSQLTokenOffline checks the IAM token is what DSQL expects — a
// presigned URL for the endpoint, with the admin or non-admin action and an
// expiry — without any network.
func TestDSQLTokenOffline(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ user, action string }{{"", "DbConnectAdmin"}, {"admin", "DbConnectAdmin"}, {"app", "DbConnect"}} {
		cfg, err := DSQLConfig{Endpoint: "abc.dsql.us-east-1.on.aws", User: c.user, Credentials: testCreds, TokenTTL: 5 * time.Minute}.withDefaults()
		mustOK(t, err)
		tok, err := cfg.token(ctx)
		mustOK(t, err)
		if strings.HasPrefix(tok, "https://") {
			t.Fatalf("token keeps its scheme: %s", tok)
		}
		u, err := url.Parse("https://" + tok)
		mustOK(t, err)
		q := u.Query()
		if u.Host != "abc.dsql.us-east-1.on.aws" || q.Get("Action") != c.action || q.Get("X-Amz-Expires") != "300" {
			t.Fatalf("user %q: token %s", c.user, tok)
		}
		if !strings.Contains(q.Get("X-Amz-Credential"), "/us-east-1/dsql/aws4_request") || q.Get("X-Amz-Signature") == "" {
			t.Fatalf("token not signed for dsql in us-east-1: %s", tok)
		}
	}
}

// TestDSQLPoolConfig checks the pool Open builds for DSQL: verify-full TLS,
// a fresh token on every new connection, connections recycled within the
// hour, and describe-exec statements.
func TestDSQLPoolConfig(t *testing.T) {
	ctx := context.Background()
	cfg, err := dsqlPoolConfig(ctx, DSQLConfig{Endpoint: "abc.dsql.eu-west-1.on.aws", Credentials: testCreds}, 8)
	mustOK(t, err)
	cc := cfg.ConnConfig
	if cc.Host != "abc.dsql.eu-west-1.on.aws" || cc.Port != 5432 || cc.User != "admin" || cc.Database != "postgres" {
		t.Fatalf("conn config: %s:%d %s/%s", cc.Host, cc.Port, cc.User, cc.Database)
	}
	if cc.TLSConfig == nil || cc.TLSConfig.InsecureSkipVerify || cc.TLSConfig.ServerName != "abc.dsql.eu-west-1.on.aws" {
		t.Fatal("sslmode must be verify-full")
	}
	if cfg.MaxConnLifetime+cfg.MaxConnLifetimeJitter >= time.Hour || cfg.MaxConns != 8 {
		t.Fatalf("lifetime %v + %v, max conns %d", cfg.MaxConnLifetime, cfg.MaxConnLifetimeJitter, cfg.MaxConns)
	}
	if cc.DefaultQueryExecMode != pgx.QueryExecModeDescribeExec {
		t.Fatal("DSQL needs describe-exec statements")
	}
	var tokens []string
	for i := 0; i < 2; i++ {
		c := cc.Copy()
		mustOK(t, cfg.BeforeConnect(ctx, c))
		tokens = append(tokens, c.Password)
		time.Sleep(1100 * time.Millisecond) // signatures carry a one-second timestamp
	}
	if tokens[0] == "" || tokens[0] == tokens[1] || !strings.Contains(tokens[0], "Action=DbConnectAdmin") {
		t.Fatalf("each connection needs a fresh token: %q", tokens)
	}
}

package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/dsql/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DSQLConfig connects to an Aurora DSQL cluster with IAM authentication.
type DSQLConfig struct {
	// Endpoint is the cluster endpoint, e.g. abcdef.dsql.us-east-1.on.aws.
	Endpoint string
	// Region signs the token. Empty means the Region in the endpoint's name.
	Region string
	// User is the database role. Empty means admin, which signs with the
	// DbConnectAdmin action; any other role signs with DbConnect.
	User string
	// Credentials sign the tokens. Nil means the default AWS credential chain.
	Credentials aws.CredentialsProvider
	// TokenTTL is each token's lifetime. Zero means 15 minutes; a token only
	// needs to outlive the connection handshake.
	TokenTTL time.Duration
}

// dsqlMaxConnLifetime keeps every connection under DSQL's 60-minute limit,
// with room for the pool's jitter.
const dsqlMaxConnLifetime = 50 * time.Minute

func (c DSQLConfig) withDefaults() (DSQLConfig, error) {
	c.Endpoint = strings.TrimSpace(c.Endpoint)
	if c.Endpoint == "" {
		return c, fmt.Errorf("dsql: cluster endpoint is required")
	}
	if c.User == "" {
		c.User = "admin"
	}
	if c.Region == "" {
		c.Region = regionFromEndpoint(c.Endpoint)
	}
	if c.Region == "" {
		return c, fmt.Errorf("dsql: set AWS_REGION: it cannot be derived from endpoint %q", c.Endpoint)
	}
	return c, nil
}

// regionFromEndpoint reads the Region out of <cluster>.dsql.<region>.on.aws.
func regionFromEndpoint(endpoint string) string {
	parts := strings.Split(endpoint, ".")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "dsql" && strings.HasPrefix(strings.Join(parts[i+2:], "."), "on.aws") {
			return parts[i+1]
		}
	}
	return ""
}

// token signs a fresh IAM authentication token: a presigned URL for the
// endpoint without its scheme.
func (c DSQLConfig) token(ctx context.Context) (string, error) {
	ttl := func(o *auth.TokenOptions) { o.ExpiresIn = c.TokenTTL }
	if c.User == "admin" {
		return auth.GenerateDBConnectAdminAuthToken(ctx, c.Endpoint, c.Region, c.Credentials, ttl)
	}
	return auth.GenerateDbConnectAuthToken(ctx, c.Endpoint, c.Region, c.Credentials, ttl)
}

// dsqlPoolConfig builds the pool for a DSQL cluster: TLS verify-full, a
// fresh token for every new connection (tokens expire; connections last up
// to an hour), connection lifetime under the hour, and describe-exec query
// mode because cached prepared statements break across DSQL schema changes.
func dsqlPoolConfig(ctx context.Context, c DSQLConfig, maxConns int32) (*pgxpool.Config, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	if c.Credentials == nil {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.Region))
		if err != nil {
			return nil, fmt.Errorf("dsql: load AWS credentials: %w", err)
		}
		c.Credentials = awsCfg.Credentials
	}
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("host=%s port=5432 user=%s dbname=postgres sslmode=verify-full",
		c.Endpoint, c.User))
	if err != nil {
		return nil, fmt.Errorf("dsql: %w", err)
	}
	cfg.MaxConnLifetime = dsqlMaxConnLifetime
	cfg.MaxConnLifetimeJitter = 5 * time.Minute
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		tok, err := c.token(ctx)
		if err != nil {
			return fmt.Errorf("dsql: sign auth token: %w", err)
		}
		cc.Password = tok
		return nil
	}
	return cfg, nil
}

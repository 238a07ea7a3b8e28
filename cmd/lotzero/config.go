package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/lotzero/lotzero/ledger"
	"github.com/rs/zerolog"
)

// ledgerFlags are the flags every command that opens the ledger shares.
// Each defaults to its environment variable, so a deployment configures
// lotzero by environment alone.
type ledgerFlags struct {
	databaseURL  string
	dsqlEndpoint string
	dsqlUser     string
	awsRegion    string
	dataDir      string
	maxConns     int
	logLevel     string
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, ok := os.LookupEnv(name); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func (f *ledgerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.databaseURL, "database-url", env("DATABASE_URL", ""), "PostgreSQL connection URL; empty runs the embedded PostgreSQL (env DATABASE_URL)")
	fs.StringVar(&f.dsqlEndpoint, "dsql-endpoint", env("DSQL_CLUSTER_ENDPOINT", ""), "Aurora DSQL cluster endpoint; takes precedence over --database-url (env DSQL_CLUSTER_ENDPOINT)")
	fs.StringVar(&f.dsqlUser, "dsql-user", env("DSQL_USER", "admin"), "Aurora DSQL database role (env DSQL_USER)")
	fs.StringVar(&f.awsRegion, "aws-region", env("AWS_REGION", ""), "AWS Region of the DSQL cluster; default: read from the endpoint (env AWS_REGION)")
	fs.StringVar(&f.dataDir, "data-dir", env("LOTZERO_DATA_DIR", ""), "embedded PostgreSQL data directory; default "+ledger.DefaultDataDir()+" (env LOTZERO_DATA_DIR)")
	fs.IntVar(&f.maxConns, "db-max-conns", envInt("LOTZERO_DB_MAX_CONNS", 16), "database connection pool size (env LOTZERO_DB_MAX_CONNS)")
	fs.StringVar(&f.logLevel, "log-level", env("LOTZERO_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env LOTZERO_LOG_LEVEL)")
}

func (f *ledgerFlags) config() (ledger.Config, error) {
	if f.maxConns < 1 || f.maxConns > 1000 {
		return ledger.Config{}, fmt.Errorf("--db-max-conns must be between 1 and 1000")
	}
	return ledger.Config{
		DatabaseURL: f.databaseURL,
		DSQL:        ledger.DSQLConfig{Endpoint: f.dsqlEndpoint, Region: f.awsRegion, User: f.dsqlUser},
		DataDir:     f.dataDir,
		MaxConns:    int32(f.maxConns),
	}, nil
}

// parse parses a command's flags, printing usage to stderr on -h.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return nil
}

func (f *ledgerFlags) logger(stderr io.Writer) (zerolog.Logger, error) {
	return newLogger(stderr, f.logLevel)
}

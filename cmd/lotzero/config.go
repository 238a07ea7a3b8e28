package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/lotzero/lotzero/internal/pgembed"
	"github.com/lotzero/lotzero/ledger"
	"github.com/rs/zerolog"
)

// flagSet is a command's flags, each optionally bound to an environment
// variable: a flag not given on the command line takes its variable's value,
// parsed by the flag itself, so a deployment configures lotzero by
// environment alone and a malformed value is an error at start, never a
// silent default. Defaults are not written here: they come from the options
// of the package that owns them (hub.Defaults, ledger.DefaultMaxConns, ...).
type flagSet struct {
	*flag.FlagSet
	env map[string]string // flag name -> environment variable
	set map[string]bool   // flags given on the command line or by their variable
}

func newFlagSet(name string) *flagSet {
	return &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), env: map[string]string{}, set: map[string]bool{}}
}

// bind ties the already defined flag name to the environment variable and
// names it in the flag's help.
func (fs *flagSet) bind(name, variable string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("lotzero: bind of undefined flag " + name)
	}
	f.Usage += " (env " + variable + ")"
	fs.env[name] = variable
}

// boolFlag defines a boolean flag that also accepts yes/no and on/off, the
// spellings operators write in environment files.
func (fs *flagSet) boolFlag(p *bool, name string, def bool, usage string) {
	*p = def
	fs.Var((*boolValue)(p), name, usage)
}

// parse parses args, then fills every flag not set on the command line from
// its environment variable. Usage goes to stderr on -h.
func (fs *flagSet) parse(args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { fs.set[f.Name] = true })
	for name, variable := range fs.env {
		v, ok := os.LookupEnv(variable)
		if !ok || fs.set[name] {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("environment variable %s=%q: %w", variable, v, err)
		}
		fs.set[name] = true
	}
	return nil
}

// given reports whether the flag was set, on the command line or by its
// variable, rather than left at its default.
func (fs *flagSet) given(name string) bool { return fs.set[name] }

// boolValue is a flag.Value for booleans written as 1/0, true/false, yes/no
// or on/off.
type boolValue bool

func (b *boolValue) String() string { return strconv.FormatBool(bool(*b)) }

func (b *boolValue) IsBoolFlag() bool { return true }

func (b *boolValue) Set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "yes", "on":
		*b = true
	case "0", "f", "false", "no", "off":
		*b = false
	default:
		return fmt.Errorf("%q is not a boolean (true/false, yes/no, on/off, 1/0)", s)
	}
	return nil
}

// ledgerFlags are the flags every command that opens the ledger shares.
type ledgerFlags struct {
	databaseURL  string
	dsqlEndpoint string
	dsqlUser     string
	awsRegion    string
	dataDir      string
	maxConns     int
	maxBatch     int
	logLevel     string
}

func (f *ledgerFlags) register(fs *flagSet) {
	fs.StringVar(&f.databaseURL, "database-url", "", "PostgreSQL connection URL; empty runs the embedded PostgreSQL")
	fs.bind("database-url", "DATABASE_URL")
	fs.StringVar(&f.dsqlEndpoint, "dsql-endpoint", "", "Aurora DSQL cluster endpoint; takes precedence over --database-url")
	fs.bind("dsql-endpoint", "DSQL_CLUSTER_ENDPOINT")
	fs.StringVar(&f.dsqlUser, "dsql-user", "admin", "Aurora DSQL database role")
	fs.bind("dsql-user", "DSQL_USER")
	fs.StringVar(&f.awsRegion, "aws-region", "", "AWS Region of the DSQL cluster; default: read from the endpoint")
	fs.bind("aws-region", "AWS_REGION")
	fs.StringVar(&f.dataDir, "data-dir", pgembed.DefaultDataDir(), "embedded PostgreSQL data directory")
	fs.bind("data-dir", "LOTZERO_DATA_DIR")
	fs.IntVar(&f.maxConns, "db-max-conns", ledger.DefaultMaxConns, "database connection pool size")
	fs.bind("db-max-conns", "LOTZERO_DB_MAX_CONNS")
	fs.IntVar(&f.maxBatch, "db-batch", ledger.DefaultMaxBatch, "most operations on one lot decided in one transaction (group commit); 1 turns batching off")
	fs.bind("db-batch", "LOTZERO_DB_BATCH")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.bind("log-level", "LOTZERO_LOG_LEVEL")
}

func (f *ledgerFlags) config() (ledger.Config, error) {
	if f.maxConns < 1 || f.maxConns > 1000 {
		return ledger.Config{}, fmt.Errorf("--db-max-conns must be between 1 and 1000")
	}
	if f.maxBatch < 1 || f.maxBatch > 100_000 {
		return ledger.Config{}, fmt.Errorf("--db-batch must be between 1 and 100000")
	}
	return ledger.Config{
		DatabaseURL: f.databaseURL,
		DSQL:        ledger.DSQLConfig{Endpoint: f.dsqlEndpoint, Region: f.awsRegion, User: f.dsqlUser},
		MaxConns:    int32(f.maxConns),
	}, nil
}

func (f *ledgerFlags) logger(stderr io.Writer) (zerolog.Logger, error) {
	return newLogger(stderr, f.logLevel)
}

// Package dsqlrules is the one list of SQL that Aurora DSQL refuses or
// treats differently from PostgreSQL, as patterns. Two readers use it: the
// ledger's static scan (ledger/sqlrules_test.go), which forbids every rule
// in the SQL the ledger's source spells, and internal/dsqlsim, which
// refuses at run time the statements DSQL itself would refuse.
//
// Sources: the architecture brief's "Aurora DSQL rules", and AWS's pages
// "Unsupported PostgreSQL features in Aurora DSQL", "DDL and distributed
// transactions in Aurora DSQL" and "Cluster quotas and database limits".
package dsqlrules

import "regexp"

// FeatureNotSupported is SQLSTATE 0A000, the class DSQL answers an
// unsupported feature with. AWS documents the unsupported features, not the
// code of each refusal: 0A000 is our reading (PostgreSQL's own code for
// "not supported"), not a quote.
const FeatureNotSupported = "0A000"

// Rule is one thing the ledger's SQL must never do.
type Rule struct {
	// Name says what the rule is about, e.g. "foreign keys".
	Name string
	// Pattern finds the rule broken in one SQL text.
	Pattern *regexp.Regexp
	// Refused is true when DSQL itself refuses the statement at run time;
	// false for a house rule: DSQL accepts the SQL but it means something
	// else there (a bare NUMERIC is numeric(18,6)) or the ledger keeps away
	// from it for its own reasons (floats for money, ids the database
	// makes, an explicit BEGIN that skips REPEATABLE READ).
	Refused bool
	// DDLOnly rules apply to schema statements only: DSQL accepts JSON and
	// arrays as values in a query but not as a column's type.
	DDLOnly bool
	// Message is the error text the simulator answers a refusal with. AWS
	// does not document the wording; it names the rule.
	Message string
}

// rules is immutable after package initialisation: a table, not state.
var rules = []Rule{
	{Name: "foreign keys", Refused: true, Pattern: regexp.MustCompile(`(?i)\bFOREIGN\s+KEY\b|\bREFERENCES\b`),
		Message: "foreign key constraints not supported"},
	{Name: "sequences/serial/identity", Refused: true, Pattern: regexp.MustCompile(`(?i)\b(SMALL|BIG)?SERIAL\b|\bSEQUENCE\b|\bNEXTVAL\b|\bIDENTITY\b`),
		Message: "sequences not supported"},
	{Name: "database-generated ids", Pattern: regexp.MustCompile(`(?i)\bgen_random_uuid\b|\buuid_generate`)},
	{Name: "JSON types", Refused: true, DDLOnly: true, Pattern: regexp.MustCompile(`(?i)\bJSONB?\b`),
		Message: "json and jsonb are not supported as column types"},
	{Name: "arrays", Refused: true, DDLOnly: true, Pattern: regexp.MustCompile(`(?i)\[\]|\bARRAY\b|\bANY\s*\(`),
		Message: "arrays are not supported as column types"},
	{Name: "enums/types", Refused: true, Pattern: regexp.MustCompile(`(?i)\bENUM\b|\bCREATE\s+TYPE\b`),
		Message: "CREATE TYPE not supported"},
	{Name: "triggers/functions", Refused: true, Pattern: regexp.MustCompile(`(?i)\bTRIGGER\b|\bPLPGSQL\b|\bLANGUAGE\b|\bCREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)\b|\bDO\s+\$`),
		Message: "triggers, PL/pgSQL and functions in other languages than SQL are not supported"},
	{Name: "temp tables", Refused: true, Pattern: regexp.MustCompile(`(?i)\bTEMP(ORARY)?\b|\bUNLOGGED\b`),
		Message: "temporary tables not supported"},
	{Name: "TRUNCATE", Refused: true, Pattern: regexp.MustCompile(`(?i)\bTRUNCATE\b`),
		Message: "TRUNCATE not supported"},
	{Name: "LISTEN/NOTIFY", Refused: true, Pattern: regexp.MustCompile(`(?i)\bLISTEN\b|\bNOTIFY\b`),
		Message: "LISTEN/NOTIFY not supported"},
	{Name: "advisory locks", Refused: true, Pattern: regexp.MustCompile(`(?i)\bpg_(try_)?advisory`),
		Message: "advisory locks not supported"},
	{Name: "SAVEPOINT", Refused: true, Pattern: regexp.MustCompile(`(?i)\bSAVEPOINT\b`),
		Message: "SAVEPOINT not supported"},
	// DSQL loads with COPY FROM STDIN (psql's \copy), within the row limit:
	// a house rule.
	{Name: "COPY", Pattern: regexp.MustCompile(`(?i)\bCOPY\b`)},
	{Name: "SET TRANSACTION / SERIALIZABLE", Refused: true, Pattern: regexp.MustCompile(`(?i)\bSET\s+TRANSACTION\b|\bSERIALIZABLE\b|\bSESSION\s+CHARACTERISTICS\b`),
		Message: "only REPEATABLE READ isolation is supported"},
	{Name: "locking clauses other than FOR UPDATE", Refused: true, Pattern: regexp.MustCompile(`(?i)\bFOR\s+SHARE\b|\bFOR\s+NO\s+KEY\s+UPDATE\b|\bLOCK\s+TABLE\b`),
		Message: "locking clause not supported: only FOR UPDATE"},
	{Name: "floating-point or money types", Pattern: regexp.MustCompile(`(?i)\b(REAL|FLOAT[48]?|DOUBLE\s+PRECISION|MONEY)\b`)},
	{Name: "explicit BEGIN (use BeginTx with REPEATABLE READ)", Pattern: regexp.MustCompile(`(?i)^\s*(BEGIN|START\s+TRANSACTION)\b`)},
}

// bareNumeric finds NUMERIC or DECIMAL; one without a precision is
// numeric(18,6) on DSQL, never what money wants.
var bareNumeric = regexp.MustCompile(`(?i)\b(NUMERIC|DECIMAL)\b(\s*\()?`)

// BareNumeric is the rule name Violations reports for a NUMERIC or DECIMAL
// without a precision (a house rule: DSQL accepts it).
const BareNumeric = "bare numeric"

// Rules is the list, a copy the caller may keep.
func Rules() []Rule { return append([]Rule(nil), rules...) }

// Violations returns the names of every rule, refused or house, that one
// SQL text breaks: what the static scan forbids.
func Violations(sql string) []string {
	var out []string
	for _, r := range rules {
		if r.Pattern.MatchString(sql) {
			out = append(out, r.Name)
		}
	}
	for _, m := range bareNumeric.FindAllStringSubmatch(sql, -1) {
		if m[2] == "" {
			out = append(out, BareNumeric)
		}
	}
	return out
}

// Refusal returns the first rule DSQL would refuse sql for at run time, or
// nil. ddl says whether sql is a schema statement (DDLOnly rules apply to
// those alone).
func Refusal(sql string, ddl bool) *Rule {
	for i := range rules {
		r := &rules[i]
		if !r.Refused || r.DDLOnly && !ddl {
			continue
		}
		if r.Pattern.MatchString(sql) {
			c := *r
			return &c
		}
	}
	return nil
}

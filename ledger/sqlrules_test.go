package ledger

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lotzero/lotzero/internal/dsqlrules"
)

// The rule list itself lives in internal/dsqlrules, shared with the
// run-time simulator (internal/dsqlsim); here every rule, refused by DSQL or
// a house rule, is forbidden in the SQL the ledger spells.

var createIndex = regexp.MustCompile(`(?i)\bCREATE\s+(UNIQUE\s+)?INDEX\b`)

// indexPrefixes are the only places CREATE INDEX may be spelled: the
// dialect switch in migration.statement.
var indexPrefixes = map[string]bool{
	"CREATE INDEX ASYNC IF NOT EXISTS ": true,
	"CREATE INDEX IF NOT EXISTS ":       true,
}

var looksLikeSQL = regexp.MustCompile(`(?is)^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WITH|BEGIN|START|SET|LOCK|TRUNCATE|COPY|LISTEN|NOTIFY|SAVEPOINT|DO|GRANT)\b|\bFROM\s+\w+|\bWHERE\b`)

// sqlViolations returns the DSQL rules one SQL text breaks.
func sqlViolations(sql string) []string {
	out := dsqlrules.Violations(sql)
	if createIndex.MatchString(sql) && !indexPrefixes[sql] {
		out = append(out, "CREATE INDEX outside the dialect switch")
	}
	return out
}

// TestSQLRulesCheckerCatches keeps the checker honest: each rule must fire.
func TestSQLRulesCheckerCatches(t *testing.T) {
	bad := []string{
		`CREATE TABLE a (id BIGSERIAL PRIMARY KEY)`,
		`CREATE TABLE a (b UUID REFERENCES c (id))`,
		`CREATE TABLE a (doc JSONB)`,
		`CREATE TABLE a (tags TEXT[])`,
		`CREATE TYPE mood AS ENUM ('a')`,
		`CREATE TEMP TABLE x (a INT)`,
		`TRUNCATE lots`,
		`LISTEN lots`,
		`SELECT pg_advisory_lock(1)`,
		`SAVEPOINT a`,
		`COPY lots FROM STDIN`,
		`SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`,
		`SELECT * FROM lots FOR SHARE`,
		`SELECT * FROM lots FOR NO KEY UPDATE`,
		`CREATE TABLE a (price NUMERIC)`,
		`CREATE TABLE a (price DOUBLE PRECISION)`,
		`CREATE INDEX a ON b (c)`,
		`INSERT INTO a VALUES (gen_random_uuid())`,
		`BEGIN`,
		`CREATE FUNCTION f() RETURNS INT LANGUAGE sql AS 'SELECT 1'`,
	}
	for _, sql := range bad {
		if len(sqlViolations(sql)) == 0 {
			t.Errorf("checker missed: %s", sql)
		}
	}
	for _, sql := range []string{`SELECT id FROM lots WHERE id = $1 FOR UPDATE`, `CREATE TABLE a (p NUMERIC(20,0))`} {
		if v := sqlViolations(sql); len(v) != 0 {
			t.Errorf("checker flagged fine SQL %q: %v", sql, v)
		}
	}
}

// TestSQLFollowsDSQLRules scans every SQL string in the package's source
// (not its tests) and every migration in both dialects.
func TestSQLFollowsDSQLRules(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	scanned := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(n.Value)
				if err != nil || !looksLikeSQL.MatchString(s) && !createIndex.MatchString(s) {
					return true
				}
				scanned++
				for _, v := range sqlViolations(s) {
					t.Errorf("%s: %s: %q", fset.Position(n.Pos()), v, s)
				}
			case *ast.SelectorExpr:
				// pool.Begin / conn.Begin would open READ COMMITTED.
				if n.Sel.Name == "Begin" {
					t.Errorf("%s: use BeginTx with REPEATABLE READ, not Begin", fset.Position(n.Pos()))
				}
			case *ast.CompositeLit:
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "TxOptions" {
					if !strings.Contains(string(src[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset]), "pgx.RepeatableRead") {
						t.Errorf("%s: every transaction is REPEATABLE READ", fset.Position(n.Pos()))
					}
				}
			}
			return true
		})
	}
	if scanned < 30 {
		t.Fatalf("scanned only %d SQL strings: the scanner is not finding the package's SQL", scanned)
	}
	t.Logf("scanned %d SQL strings", scanned)

	seen := map[int]bool{}
	last := 0
	for _, m := range schema() {
		if m.Version <= last || seen[m.Version] {
			t.Errorf("migration %d: versions must rise and be unique", m.Version)
		}
		seen[m.Version], last = true, m.Version
		if (m.SQL == "") == (m.Index == "") {
			t.Errorf("migration %d: exactly one of SQL or Index", m.Version)
		}
		for _, d := range []dialect{dialectPostgres, dialectDSQL} {
			stmt := m.statement(d)
			if strings.Contains(stmt, ";") {
				t.Errorf("migration %d: one statement per migration", m.Version)
			}
			// DSQL adds a column only bare (a name and a type: no default, no
			// constraint), so that is the only ALTER allowed.
			create := regexp.MustCompile(`(?i)^\s*CREATE\s+(TABLE|INDEX(\s+ASYNC)?)\s+IF\s+NOT\s+EXISTS\b`)
			addColumn := regexp.MustCompile(`(?i)^\s*ALTER\s+TABLE\s+\w+\s+ADD\s+COLUMN\s+IF\s+NOT\s+EXISTS\s+\w+\s+\w+\s*$`)
			if !create.MatchString(stmt) && !addColumn.MatchString(stmt) {
				t.Errorf("migration %d: DDL only, and idempotent (IF NOT EXISTS): %s", m.Version, stmt)
			}
			if m.Index != "" && d == dialectDSQL && !strings.HasPrefix(stmt, "CREATE INDEX ASYNC ") {
				t.Errorf("migration %d: DSQL builds indexes with CREATE INDEX ASYNC", m.Version)
			}
			if m.Index != "" && d == dialectPostgres && strings.Contains(stmt, "ASYNC") {
				t.Errorf("migration %d: PostgreSQL has no CREATE INDEX ASYNC", m.Version)
			}
			if m.Index == "" {
				for _, v := range sqlViolations(stmt) {
					t.Errorf("migration %d: %s", m.Version, v)
				}
			}
		}
	}
}

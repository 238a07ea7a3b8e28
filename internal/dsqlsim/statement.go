package dsqlsim

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/lotzero/lotzero/internal/dsqlrules"
)

// kind is what a statement does to a transaction, as far as DSQL's rules
// care.
type kind int

const (
	kindOther    kind = iota
	kindBegin         // BEGIN, START TRANSACTION
	kindCommit        // COMMIT, END
	kindRollback      // ROLLBACK, ABORT
	kindDDL           // CREATE, ALTER, DROP …
	kindDML           // INSERT, UPDATE, DELETE, MERGE (also inside WITH)
	kindLock          // SELECT … FOR UPDATE: a read in the conflict set
)

var (
	leadingNoise = regexp.MustCompile(`^(\s+|--[^\n]*\n?|/\*(?s:.*?)\*/|\()+`)
	word         = regexp.MustCompile(`^[A-Za-z_]+`)
	modifying    = regexp.MustCompile(`(?i)\b(INSERT|UPDATE|DELETE|MERGE)\b`)
	forUpdate    = regexp.MustCompile(`(?i)\bFOR\s+UPDATE\b`)
)

// classify reads a statement's first words. For a simple query with several
// statements, the first decides (the ledger never sends such).
func classify(sql string) kind {
	rest := leadingNoise.ReplaceAllString(sql, "")
	first := strings.ToUpper(word.FindString(rest))
	rest = leadingNoise.ReplaceAllString(rest[len(first):], "")
	second := strings.ToUpper(word.FindString(rest))
	switch first {
	case "BEGIN":
		return kindBegin
	case "START":
		if second == "TRANSACTION" {
			return kindBegin
		}
	case "COMMIT", "END":
		if second != "PREPARED" {
			return kindCommit
		}
	case "ROLLBACK", "ABORT":
		if second != "TO" && second != "PREPARED" {
			return kindRollback
		}
	case "CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE":
		return kindDDL
	case "INSERT", "UPDATE", "DELETE", "MERGE":
		return kindDML
	case "WITH":
		if modifying.MatchString(sql) {
			return kindDML
		}
		if forUpdate.MatchString(sql) {
			return kindLock
		}
	case "SELECT":
		if forUpdate.MatchString(sql) {
			return kindLock
		}
	}
	return kindOther
}

// modifiedRows is how many rows a CommandComplete tag says its statement
// modified: "INSERT 0 5", "UPDATE 3", "DELETE 2", "MERGE 1".
func modifiedRows(tag string) (int, bool) {
	f := strings.Fields(tag)
	if len(f) < 2 {
		return 0, false
	}
	switch f[0] {
	case "INSERT", "UPDATE", "DELETE", "MERGE":
		n, err := strconv.Atoi(f[len(f)-1])
		return n, err == nil
	}
	return 0, false
}

// changesSchema is whether a CommandComplete tag is a schema statement's.
func changesSchema(tag string) bool {
	for _, p := range []string{"CREATE ", "ALTER ", "DROP ", "COMMENT"} {
		if strings.HasPrefix(tag, p) {
			return true
		}
	}
	return false
}

// refusalRule is the rule DSQL refuses sql's text for, or nil.
func refusalRule(sql string) *dsqlrules.Rule {
	return dsqlrules.Refusal(sql, classify(sql) == kindDDL)
}

package dsqlsim

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/lotzero/lotzero/internal/dsqlrules"
)

// The errors DSQL answers with. The codes and the OC000/OC001 markers are
// documented (the architecture brief; AWS's "DDL and distributed
// transactions" quotes OC001's message, its quotas page the 54000 limits);
// wordings AWS does not document are ours and say so in the rule's name.
const (
	codeSerialization = "40001"
	codeLimit         = "54000"
)

func dsqlError(code, message string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: message}
}

func errConflict() *pgproto3.ErrorResponse {
	return dsqlError(codeSerialization, "change conflicts with another transaction, please retry: (OC000)")
}

func errStaleSchema() *pgproto3.ErrorResponse {
	return dsqlError(codeSerialization, "schema has been updated by another transaction, please retry: (OC001)")
}

func errRowLimit(limit int) *pgproto3.ErrorResponse {
	return dsqlError(codeLimit, fmt.Sprintf("transaction row limit exceeded: more than %d rows modified", limit))
}

func errTimeLimit(limit time.Duration) *pgproto3.ErrorResponse {
	return dsqlError(codeLimit, fmt.Sprintf("transaction age limit of %v exceeded", limit))
}

func errRule(r *dsqlrules.Rule) *pgproto3.ErrorResponse {
	return dsqlError(dsqlrules.FeatureNotSupported, r.Message)
}

// Rule names of the refusals that depend on the transaction, not the text.
const (
	ruleMultipleDDL = "multiple DDL"
	ruleDDLWithDML  = "DDL with DML"
)

func errMultipleDDL() *pgproto3.ErrorResponse {
	return dsqlError(dsqlrules.FeatureNotSupported, "multiple ddl statements are not supported in a transaction")
}

func errDDLWithDML() *pgproto3.ErrorResponse {
	return dsqlError(dsqlrules.FeatureNotSupported, "ddl and dml are not supported in the same transaction")
}

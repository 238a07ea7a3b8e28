package ledger

import (
	"regexp"
	"unicode/utf8"
)

// Actor is who performs an operation: the authenticated user, the AWS-style
// Region they act from, and the client's request id, which is also the
// idempotency key: the same (User, RequestID) returns the first outcome.
type Actor struct {
	User      string
	Region    string
	RequestID string
}

// Validation patterns of the wire contract.
var (
	userPattern   = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	regionPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
)

// ValidUser reports whether name is a valid user name ([a-z0-9_-]{1,32}).
func ValidUser(name string) bool { return userPattern.MatchString(name) }

// ValidRegion reports whether r is a valid Region tag ([a-z0-9-]{1,32}).
func ValidRegion(r string) bool { return regionPattern.MatchString(r) }

func (a Actor) validate() error {
	if !ValidUser(a.User) {
		return errorf(CodeBadRequest, "user must match [a-z0-9_-]{1,32}")
	}
	if !ValidRegion(a.Region) {
		return errorf(CodeBadRequest, "region must match [a-z0-9-]{1,32}")
	}
	if n := utf8.RuneCountInString(a.RequestID); n < 1 || n > 64 || !utf8.ValidString(a.RequestID) {
		return errorf(CodeBadRequest, "request id must be 1..64 characters")
	}
	return nil
}

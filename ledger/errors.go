package ledger

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. The values match the wire
// protocol's error codes; the hub maps each explicitly (hub/codes.go), and
// its test fails for a code added here without a wire code.
type Code string

// The codes the ledger returns. Callers branch on these, never on messages.
const (
	CodeBadRequest        Code = "bad_request"
	CodeForbidden         Code = "forbidden"
	CodeNotFound          Code = "not_found"
	CodeLotNotOpen        Code = "lot_not_open"
	CodeLotClosed         Code = "lot_closed"
	CodeBidTooLow         Code = "bid_too_low"
	CodeSoldOut           Code = "sold_out"
	CodeInsufficientFunds Code = "insufficient_funds"
	CodeLimitExceeded     Code = "limit_exceeded"
	CodePriceChanged      Code = "price_changed"
	// CodeWalletFrozen refuses bids, purchases and payouts of a wallet that
	// owes what a refund or dispute took back (debit.go); the wire code is
	// forbidden.
	CodeWalletFrozen Code = "wallet_frozen"
	CodeBusy         Code = "busy"
	CodeInternal     Code = "internal"
)

// Error is a typed ledger error: a stable Code and a message a person can
// read. Every Error means the operation changed nothing.
type Error struct {
	Code    Code
	Message string
	Err     error // optional cause
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, &Error{Code: CodeSoldOut}) match on the code alone.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

// CodeOf returns the Code carried by err, CodeInternal for any other error,
// and "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// recordable reports whether a rejection depends on ledger state and must
// therefore be remembered under its request id, so that a retry of the same
// request gets the same answer. Validation errors need no record (the same
// input fails the same way) and busy/internal mean "try again".
func recordable(code Code) bool {
	switch code {
	case CodeBusy, CodeInternal, CodeBadRequest, "":
		return false
	}
	return true
}

// settledRefusal reports whether a refusal can never be lifted for the same
// request: a lot sold out (or with fewer units left than asked: units only
// go) or closed stays so. Such refusals need no stored record: asked
// again, the request meets the same state and gets the same answer.
func settledRefusal(code Code) bool {
	return code == CodeSoldOut || code == CodeLotClosed
}

package hub

import (
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// wireCodes maps every ledger error code to the protocol's. The strings are
// equal today, but the ledger's codes are its own: this table is the one
// place they meet the contract, and a test fails for a ledger code missing
// from it.
var wireCodes = map[ledger.Code]string{
	ledger.CodeBadRequest:        protocol.ErrBadRequest,
	ledger.CodeForbidden:         protocol.ErrForbidden,
	ledger.CodeNotFound:          protocol.ErrNotFound,
	ledger.CodeLotNotOpen:        protocol.ErrLotNotOpen,
	ledger.CodeLotClosed:         protocol.ErrLotClosed,
	ledger.CodeBidTooLow:         protocol.ErrBidTooLow,
	ledger.CodeSoldOut:           protocol.ErrSoldOut,
	ledger.CodeInsufficientFunds: protocol.ErrInsufficientFunds,
	ledger.CodeLimitExceeded:     protocol.ErrLimitExceeded,
	ledger.CodePriceChanged:      protocol.ErrPriceChanged,
	ledger.CodeWalletFrozen:      protocol.ErrForbidden, // the message says what is owed
	ledger.CodeBusy:              protocol.ErrBusy,
	ledger.CodeInternal:          protocol.ErrInternal,
}

// wireCode is the protocol code of a ledger code; internal for one the
// table lacks (which its test rules out).
func wireCode(c ledger.Code) string {
	if w, ok := wireCodes[c]; ok {
		return w
	}
	return protocol.ErrInternal
}

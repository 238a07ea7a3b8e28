// Package protocol is LotZero's wire contract, protocol v1: the frames, their
// validation, the error and close codes, and a Go client for bots. It imports
// nothing else of LotZero's, so bots and checkers can depend on it alone.
package protocol

// Error codes carried in replies and HTTP error bodies. They are stable:
// clients branch on them. Each means the request changed nothing.
const (
	ErrBadRequest        = "bad_request"
	ErrUnauthorized      = "unauthorized"
	ErrForbidden         = "forbidden"
	ErrNotFound          = "not_found"
	ErrLotNotOpen        = "lot_not_open"
	ErrLotClosed         = "lot_closed"
	ErrBidTooLow         = "bid_too_low"
	ErrSoldOut           = "sold_out"
	ErrInsufficientFunds = "insufficient_funds"
	ErrLimitExceeded     = "limit_exceeded"
	ErrPriceChanged      = "price_changed"
	ErrRateLimited       = "rate_limited"
	ErrBusy              = "busy"
	// ErrUnavailable refuses social work (chat, reactions, the lobby's
	// views) at once while the social store does not answer; money
	// commands are not affected. Retry later with the same id.
	ErrUnavailable = "unavailable"
	ErrInternal    = "internal"
)

// WebSocket close codes. 1xxx are the RFC's; 4xxx are LotZero's. A client
// may reconnect after 1001, 4009 and 4029 (resuming with join since); 4001
// needs a new token and 1008/1009 a fixed client.
const (
	CloseNormal       = 1000
	CloseGoingAway    = 1001 // server shutting down: reconnect
	ClosePolicy       = 1008 // Origin not allowed
	CloseTooBig       = 1009 // a frame over ReadLimit
	CloseUnauthorized = 4001 // missing, forged or expired token
	CloseHelloTimeout = 4008 // no hello within HelloTimeout
	CloseTooSlow      = 4009 // outbound queue over its bound: reconnect and join with since
	CloseRateLimited  = 4029 // kept sending after rate_limited
)

// ReadLimit is the largest frame the server reads; a larger one closes the
// socket with 1009.
const ReadLimit = 16 << 10

// MaxAmount is the largest amount of minor units: 2^53-1.
const MaxAmount int64 = 1<<53 - 1

package ledger

// MaxAmount is the largest amount of minor units the ledger accepts in one
// field: 2^53-1, the largest integer a JSON number carries exactly.
const MaxAmount int64 = 1<<53 - 1

// MaxQty bounds a lot's units so qty × price stays far from int64 overflow.
const MaxQty int64 = 1_000_000

func validAmount(name string, v int64) error {
	if v < 1 || v > MaxAmount {
		return errorf(CodeBadRequest, "%s must be between 1 and %d minor units", name, MaxAmount)
	}
	return nil
}

// mulAmount multiplies a unit price by a quantity, refusing results over
// MaxAmount instead of overflowing.
func mulAmount(price, qty int64) (int64, error) {
	if qty <= 0 || price <= 0 {
		return 0, errorf(CodeBadRequest, "price and quantity must be positive")
	}
	if price > MaxAmount/qty {
		return 0, errorf(CodeLimitExceeded, "total of %d × %d exceeds the largest amount", qty, price)
	}
	return price * qty, nil
}

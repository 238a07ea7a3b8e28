package ledger

// BidIncrement is the minimum raise over a current high bid, in minor units.
// The ladder follows eBay's US table: the step grows with the price, so a
// $3 lot moves by 25¢ and a $5,000 lot by $100.
func BidIncrement(current int64) int64 {
	switch {
	case current < 100:
		return 5
	case current < 500:
		return 25
	case current < 2_500:
		return 50
	case current < 10_000:
		return 100
	case current < 25_000:
		return 250
	case current < 50_000:
		return 500
	case current < 100_000:
		return 1_000
	case current < 250_000:
		return 2_500
	case current < 500_000:
		return 5_000
	default:
		return 10_000
	}
}

// nextBid is current + its increment, saturating at MaxAmount.
func nextBid(current int64) int64 {
	inc := BidIncrement(current)
	if current > MaxAmount-inc {
		return MaxAmount
	}
	return current + inc
}

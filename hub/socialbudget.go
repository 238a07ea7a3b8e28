package hub

import "golang.org/x/time/rate"

// socialBudgets are a room's limits on what it shows: the chat lines its
// node's sessions may broadcast (checked before they are published, so a
// storm costs the firehose nothing past the budget) and the reactions it
// shows (checked on arrival; their totals still count every one).
type socialBudgets struct {
	chat, react *rate.Limiter
}

func newSocialBudgets(o Options) socialBudgets {
	return socialBudgets{
		chat:  rate.NewLimiter(rate.Limit(o.ChatBudget), max(1, int(o.ChatBudget))),
		react: rate.NewLimiter(rate.Limit(4*o.ChatBudget), max(1, int(4*o.ChatBudget))),
	}
}

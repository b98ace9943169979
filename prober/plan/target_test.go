package plan

import (
	"testing"
	"time"
)

// A server with a lifetime that also rejects the second reuse (PostgreSQL's
// authentication_timeout with "\r\n" as the payload): every fresh
// connection closes at the lifetime, every second reuse is closed at once.
// A second reuse rejected just below the lifetime must be read as the cap,
// not as a younger lifetime.
func TestReuseCapFromLaterCloses(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	trials := []Trial{
		{Conn: 1, Age: ms(4515), ConnAge: ms(4515), Reuse: 1, Outcome: OK},
		{Conn: 2, Age: ms(4735), ConnAge: ms(5003), Reuse: 2, Outcome: ClosedOnReuse},
		{Conn: 3, Age: ms(5003), ConnAge: ms(5003), Reuse: 1, Outcome: ClosedIdle},
		{Conn: 4, Age: ms(5001), ConnAge: ms(5001), Reuse: 1, Outcome: ClosedIdle},
		{Conn: 1, Age: ms(430), ConnAge: ms(4945), Reuse: 2, Outcome: ClosedOnReuse},
	}
	for _, tc := range []struct {
		name   string
		trials []Trial
		want   int
	}{
		{"closes later than the rejected reuse", trials, 2},
		// Without the fresh closes nothing says the connection was held
		// past 4.945 s: that could be a lifetime.
		{"no later close", trials[:2:2], 0},
		// A close that comes with the rejected reuse (a timer racing it) is
		// no evidence that the server held the connection longer.
		{"close within the race window", []Trial{
			{Conn: 1, Age: ms(430), ConnAge: ms(4995), Reuse: 2, Outcome: ClosedOnReuse},
			{Conn: 2, Age: ms(5001), ConnAge: ms(5001), Reuse: 1, Outcome: ClosedIdle},
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore(Defaults(), time.Unix(0, 0))
			c.trials = tc.trials
			if got := c.reuseCap(); got != tc.want {
				t.Errorf("reuseCap = %d, want %d", got, tc.want)
			}
		})
	}
}

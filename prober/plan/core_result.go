package plan

// Result implements Planner.
func (c *core) Result() Result {
	// What is known: the record alone, never a suspicion.
	b, rd := c.b, c.rd
	if len(c.suspects) > 0 {
		b, rd = c.reading(false)
	}
	r := Result{
		Settings:          c.s,
		Lower:             b.lower,
		Upper:             b.upper,
		Found:             b.found,
		Mode:              b.mode,
		Kind:              b.kind,
		CloseAge:          b.closeAge,
		Agree:             b.agree,
		Disagree:          b.disagree,
		Complete:          c.done && c.status == Measured,
		Lifetime:          rd.lifetime,
		ConnectionsOpened: c.opened,
		PeakConnections:   c.peak,
		Trials:            append([]Trial(nil), c.trials...),
	}
	if c.done {
		r.Status, r.Reason = c.status, c.reason
	}
	if r.Found {
		r.Spread = rd.fit.spread
		r.Spread.Survived += c.lived
		r.Spread.Beyond += c.lived
		r.Spread.LongestSurvived = max(r.Spread.LongestSurvived, c.livedLongest)
	} else {
		r.Upper, r.Mode = 0, ""
	}
	if !r.Found || r.Mode != ClosedIdle {
		r.CloseAge = 0
	}
	r.Server.RetiredAtReuse = rd.retiredAt
	for _, t := range c.trials {
		if t.Retired {
			r.Server.Retired++
		}
	}
	return r
}

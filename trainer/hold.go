package trainer

// Hold stops the lab from stepping any run (after the step in progress)
// until Release: runs added or restored while it is held start in the same
// round, so a preset's runs, or a reopened session's, stay in lock-step from
// their first step. Commands (Add, Restore, Snapshot, ...) still run. Holds
// nest; each Hold needs its Release.
func (l *Lab) Hold() error {
	return l.exec(func() error { l.held++; return nil })
}

// Release ends one Hold.
func (l *Lab) Release() error {
	return l.exec(func() error {
		if l.held > 0 {
			l.held--
		}
		return nil
	})
}

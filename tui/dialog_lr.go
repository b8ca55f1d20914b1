package tui

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/trainer"
)

// lrDialog changes a run's peak learning rate while it trains.
type lrDialog struct {
	run trainer.RunID
	in  field
	callState
}

func newLRDialog(in trainer.RunInfo) *lrDialog {
	return &lrDialog{run: in.ID, in: newField(strconv.FormatFloat(in.LR, 'g', -1, 64), floatChrs, 12),
		callState: callState{kind: "lr"}}
}

func parseLR(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !finite(v) {
		return 0, fmt.Errorf("%q is not a number; write e.g. 3e-3 or 0.001", s)
	}
	if v <= 0 {
		return 0, fmt.Errorf("the learning rate must be positive, got %g", v)
	}
	if v > 1 {
		return 0, fmt.Errorf("%g is far above any stable learning rate; use at most 1", v)
	}
	return v, nil
}

func (d *lrDialog) key(k tea.KeyPressMsg, e env) (tea.Cmd, bool) {
	switch {
	case is(k, e.keys.Esc):
		return nil, true
	case is(k, e.keys.Enter):
		if d.pending {
			return nil, false
		}
		v, err := parseLR(d.in.val)
		if err != nil {
			d.err = err.Error()
			return nil, false
		}
		id := d.run
		d.pending, d.err = true, ""
		return labCall(e.lab, "lr", id, func(l Lab) (trainer.RunID, error) { return 0, l.SetLR(id, v) }), false
	}
	if d.in.key(k) {
		d.err = ""
		if _, err := parseLR(d.in.val); err != nil && d.in.val != "" {
			d.err = err.Error()
		}
	}
	return nil, false
}

func (d *lrDialog) view(e env, _, _ int) []string {
	r := e.st.runs[d.run]
	name := "?"
	if r != nil {
		name = r.info.Name + fmt.Sprintf(" (now %s peak, %s at this step)", fmtLR(r.info.LR), fmtLR(r.info.CurLR))
	}
	lines := []string{style(e.th.bold, "Learning rate of "+name),
		"new peak LR " + d.in.view(true, e.th, 12) + e.th.dim.Render("  the warm-up/cosine shape is kept")}
	return append(lines, dialogStatus(e.th, d.err, d.pending, "setting…"))
}

func (d *lrDialog) help(e env) helpKeys {
	k := e.keys
	return helpKeys{short: []key.Binding{withHelp(k.Field, "0-9 . e", "type"), withHelp(k.Enter, "enter", "set"), k.Esc}}
}

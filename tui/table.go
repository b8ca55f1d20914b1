package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mealab/mealab/trainer"
)

func stateText(in trainer.RunInfo) string {
	switch in.State {
	case trainer.Diverged:
		return fmt.Sprintf("diverged at %d", in.DivergedAt)
	case trainer.Stopped:
		if strings.HasPrefix(in.Reason, "error") {
			return "stopped: " + in.Reason
		}
	}
	return in.State.String()
}

// The runs table: what the issue asks for, in the order people read it.
var tableSpecs = []colSpec{
	{title: "run", prio: 1, maxW: 18},
	{title: "variant", prio: 2, maxW: 14},
	{title: "H/KV", prio: 4, right: true},
	{title: "LR", prio: 3, right: true},
	{title: "step", prio: 1, right: true},
	{title: "train", prio: 1, right: true},
	{title: "val", prio: 2, right: true},
	{title: "best", prio: 5, right: true},
	{title: "tok/s", prio: 6, right: true},
	{title: "KV/tok", prio: 3, right: true},
	{title: "spikes", prio: 7, right: true}, // loss/grad-norm spike episodes
	{title: "state", prio: 1},
}

func tableCells(r *runData) []string {
	in := r.info
	hkv := "-"
	if in.Heads > 0 {
		hkv = strconv.Itoa(in.Heads) + "/" + in.Spec.Model.KVLabel()
	}
	step := strconv.Itoa(in.Step)
	if in.Steps > 0 {
		step += "/" + strconv.Itoa(in.Steps)
	}
	kv := "-"
	if in.KVBytesPerToken > 0 {
		kv = fmtBytes(in.KVBytesPerToken)
	}
	variant := in.Variant
	if variant == "" {
		variant = "-"
	}
	ls, gs := spikeCounts(r)
	return []string{in.Name, variant, hkv, fmtLR(in.LR), step, fmtLoss(in.Loss), fmtLoss(in.ValLoss),
		fmtLoss(in.BestVal), fmtRate(in.TokPerSec), kv, fmt.Sprintf("%d/%d", ls, gs), stateText(in)}
}

// prefixW is the cursor, the run's number and its legend mark.
const prefixW = 6

// runPrefix is "▸ 1 ■ ": cursor, number, legend mark (· when the run is not
// on the chart).
func runPrefix(r *runData, i int, selected bool, th theme) string {
	cursor := " "
	if selected {
		cursor = "▸"
	}
	mark := th.mark(r.color)
	if r.hidden {
		mark = "·"
	}
	return cursor + padLeft(strconv.Itoa(i+1), 2) + " " + mark + " "
}

// renderTable draws the header and at most maxRows runs (scrolled so the
// selected one shows) in lines of at most w cells.
func renderTable(runs []*runData, sel, w, maxRows int, th theme) []string {
	maxRows = max(maxRows, 1)
	cells := make([][]string, len(runs))
	for i, r := range runs {
		cells[i] = tableCells(r)
	}
	head, rows := layoutColumns(tableSpecs, cells, w-prefixW)
	out := []string{strings.Repeat(" ", prefixW) + style(th.header, strings.TrimRight(head, " "))}
	if len(runs) == 0 {
		return append(out, style(th.dim, cut("  no runs yet: n starts a run, P starts a preset", w)))
	}
	first := 0
	if len(runs) > maxRows {
		first = min(max(sel-maxRows/2, 0), len(runs)-maxRows)
		if hint := fmt.Sprintf(" %d-%d of %d", first+1, first+maxRows, len(runs)); width(out[0])+width(hint)+1 <= w {
			out[0] += " " + style(th.dim, hint)
		}
	}
	for i := first; i < len(runs) && i < first+maxRows; i++ {
		r := runs[i]
		text := strings.TrimRight(rows[i], " ")
		switch {
		case i == sel:
			text = th.sel.Render(rows[i])
		case r.info.State == trainer.Diverged:
			text = th.err.Render(text)
		case r.info.State == trainer.Paused:
			text = th.warn.Render(text)
		}
		out = append(out, clip(runPrefix(r, i, i == sel, th)+text, w))
	}
	return out
}

package tui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/trainer"
)

// surgeryDialog is head surgery on one run: choose an operation, its head
// count and layers, fork or in place; the preview says what it would do.
type surgeryDialog struct {
	run    trainer.RunID
	op     surgeryOp
	value  field
	layers field
	focus  int // 0: value, 1: layers
	fork   bool
	gn     bool
	callState
}

type surgeryOp int

const (
	opCompress surgeryOp = iota
	opGrow
	opGQA
	opMEA
	opRestart
	numOps
)

var opLabels = [numOps]string{
	"compress KV heads to r   (SVD over the head axis → MEA with virtual heads)",
	"grow KV heads to r       (new component heads, function unchanged)",
	"convert MHA to GQA G     (mean-pool K/V of each group, Ainslie et al.)",
	"convert MHA to MEA       (identity mixing; g adds per-head GroupNorm)",
	"restart with H heads     (a fresh run: weights cannot carry over)",
}

func newSurgeryDialog(r *runData) *surgeryDialog {
	d := &surgeryDialog{run: r.info.ID, gn: true, layers: newField("", digits+",", 40), callState: callState{kind: "surgery"}}
	d.layers.fresh = false
	d.value = newField(strconv.Itoa(suggestR(r, opCompress)), digits, 3)
	d.validate(r)
	return d
}

// suggestR is the value an operation starts with: halve the cache for
// compress and GQA, back to H for grow, double the heads for a restart.
func suggestR(r *runData, op surgeryOp) int {
	c := r.info.Spec.Model
	H, kv := max(c.Heads, 1), max(c.KV(0), 1)
	switch op {
	case opCompress:
		return max(1, kv/2)
	case opGrow:
		return H
	case opGQA:
		return max(1, H/2)
	case opRestart:
		return H * 2
	}
	return kv
}

// surgeryPlan is what the dialog would do, or why it cannot.
type surgeryPlan struct {
	op      model.Op
	heads   int // restart
	restart bool
	after   model.Config
}

func (d *surgeryDialog) plan(r *runData) (surgeryPlan, error) {
	if r == nil {
		return surgeryPlan{}, errors.New("the run is gone")
	}
	c := r.info.Spec.Model.Normalized()
	n, err := strconv.Atoi(d.value.val)
	if d.op != opMEA && (err != nil || n < 1) {
		return surgeryPlan{}, errors.New("type a head count of at least 1")
	}
	if d.op == opRestart {
		if n > c.Width {
			return surgeryPlan{}, fmt.Errorf("%d heads exceed the width %d", n, c.Width)
		}
		after := c
		wasMHA := c.KV(0) == c.Heads && len(c.LayerKV) == 0
		after.Heads, after.LayerKV = n, nil
		switch {
		case wasMHA:
			after.KVHeads = n
		case after.KVHeads > n:
			after.KVHeads = n
		}
		if !after.HLC && after.KVHeads > 0 && n%after.KVHeads != 0 {
			after.KVHeads = n
		}
		if err := after.Validate(); err != nil {
			return surgeryPlan{}, err
		}
		return surgeryPlan{heads: n, restart: true, after: after}, nil
	}
	text := map[surgeryOp]string{opCompress: "compress", opGrow: "grow", opGQA: "gqa", opMEA: "mea"}[d.op]
	if d.op != opMEA {
		text += " " + strconv.Itoa(n)
	} else if d.gn {
		text += " +gn"
	}
	if l := strings.Trim(d.layers.val, ","); l != "" {
		text += " layers=" + l
	}
	op, err := model.ParseOp(text)
	if err != nil {
		return surgeryPlan{}, err
	}
	for _, l := range op.Layers {
		if l < 0 || l >= c.Layers {
			return surgeryPlan{}, fmt.Errorf("layer %d does not exist; this run has layers 0..%d", l, c.Layers-1)
		}
	}
	after := c
	switch d.op {
	case opCompress, opGrow, opGQA:
		if n > c.Heads {
			return surgeryPlan{}, fmt.Errorf("%d exceeds the %d query heads", n, c.Heads)
		}
		if d.op == opGQA && c.HLC {
			return surgeryPlan{}, errors.New("this run already mixes heads (HLC/MEA); use compress instead of GQA")
		}
		if d.op == opGQA && c.Heads%n != 0 {
			return surgeryPlan{}, fmt.Errorf("GQA groups must be equal: choose G dividing %d", c.Heads)
		}
		if len(op.Layers) == 0 {
			after.KVHeads, after.LayerKV = n, nil
		} else {
			kv := make([]int, c.Layers)
			for l := range kv {
				kv[l] = c.KV(l)
			}
			for _, l := range op.Layers {
				kv[l] = n
			}
			after.LayerKV = kv
		}
		if d.op == opCompress {
			after.HLC = true
		}
	case opMEA:
		after.HLC = true
		after.GroupNorm = after.GroupNorm || d.gn
	}
	return surgeryPlan{op: op, after: after.Normalized()}, nil
}

func (d *surgeryDialog) validate(r *runData) {
	d.err = ""
	if _, err := d.plan(r); err != nil {
		d.err = err.Error()
	}
}

func (d *surgeryDialog) key(k tea.KeyPressMsg, e env) (tea.Cmd, bool) {
	if d.pending {
		return nil, is(k, e.keys.Esc)
	}
	r := e.st.runs[d.run]
	switch {
	case is(k, e.keys.Esc):
		return nil, true
	case k.String() == "up" || k.String() == "down":
		step := 1
		if k.String() == "up" {
			step = -1
		}
		d.op = (d.op + surgeryOp(step) + numOps) % numOps
		if r != nil && d.value.fresh {
			d.value = newField(strconv.Itoa(suggestR(r, d.op)), digits, 3)
		}
	case is(k, e.keys.Field):
		d.focus = 1 - d.focus
	case k.String() == "f":
		d.fork = !d.fork
	case k.String() == "g":
		d.gn = !d.gn
	case is(k, e.keys.Enter):
		plan, err := d.plan(r)
		if err != nil {
			d.err = err.Error()
			return nil, false
		}
		d.pending, d.err = true, ""
		id, fork := d.run, d.fork
		if plan.restart {
			h := plan.heads
			return labCall(e.lab, "surgery", id, func(l Lab) (trainer.RunID, error) { return l.Restart(id, h) }), false
		}
		op := plan.op
		return labCall(e.lab, "surgery", id, func(l Lab) (trainer.RunID, error) { return l.Apply(id, op, fork) }), false
	default:
		f := &d.value
		if d.focus == 1 {
			f = &d.layers
		}
		if !f.key(k) {
			return nil, false
		}
	}
	d.validate(r)
	return nil, false
}

func (d *surgeryDialog) view(e env, w, _ int) []string {
	th := e.th
	r := e.st.runs[d.run]
	if r == nil {
		return []string{style(th.err, "the run is gone (esc)")}
	}
	c := r.info.Spec.Model
	lines := []string{style(th.bold, "Head surgery on "+r.info.Name) + th.dim.Render(fmt.Sprintf("  %s · H=%d · KV heads %s · %d layers", r.info.Variant, c.Heads, c.KVLabel(), c.Layers))}
	for i := surgeryOp(0); i < numOps; i++ {
		cur := "  "
		label := opLabels[i]
		if i == d.op {
			cur = "▸ "
			label = th.sel.Render(label)
		}
		lines = append(lines, clip(cur+label, w))
	}
	var val string
	switch d.op {
	case opMEA:
		val = "+GroupNorm " + map[bool]string{true: "[x]", false: "[ ]"}[d.gn] + " (g)"
	case opRestart:
		val = "H = " + d.value.view(d.focus == 0, th, 3)
	case opGQA:
		val = "G = " + d.value.view(d.focus == 0, th, 3)
	default:
		val = "r = " + d.value.view(d.focus == 0, th, 3)
	}
	mode := "(•) in place  ( ) fork"
	if d.fork {
		mode = "( ) in place  (•) fork"
	}
	if d.op == opRestart {
		mode = "new run beside it"
	}
	layers := "layers " + d.layers.view(d.focus == 1, th, 10)
	if d.layers.val == "" && d.focus != 1 {
		layers = "layers [all]"
	}
	if d.op == opRestart {
		layers = ""
	}
	lines = append(lines, clip(val+"   "+mode+" (f)   "+layers, w))
	if plan, err := d.plan(r); err == nil {
		before, after := r.info.KVBytesPerToken, plan.after.KVBytesPerToken(4)
		lines = append(lines, clip(fmt.Sprintf("KV cache per token: %s → %s  %s", fmtBytes(before), fmtBytes(after), savingText(after, before)), w))
	} else {
		lines = append(lines, "")
	}
	return append(lines, dialogStatus(th, d.err, d.pending, "applying (waits for the current step)…"))
}

func (d *surgeryDialog) help(e env) helpKeys {
	k, h := e.keys, withHelp
	return helpKeys{short: []key.Binding{h(k.OpUp, "↑↓", "operation"), h(k.Field, "0-9", "r/G/H"), k.Fork, k.GN, h(k.Field, "tab", "layers")},
		tail: []key.Binding{h(k.Enter, "enter", "apply"), k.Esc}}
}

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
	asked string      // the operation whose preview was asked for last
	pre   *previewMsg // its answer, once it came
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

// opKinds maps the dialog's operations to the model's.
var opKinds = [numOps]model.OpKind{opCompress: model.OpCompress, opGrow: model.OpGrow, opGQA: model.OpToGQA, opMEA: model.OpToMEA}

// plan builds the operation from the fields and asks the model (or, for a
// restart, the trainer) what it turns the run into; the dialog derives no
// rule of its own, so it previews exactly what Apply and Restart accept.
func (d *surgeryDialog) plan(r *runData) (surgeryPlan, error) {
	if r == nil {
		return surgeryPlan{}, errors.New("the run is gone")
	}
	c := r.info.Spec.Model
	n, err := strconv.Atoi(d.value.val)
	if d.op != opMEA && (err != nil || n < 1) {
		return surgeryPlan{}, errors.New("type a head count of at least 1")
	}
	if d.op == opRestart {
		after, err := trainer.RestartConfig(c, n)
		if err != nil {
			return surgeryPlan{}, joinLines(err)
		}
		return surgeryPlan{heads: n, restart: true, after: after}, nil
	}
	op := model.Op{Kind: opKinds[d.op]}
	if d.op == opMEA {
		op.GN = d.gn
	} else {
		op.R = n
	}
	for _, p := range strings.Split(d.layers.val, ",") {
		if p == "" {
			continue
		}
		l, err := strconv.Atoi(p)
		if err != nil {
			return surgeryPlan{}, fmt.Errorf("layers: %q is not a layer number", p)
		}
		op.Layers = append(op.Layers, l)
	}
	after, _, err := op.Config(c)
	if err != nil {
		return surgeryPlan{}, joinLines(err)
	}
	return surgeryPlan{op: op, after: after}, nil
}

// joinLines joins a multi-line error (errors.Join) for a one-line status.
func joinLines(err error) error {
	return errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
}

func (d *surgeryDialog) validate(r *runData) {
	d.err = ""
	if _, err := d.plan(r); err != nil {
		d.err = err.Error()
	}
}

// previewMsg is the lab's answer to a preview request: the report the
// operation would give on the run's current weights.
type previewMsg struct {
	run trainer.RunID
	op  string // the operation asked about (model.Op.String)
	rep model.Report
	err error
}

// askPreview asks the lab for the realised K/V errors of the planned
// operation, once per distinct operation; nil when there is nothing new
// to ask (a restart, a plan the model refuses, or the same operation).
func (d *surgeryDialog) askPreview(e env, r *runData) tea.Cmd {
	p, err := d.plan(r)
	if err != nil || p.restart || !p.op.ChangesProjections() {
		d.asked, d.pre = "", nil
		return nil
	}
	key := p.op.String()
	if key == d.asked {
		return nil
	}
	d.asked, d.pre = key, nil
	lab, id, op := e.lab, d.run, p.op
	return func() tea.Msg {
		rep, err := lab.Preview(id, op)
		return previewMsg{run: id, op: key, rep: rep, err: err}
	}
}

func (d *surgeryDialog) start(e env) tea.Cmd { return d.askPreview(e, e.st.runs[d.run]) }

func (d *surgeryDialog) result(msg tea.Msg) (mine, done bool) {
	if p, ok := msg.(previewMsg); ok {
		if p.run == d.run && p.op == d.asked {
			d.pre = &p
		}
		return true, false
	}
	return d.callState.result(msg)
}

// previewLine says what the planned operation does to the K/V projections:
// the realised error per layer for K and V when it approximates them, in
// words when it does not.
func (d *surgeryDialog) previewLine(p surgeryPlan) string {
	switch {
	case p.restart:
		return "a new run: its weights start fresh"
	case !p.op.ChangesProjections():
		return p.op.Effect()
	case d.pre == nil:
		return "K/V error per layer: measuring…"
	case d.pre.err != nil:
		return "K/V error: " + d.pre.err.Error()
	}
	return d.pre.rep.ErrorText()
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
		ids := replicasOf(e.st, r) // groups.go: surgery on a group is on every replica
		if plan.restart {
			h := plan.heads
			return labCall(e.lab, "surgery", id, eachReplica(ids, func(l Lab, id trainer.RunID) (trainer.RunID, error) { return l.Restart(id, h) })), false
		}
		op := plan.op
		return labCall(e.lab, "surgery", id, eachReplica(ids, func(l Lab, id trainer.RunID) (trainer.RunID, error) { return l.Apply(id, op, fork) })), false
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
	return d.askPreview(e, r), false
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
		lines = append(lines, clip(fmt.Sprintf("KV cache per token: %s → %s  %s", fmtBytes(before), fmtBytes(after), savingText(after, before)), w),
			clip(d.previewLine(plan), w))
	} else {
		lines = append(lines, "", "")
	}
	return append(lines, dialogStatus(th, d.err, d.pending, "applying (waits for the current step)…"))
}

func (d *surgeryDialog) help(e env) helpKeys {
	k, h := e.keys, withHelp
	return helpKeys{short: []key.Binding{h(k.OpUp, "↑↓", "operation"), h(k.Field, "0-9", "r/G/H"), k.Fork, k.GN, h(k.Field, "tab", "layers")},
		tail: []key.Binding{h(k.Enter, "enter", "apply"), k.Esc}}
}

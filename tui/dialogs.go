package tui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// ---- confirmation ----------------------------------------------------------

type confirmState struct {
	kind string // stop, remove, quit, quit-save
	run  trainer.RunID
	text string
}

func (m *Model) confirmKey(k tea.KeyPressMsg) tea.Cmd {
	c := m.confirm
	s := k.String()
	switch {
	case s == "ctrl+c":
		return tea.Quit
	case is(k, m.keys.Yes):
		m.mode = modeNormal
		switch c.kind {
		case "stop":
			return m.labCall("stop", c.run, func(l Lab) (trainer.RunID, error) { return 0, l.Stop(c.run) })
		case "remove":
			return m.labCall("remove", c.run, func(l Lab) (trainer.RunID, error) { return 0, l.Remove(c.run) })
		case "quit":
			return tea.Quit
		case "quit-save":
			m.saving = true
			m.setStatus("saving…", false)
			return save(m.opts.Saver, true)
		}
	case c.kind == "quit-save" && (s == "n" || s == "N"):
		return tea.Quit
	case is(k, m.keys.No):
		m.mode = modeNormal
	}
	return nil
}

func (m *Model) confirmView() []string {
	return []string{style(m.th.bold, m.confirm.text)} // the help bar lists the answers
}

// ---- learning rate ---------------------------------------------------------

type lrState struct {
	run     trainer.RunID
	in      field
	err     string
	pending bool
}

func (m *Model) openLR() {
	r := m.selected()
	if r == nil {
		m.setStatus("no run selected", true)
		return
	}
	m.lr = lrState{run: r.info.ID, in: newField(strconv.FormatFloat(r.info.LR, 'g', -1, 64), floatChrs, 12)}
	m.mode = modeLR
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

func (m *Model) lrKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case is(k, m.keys.Esc):
		m.mode = modeNormal
		return nil
	case is(k, m.keys.Enter):
		if m.lr.pending {
			return nil
		}
		v, err := parseLR(m.lr.in.val)
		if err != nil {
			m.lr.err = err.Error()
			return nil
		}
		id := m.lr.run
		m.lr.pending, m.lr.err = true, ""
		return m.labCall("lr", id, func(l Lab) (trainer.RunID, error) { return 0, l.SetLR(id, v) })
	}
	if m.lr.in.key(k) {
		m.lr.err = ""
		if _, err := parseLR(m.lr.in.val); err != nil && m.lr.in.val != "" {
			m.lr.err = err.Error()
		}
	}
	return nil
}

func (m *Model) lrView() []string {
	r := m.st.runs[m.lr.run]
	name := "?"
	if r != nil {
		name = r.info.Name + fmt.Sprintf(" (now %s peak, %s at this step)", fmtLR(r.info.LR), fmtLR(r.info.CurLR))
	}
	lines := []string{style(m.th.bold, "Learning rate of "+name),
		"new peak LR " + m.lr.in.view(true, m.th, 12) + m.th.dim.Render("  the warm-up/cosine shape is kept")}
	lines = append(lines, m.dialogStatus(m.lr.err, m.lr.pending, "setting…"))
	return lines
}

// ---- head surgery ----------------------------------------------------------

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

type surgeryState struct {
	run     trainer.RunID
	op      surgeryOp
	value   field
	layers  field
	focus   int // 0: value, 1: layers
	fork    bool
	gn      bool
	err     string
	pending bool
}

func (m *Model) openSurgery() {
	r := m.selected()
	if r == nil {
		m.setStatus("no run selected", true)
		return
	}
	m.surg = surgeryState{run: r.info.ID, gn: true, layers: newField("", digits+",", 40)}
	m.surg.layers.fresh = false
	m.surg.value = newField(strconv.Itoa(m.suggestR(r, opCompress)), digits, 3)
	m.mode = modeSurgery
	m.validateSurgery()
}

// suggestR is the value an operation starts with: halve the cache for
// compress and GQA, back to H for grow, double the heads for a restart.
func (m *Model) suggestR(r *runData, op surgeryOp) int {
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

func (m *Model) planSurgery() (surgeryPlan, error) {
	s := m.surg
	r := m.st.runs[s.run]
	if r == nil {
		return surgeryPlan{}, errors.New("the run is gone")
	}
	c := r.info.Spec.Model.Normalized()
	n, err := strconv.Atoi(s.value.val)
	if s.op != opMEA && (err != nil || n < 1) {
		return surgeryPlan{}, errors.New("type a head count of at least 1")
	}
	if s.op == opRestart {
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
	text := map[surgeryOp]string{opCompress: "compress", opGrow: "grow", opGQA: "gqa", opMEA: "mea"}[s.op]
	if s.op != opMEA {
		text += " " + strconv.Itoa(n)
	} else if s.gn {
		text += " +gn"
	}
	if l := strings.Trim(s.layers.val, ","); l != "" {
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
	switch s.op {
	case opCompress, opGrow, opGQA:
		if n > c.Heads {
			return surgeryPlan{}, fmt.Errorf("%d exceeds the %d query heads", n, c.Heads)
		}
		if s.op == opGQA && c.HLC {
			return surgeryPlan{}, errors.New("this run already mixes heads (HLC/MEA); use compress instead of GQA")
		}
		if s.op == opGQA && c.Heads%n != 0 {
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
		if s.op == opCompress {
			after.HLC = true
		}
	case opMEA:
		after.HLC = true
		after.GroupNorm = after.GroupNorm || s.gn
	}
	return surgeryPlan{op: op, after: after.Normalized()}, nil
}

func (m *Model) validateSurgery() {
	m.surg.err = ""
	if _, err := m.planSurgery(); err != nil {
		m.surg.err = err.Error()
	}
}

func (m *Model) surgeryKey(k tea.KeyPressMsg) tea.Cmd {
	s := &m.surg
	if s.pending {
		if is(k, m.keys.Esc) {
			m.mode = modeNormal
		}
		return nil
	}
	r := m.st.runs[s.run]
	switch {
	case is(k, m.keys.Esc):
		m.mode = modeNormal
		return nil
	case k.String() == "up" || k.String() == "down":
		d := 1
		if k.String() == "up" {
			d = -1
		}
		s.op = (s.op + surgeryOp(d) + numOps) % numOps
		if r != nil && s.value.fresh {
			s.value = newField(strconv.Itoa(m.suggestR(r, s.op)), digits, 3)
		}
	case is(k, m.keys.Field):
		s.focus = 1 - s.focus
	case k.String() == "f":
		s.fork = !s.fork
	case k.String() == "g":
		s.gn = !s.gn
	case is(k, m.keys.Enter):
		plan, err := m.planSurgery()
		if err != nil {
			s.err = err.Error()
			return nil
		}
		s.pending, s.err = true, ""
		id, fork := s.run, s.fork
		if plan.restart {
			h := plan.heads
			return m.labCall("surgery", id, func(l Lab) (trainer.RunID, error) { return l.Restart(id, h) })
		}
		op := plan.op
		return m.labCall("surgery", id, func(l Lab) (trainer.RunID, error) { return l.Apply(id, op, fork) })
	default:
		f := &s.value
		if s.focus == 1 {
			f = &s.layers
		}
		if !f.key(k) {
			return nil
		}
	}
	m.validateSurgery()
	return nil
}

func (m *Model) surgeryView(w int) []string {
	s := m.surg
	th := m.th
	r := m.st.runs[s.run]
	if r == nil {
		return []string{style(th.err, "the run is gone (esc)")}
	}
	c := r.info.Spec.Model
	lines := []string{style(th.bold, "Head surgery on "+r.info.Name) + th.dim.Render(fmt.Sprintf("  %s · H=%d · KV heads %s · %d layers", r.info.Variant, c.Heads, c.KVLabel(), c.Layers))}
	for i := surgeryOp(0); i < numOps; i++ {
		cur := "  "
		label := opLabels[i]
		if i == s.op {
			cur = "▸ "
			label = th.sel.Render(label)
		}
		lines = append(lines, clip(cur+label, w))
	}
	var val string
	switch s.op {
	case opMEA:
		val = "+GroupNorm " + map[bool]string{true: "[x]", false: "[ ]"}[s.gn] + " (g)"
	case opRestart:
		val = "H = " + s.value.view(s.focus == 0, th, 3)
	case opGQA:
		val = "G = " + s.value.view(s.focus == 0, th, 3)
	default:
		val = "r = " + s.value.view(s.focus == 0, th, 3)
	}
	mode := "(•) in place  ( ) fork"
	if s.fork {
		mode = "( ) in place  (•) fork"
	}
	if s.op == opRestart {
		mode = "new run beside it"
	}
	layers := "layers " + s.layers.view(s.focus == 1, th, 10)
	if s.layers.val == "" && s.focus != 1 {
		layers = "layers [all]"
	}
	if s.op == opRestart {
		layers = ""
	}
	lines = append(lines, clip(val+"   "+mode+" (f)   "+layers, w))
	if plan, err := m.planSurgery(); err == nil {
		before, after := r.info.KVBytesPerToken, plan.after.KVBytesPerToken(4)
		lines = append(lines, clip(fmt.Sprintf("KV cache per token: %s → %s  %s", fmtBytes(before), fmtBytes(after), savingText(after, before)), w))
	} else {
		lines = append(lines, "")
	}
	lines = append(lines, m.dialogStatus(s.err, s.pending, "applying (waits for the current step)…"))
	return lines
}

// ---- new run form ----------------------------------------------------------

var formVariants = []string{"mha", "gqa", "mqa", "mha+gn", "hlc", "mea"}

// formDevices are the devices a run can train on; the pure-Go build refuses
// cuda with a message that says how to get a CUDA build.
var formDevices = []string{"cpu", "cuda"}

type formState struct {
	name, heads, kv, width, layers, lr, steps field
	variant                                   int
	device                                    int
	focus                                     int
	base                                      []presets.Setting
	spec                                      trainer.RunSpec
	err                                       string
	pending                                   bool
}

const formFields = 9 // name, variant, heads, kv, width, layers, lr, steps, device

func variantKeyword(c model.Config) string {
	c = c.Normalized()
	switch {
	case c.HLC && c.GroupNorm:
		return "mea"
	case c.HLC:
		return "hlc"
	case c.GroupNorm:
		return "mha+gn"
	case c.KVHeads == 1 && c.Heads > 1:
		return "mqa"
	case c.KVHeads < c.Heads:
		return "gqa"
	}
	return "mha"
}

// specSettings turns the settings of a run that the form does not show into
// preset settings, so a new run inherits data, batch and schedule from the
// selected one (and the vocabulary, so validating never reads the data).
func specSettings(s trainer.RunSpec) []presets.Setting {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	i := strconv.Itoa
	out := []presets.Setting{
		{Key: "context", Value: i(s.Model.Context)},
		{Key: "vocab", Value: i(s.Model.Vocab)},
		{Key: "seq_len", Value: i(s.SeqLen)},
		{Key: "rope_theta", Value: f(s.Model.RopeTheta)},
		{Key: "seed", Value: strconv.FormatUint(s.Model.Seed, 10)},
		{Key: "batch", Value: i(s.Batch)},
		{Key: "warmup", Value: i(s.Sched.Warmup)},
		{Key: "lr_floor", Value: f(s.Sched.FloorFrac)},
		{Key: "weight_decay", Value: f(s.Optim.WeightDecay)},
		{Key: "beta1", Value: f(s.Optim.Beta1)},
		{Key: "beta2", Value: f(s.Optim.Beta2)},
		{Key: "clip", Value: f(s.Clip)},
		{Key: "data_seed", Value: strconv.FormatUint(s.DataSeed, 10)},
		{Key: "eval_every", Value: i(s.EvalEvery)},
		{Key: "eval_batches", Value: i(s.EvalBatches)},
		{Key: "sample_every", Value: i(s.SampleEvery)},
		{Key: "sample_len", Value: i(s.SampleLen)},
	}
	switch s.Data.Kind {
	case "file":
		out = append(out, presets.Setting{Key: "data", Value: s.Data.Path})
	case "mqar":
		out = append(out, presets.Setting{Key: "data", Value: "mqar"},
			presets.Setting{Key: "mqar_keys", Value: i(s.Data.Keys)},
			presets.Setting{Key: "mqar_values", Value: i(s.Data.Values)},
			presets.Setting{Key: "mqar_pairs", Value: i(s.Data.Pairs)})
	}
	if s.Device != "" {
		out = append(out, presets.Setting{Key: "device", Value: s.Device})
	}
	var keep []presets.Setting
	for _, st := range out {
		if st.Value != "0" || st.Key == "clip" || st.Key == "sample_every" || st.Key == "eval_every" || st.Key == "lr_floor" {
			keep = append(keep, st)
		}
	}
	return keep
}

func (m *Model) openForm() {
	fs := formState{}
	spec, _ := presets.Build("", nil)
	if r := m.selected(); r != nil && r.info.Spec.Model.Layers > 0 {
		spec = r.info.Spec
		fs.base = specSettings(spec)
	}
	c := spec.Model.Normalized()
	kw := variantKeyword(c)
	for i, v := range formVariants {
		if v == kw {
			fs.variant = i
		}
	}
	kv := ""
	if kw == "gqa" || ((kw == "mea" || kw == "hlc") && c.KVHeads != c.Heads) {
		kv = strconv.Itoa(c.KVHeads)
	}
	fs.name = newField(fmt.Sprintf("%s-%d", kw, len(m.st.order)+1), nameChrs, 24)
	fs.heads = newField(strconv.Itoa(c.Heads), digits, 4)
	fs.kv = newField(kv, digits, 4)
	fs.width = newField(strconv.Itoa(c.Width), digits, 5)
	fs.layers = newField(strconv.Itoa(c.Layers), digits, 3)
	fs.lr = newField(strconv.FormatFloat(spec.Sched.Peak, 'g', -1, 64), floatChrs, 12)
	fs.steps = newField(strconv.Itoa(spec.Sched.Total), digits, 7)
	if spec.Device == "cuda" {
		fs.device = 1
	}
	m.form = fs
	m.mode = modeForm
	m.validateForm()
}

func (f *formState) fieldAt(i int) *field {
	switch i {
	case 0:
		return &f.name
	case 2:
		return &f.heads
	case 3:
		return &f.kv
	case 4:
		return &f.width
	case 5:
		return &f.layers
	case 6:
		return &f.lr
	case 7:
		return &f.steps
	}
	return nil
}

func (m *Model) validateForm() {
	f := &m.form
	set := append([]presets.Setting(nil), f.base...)
	add := func(k, v string) { set = append(set, presets.Setting{Key: k, Value: v}) }
	add("variant", formVariants[f.variant])
	for _, x := range []struct {
		key string
		f   field
	}{{"heads", f.heads}, {"width", f.width}, {"layers", f.layers}, {"lr", f.lr}, {"steps", f.steps}} {
		if strings.TrimSpace(x.f.val) == "" {
			f.err = x.key + ": enter a value"
			return
		}
		add(x.key, x.f.val)
	}
	if f.kv.val != "" {
		add("kv", f.kv.val)
	}
	add("device", formDevices[f.device])
	if strings.TrimSpace(f.name.val) == "" {
		f.err = "name: give the run a name"
		return
	}
	for _, r := range m.st.list() {
		if r.info.Name == f.name.val {
			f.err = "name: a run called " + f.name.val + " exists; choose another"
			return
		}
	}
	spec, err := presets.Build(f.name.val, set)
	if err != nil {
		f.err = strings.ReplaceAll(err.Error(), "\n", "; ")
		return
	}
	f.spec, f.err = spec, ""
}

func (m *Model) formKey(k tea.KeyPressMsg) tea.Cmd {
	f := &m.form
	if f.pending {
		if is(k, m.keys.Esc) {
			m.mode = modeNormal
		}
		return nil
	}
	switch s := k.String(); {
	case is(k, m.keys.Esc):
		m.mode = modeNormal
		return nil
	case s == "tab" || s == "down":
		f.focus = (f.focus + 1) % formFields
		return nil
	case s == "shift+tab" || s == "up":
		f.focus = (f.focus + formFields - 1) % formFields
		return nil
	case f.focus == 1 && (s == "left" || s == "right" || s == "space"):
		d := 1
		if s == "left" {
			d = len(formVariants) - 1
		}
		f.variant = (f.variant + d) % len(formVariants)
		if f.name.fresh { // the suggested name follows the variant
			f.name = newField(fmt.Sprintf("%s-%d", formVariants[f.variant], len(m.st.order)+1), nameChrs, 24)
		}
	case f.focus == 8 && (s == "left" || s == "right" || s == "space"):
		f.device = (f.device + 1) % len(formDevices)
	case is(k, m.keys.Enter):
		m.validateForm()
		if f.err != "" {
			return nil
		}
		f.pending = true
		spec := f.spec
		return m.labCall("add", 0, func(l Lab) (trainer.RunID, error) { return l.Add(spec) })
	default:
		fl := f.fieldAt(f.focus)
		if fl == nil || !fl.key(k) {
			return nil
		}
	}
	m.validateForm()
	return nil
}

func (m *Model) formView(w int) []string {
	f := m.form
	th := m.th
	lines := []string{style(th.bold, "New run") + th.dim.Render("  (other settings come from the selected run)")}
	label := func(i int, name string) string {
		if i == f.focus {
			return style(th.bold, "▸ "+fit(name, 9))
		}
		return "  " + fit(name, 9)
	}
	var vs []string
	for i, v := range formVariants {
		if i == f.variant {
			v = "<" + v + ">"
			if f.focus == 1 {
				v = th.sel.Render(v)
			}
		}
		vs = append(vs, v)
	}
	left := func(i int, name string, fl *field, fw int) string {
		return padRight(label(i, name)+fl.view(i == f.focus, th, fw), 32)
	}
	row1 := left(0, "name", &f.name, 16) + label(1, "variant") + strings.Join(vs, " ")
	row2 := left(2, "heads H", &f.heads, 4) + label(3, "KV / h'") + f.kv.view(f.focus == 3, th, 4) +
		th.dim.Render(" G for gqa, h' for mea/hlc")
	row3 := left(4, "width D", &f.width, 5) + label(5, "layers") + f.layers.view(f.focus == 5, th, 3)
	row4 := left(6, "peak LR", &f.lr, 8) + label(7, "steps") + f.steps.view(f.focus == 7, th, 7)
	var ds []string
	for i, d := range formDevices {
		if i == f.device {
			d = "<" + d + ">"
			if f.focus == 8 {
				d = th.sel.Render(d)
			}
		}
		ds = append(ds, d)
	}
	row5 := label(8, "device") + strings.Join(ds, " ")
	lines = append(lines, clip(row1, w), clip(row2, w), clip(row3, w), clip(row4, w), clip(row5, w))
	if f.err == "" {
		c := f.spec.Model
		data := f.spec.Data.Kind
		if data == "" {
			data = "synthetic"
		} else if data == "file" {
			data = f.spec.Data.Path
		}
		lines = append(lines, clip(th.ok.Render(fmt.Sprintf("ok: %s, head width d=%d, KV cache %s per token, data %s",
			c.Variant(), c.HeadDim(), fmtBytes(c.KVBytesPerToken(4)), data)), w))
	} else {
		lines = append(lines, "")
	}
	lines = append(lines, m.dialogStatus(f.err, f.pending, "starting…"))
	return lines
}

// ---- preset picker ---------------------------------------------------------

type presetState struct {
	names   []string
	descs   []string
	cur     int
	err     string
	pending bool
}

func (m *Model) openPresets() {
	ps := presetState{}
	ps.names, ps.descs = presetChoices(m.opts.Presets) // presetfile.go
	m.pick = ps
	m.mode = modePreset
}

func (m *Model) presetKey(k tea.KeyPressMsg) tea.Cmd {
	p := &m.pick
	switch s := k.String(); {
	case is(k, m.keys.Esc):
		m.mode = modeNormal
	case p.pending:
	case s == "up" || s == "k":
		p.cur = max(p.cur-1, 0)
		p.err = ""
	case s == "down" || s == "j":
		p.cur = min(p.cur+1, len(p.names)-1)
		p.err = ""
	case is(k, m.keys.Enter) && len(p.names) > 0:
		name := p.names[p.cur]
		over, lab := m.opts.Overrides, m.lab
		taken := map[string]bool{}
		for _, r := range m.st.list() {
			taken[r.info.Name] = true
		}
		p.pending = true
		return func() tea.Msg {
			specs, err := expandForLab(name, over) // presetfile.go
			if err != nil {
				return actionMsg{kind: "preset", err: err}
			}
			var first trainer.RunID
			for i, s := range specs {
				s.Name = uniqueName(s.Name, taken)
				id, err := lab.Add(s)
				if err != nil {
					return actionMsg{kind: "preset", err: fmt.Errorf("run %s: %w", s.Name, err)}
				}
				if i == 0 {
					first = id
				}
			}
			return actionMsg{kind: "preset", newRun: first, text: fmt.Sprintf("started %d runs from preset %s", len(specs), name)}
		}
	}
	return nil
}

func (m *Model) presetView(w, h int) []string {
	p := m.pick
	lines := []string{style(m.th.bold, "Start runs from a preset") + m.th.dim.Render("  (they train beside the current runs)")}
	n := max(h-3, 1)
	first := min(max(p.cur-n/2, 0), max(len(p.names)-n, 0))
	for i := first; i < len(p.names) && i < first+n; i++ {
		line := fit(p.names[i], 12) + " " + p.descs[i]
		if i == p.cur {
			line = "▸ " + m.th.sel.Render(line)
		} else {
			line = "  " + line
		}
		lines = append(lines, clip(line, w))
	}
	return append(lines, m.dialogStatus(p.err, p.pending, "starting…"))
}

// uniqueName keeps run names apart when a preset is started twice (the
// table and the legend go by name): mha, then mha-2, mha-3.
func uniqueName(name string, taken map[string]bool) string {
	n, out := 2, name
	for taken[out] {
		out = fmt.Sprintf("%s-%d", name, n)
		n++
	}
	taken[out] = true
	return out
}

// dialogStatus is a dialog's last line: the error in place, or progress.
func (m *Model) dialogStatus(err string, pending bool, doing string) string {
	switch {
	case err != "":
		return style(m.th.err, "✗ "+err)
	case pending:
		return style(m.th.dim, doing)
	}
	return ""
}

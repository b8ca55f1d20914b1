package tui

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// formVariants are the variant keywords, from model's one list of them.
var formVariants = model.VariantNames()

// formDevices are the devices a run can train on; the pure-Go build refuses
// cuda with a message that says how to get a CUDA build.
var formDevices = []string{"cpu", "cuda"}

// formDialog starts a new run: the main settings as fields, validated as
// they are typed; the rest comes from the selected run.
type formDialog struct {
	name, heads, kv, width, layers, lr, steps field
	seeds                                     field // replicas (presets.Replicate)
	variant                                   int
	device                                    int
	focus                                     int
	base                                      trainer.RunSpec // what the fields do not show
	spec                                      trainer.RunSpec
	specs                                     []trainer.RunSpec // spec, or its replicas
	callState
}

// kvHint says what the kv field means for each variant that takes one:
// "G for gqa, h' for hlc/mea".
var kvHint = func() string {
	var order []string
	by := map[string][]string{}
	for _, v := range model.Variants {
		if v.KV == "" {
			continue
		}
		if by[v.KV] == nil {
			order = append(order, v.KV)
		}
		by[v.KV] = append(by[v.KV], v.Name)
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, k+" for "+strings.Join(by[k], "/"))
	}
	return strings.Join(parts, ", ")
}()

const formFields = 10 // name, variant, heads, kv, width, layers, lr, steps, device, seeds

// newFormDialog fills the form from sel (nil: the lab's base values).
func newFormDialog(sel *runData, st *store) *formDialog {
	fd := &formDialog{callState: callState{kind: "add"}}
	spec, _ := presets.Build("", nil)
	if sel != nil && sel.info.Spec.Model.Layers > 0 {
		spec = sel.info.Spec
	}
	// The new run inherits data, batch, optimiser and evaluation from spec;
	// not its name, its surgery (scheduled or done) or its replica group.
	fd.base = spec
	fd.base.Name, fd.base.Ops, fd.base.Applied, fd.base.Initial = "", nil, nil, nil
	fd.base.Group, fd.base.Replica = "", 0
	c := spec.Model.Normalized()
	v := model.VariantOf(c)
	kw := v.Name
	for i, name := range formVariants {
		if name == kw {
			fd.variant = i
		}
	}
	kv := ""
	if v.KV != "" && c.KVHeads != c.Heads {
		kv = strconv.Itoa(c.KVHeads)
	}
	fd.name = newField(fmt.Sprintf("%s-%d", kw, len(st.order)+1), nameChrs, 24)
	fd.heads = newField(strconv.Itoa(c.Heads), digits, 4)
	fd.kv = newField(kv, digits, 4)
	fd.width = newField(strconv.Itoa(c.Width), digits, 5)
	fd.layers = newField(strconv.Itoa(c.Layers), digits, 3)
	fd.lr = newField(strconv.FormatFloat(spec.Sched.Peak, 'g', -1, 64), floatChrs, 12)
	fd.steps = newField(strconv.Itoa(spec.Sched.Total), digits, 7)
	fd.seeds = newField("1", digits, 2)
	if spec.Device == "cuda" {
		fd.device = 1
	}
	fd.validate(st)
	return fd
}

func (f *formDialog) fieldAt(i int) *field {
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
	case 9:
		return &f.seeds
	}
	return nil
}

func (f *formDialog) validate(st *store) {
	var set []presets.Setting
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
	for _, r := range st.list() {
		if r.info.Name == f.name.val {
			f.err = "name: a run called " + f.name.val + " exists; choose another"
			return
		}
	}
	n, err := strconv.Atoi(f.seeds.val)
	if err != nil || n < 1 || n > presets.MaxSeeds {
		f.err = fmt.Sprintf("seeds: give a number of replicas from 1 to %d", presets.MaxSeeds)
		return
	}
	spec, err := presets.Override(f.base, set)
	spec.Name = f.name.val
	if err != nil {
		f.err = strings.ReplaceAll(err.Error(), "\n", "; ")
		return
	}
	if n > 1 {
		specs, err := presets.Replicate([]trainer.RunSpec{spec}, n)
		if err != nil {
			f.err = err.Error()
			return
		}
		for _, r := range st.list() {
			for _, sp := range specs {
				if r.info.Name == sp.Name {
					f.err = "name: a run called " + sp.Name + " exists; choose another"
					return
				}
			}
		}
		f.specs = specs
	} else {
		f.specs = []trainer.RunSpec{spec}
	}
	f.spec, f.err = spec, ""
}

func (f *formDialog) key(k tea.KeyPressMsg, e env) (tea.Cmd, bool) {
	if f.pending {
		return nil, is(k, e.keys.Esc)
	}
	switch s := k.String(); {
	case is(k, e.keys.Esc):
		return nil, true
	case s == "tab" || s == "down":
		f.focus = (f.focus + 1) % formFields
		return nil, false
	case s == "shift+tab" || s == "up":
		f.focus = (f.focus + formFields - 1) % formFields
		return nil, false
	case f.focus == 1 && (s == "left" || s == "right" || s == "space"):
		d := 1
		if s == "left" {
			d = len(formVariants) - 1
		}
		f.variant = (f.variant + d) % len(formVariants)
		if f.name.fresh { // the suggested name follows the variant
			f.name = newField(fmt.Sprintf("%s-%d", formVariants[f.variant], len(e.st.order)+1), nameChrs, 24)
		}
	case f.focus == 8 && (s == "left" || s == "right" || s == "space"):
		f.device = (f.device + 1) % len(formDevices)
	case is(k, e.keys.Enter):
		f.validate(e.st)
		if f.err != "" {
			return nil, false
		}
		f.pending = true
		specs, lab := f.specs, e.lab
		return func() tea.Msg {
			first, err := addRuns(lab, specs)
			if err != nil {
				return actionMsg{kind: "add", newRun: first, err: err}
			}
			text := "started run " + specs[0].Name
			if len(specs) > 1 {
				text = fmt.Sprintf("started group %s: %d seeded replicas", specs[0].Group, len(specs))
			}
			return actionMsg{kind: "add", newRun: first, text: text}
		}, false
	default:
		fl := f.fieldAt(f.focus)
		if fl == nil || !fl.key(k) {
			return nil, false
		}
	}
	f.validate(e.st)
	return nil, false
}

func (f *formDialog) view(e env, w, _ int) []string {
	th := e.th
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
		th.dim.Render(" "+kvHint)
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
	row5 := padRight(label(8, "device")+strings.Join(ds, " "), 32) + label(9, "seeds") + f.seeds.view(f.focus == 9, th, 2) +
		th.dim.Render(" replicas, compared as a group")
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
	return append(lines, dialogStatus(th, f.err, f.pending, "starting…"))
}

func (f *formDialog) help(e env) helpKeys {
	k, h := e.keys, withHelp
	return helpKeys{short: []key.Binding{h(k.Field, "tab ↑↓", "field"), h(k.Left, "←→", "variant")}, tail: []key.Binding{h(k.Enter, "enter", "start"), k.Esc}}
}

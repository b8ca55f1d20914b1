package presets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/trainer"
)

// LabRun is a run as a lab or a session holds it, for Format.
type LabRun struct {
	Spec trainer.RunSpec
	// Parent is the name of the run it was forked or restarted from ("").
	Parent string
	// LRChanges are the run's learning-rate changes made by hand, as its
	// "lr" events say them ("step 120: lr 3.0e-03 -> 1.0e-02"). A preset
	// cannot schedule them: Format writes the LR the run has now and a note.
	LRChanges []string
}

// Format writes runs as preset text that trains the same runs again: each
// run's initial model and hyperparameters, its scheduled surgery and the
// surgery applied to it by hand as `at = STEP OP [fork]` lines, values
// every run shares in [defaults]. A fork is not a run of its own: its
// parent's `at = ... fork` line recreates it. notes list what could not be
// written (surgery done to a fork after it forked, per-layer KV counts a
// run started with, LR changes made by hand) and names changed so that they say what a run is.
func Format(name, description string, runs []LabRun) (text []byte, notes []string) {
	type section struct {
		name string
		set  []Setting
	}
	var secs []section
	byName := map[string]LabRun{}
	for _, r := range runs {
		if _, dup := byName[r.Spec.Name]; !dup {
			byName[r.Spec.Name] = r
		}
	}
	for _, r := range runs {
		if len(r.LRChanges) > 0 {
			notes = append(notes, fmt.Sprintf("run %s: its learning rate was changed by hand (%s), which a preset cannot schedule; it is written with lr = %s, the LR it has now, from the first step", r.Spec.Name, strings.Join(r.LRChanges, "; "), FormatLR(r.Spec.Sched.Peak)))
		}
	}
	used := map[string]bool{}
	var keep []LabRun
	for _, r := range runs {
		s := r.Spec
		if par, ok := byName[r.Parent]; ok && r.Parent != "" && forkOf(par.Spec, s.Name) {
			if len(s.Applied) > 0 {
				notes = append(notes, fmt.Sprintf("run %s: the surgery done to it after it forked (%s) is not in the preset: a preset schedules surgery on the runs it starts, and its parent's fork line recreates %s as it was at the fork", s.Name, opsText(s.Applied), s.Name))
			}
			continue
		} else if r.Parent != "" && strings.Contains(s.Name, ">") && !ok {
			notes = append(notes, fmt.Sprintf("run %s: forked from %s, which is gone; it is written as a run of its own that starts from step 0", s.Name, r.Parent))
		}
		keep = append(keep, r)
	}
	items, more := collapseReplicas(keep)
	notes = append(notes, more...)
	for _, it := range items {
		s := it.Spec
		m := s.Model
		if s.Initial != nil {
			m = *s.Initial
		}
		if len(m.Normalized().LayerKV) > 0 {
			notes = append(notes, fmt.Sprintf("run %s: started with per-layer KV heads (%s), which preset keys cannot say; written with kv = %d", s.Name, m.KVLabel(), m.KV(0)))
		}
		set := settingsOf(s, m)
		if it.seeds > 1 {
			set = append(set, Setting{Key: "seeds", Value: strconv.Itoa(it.seeds)})
		}
		var ats []trainer.ScheduledOp
		seen := map[string]bool{}
		for _, o := range append(append([]trainer.ScheduledOp(nil), s.Ops...), s.Applied...) {
			if o.Step < 1 {
				notes = append(notes, fmt.Sprintf("run %s: %s was applied before its first step, which a preset cannot schedule (at needs a step of 1 or more); it is left out", s.Name, o.Op))
				continue
			}
			if k := o.String(); !seen[k] {
				seen[k] = true
				ats = append(ats, o)
			}
		}
		for _, o := range ats {
			set = append(set, Setting{Key: "at", Value: o.String()})
		}
		n := strings.ReplaceAll(s.Name, "#", "-r") // '#' starts a comment
		kw, kv := variantOf(m)
		if checkRunName(n) != nil || n == "" {
			n = canonicalName(kw, kv, m.Heads)
		} else if ckw, ckv, ok := claims(n); ok && !claimHolds(ckw, ckv, kw, kv, m.Heads) {
			n = canonicalName(kw, kv, m.Heads)
		}
		for i := 2; used[n]; i++ {
			n = fmt.Sprintf("%s-%d", strings.SplitN(n, "@", 2)[0], i)
		}
		if n != s.Name {
			notes = append(notes, fmt.Sprintf("run %s is written as [run %s], a name that says what it is", s.Name, n))
		}
		used[n] = true
		secs = append(secs, section{n, set})
	}
	// [defaults]: the values every run shares (surgery stays per run).
	var defaults []Setting
	if len(secs) > 0 {
		for _, st := range secs[0].set {
			if st.Key == "at" {
				continue
			}
			all := true
			for _, sc := range secs[1:] {
				v, ok := valueOf(sc.set, st.Key)
				all = all && ok && v == st.Value
			}
			if all {
				defaults = append(defaults, st)
			}
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s: written by mealab from %d runs.\n", name, len(secs))
	b.WriteString("# Run it with  mealab train --preset FILE  (or put it in " + "~/.config/mealab/presets).\n")
	for _, n := range notes {
		b.WriteString("# note: " + oneLine(n) + "\n")
	}
	if description != "" {
		// Headers print the description in parentheses: keep it free of them.
		fmt.Fprintf(&b, "description = %s\n", strings.NewReplacer("(", "", ")", "").Replace(oneLine(description)))
	}
	b.WriteString("\n[defaults]\n")
	for _, st := range defaults {
		fmt.Fprintf(&b, "%s = %s\n", st.Key, st.Value)
	}
	for _, sc := range secs {
		fmt.Fprintf(&b, "\n[run %s]\n", sc.name)
		for _, st := range sc.set {
			if st.Key != "at" && hasKey(defaults, st.Key) {
				continue
			}
			fmt.Fprintf(&b, "%s = %s\n", st.Key, st.Value)
		}
	}
	return b.Bytes(), notes
}

func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "#", "no.").Replace(s)
}

func valueOf(list []Setting, k string) (string, bool) {
	for _, s := range list {
		if s.Key == k {
			return s.Value, true
		}
	}
	return "", false
}

func opsText(ops []trainer.ScheduledOp) string {
	var s []string
	for _, o := range ops {
		s = append(s, "at "+o.String())
	}
	return strings.Join(s, "; ")
}

// forkOf says whether child is the fork one of parent's fork operations
// makes (the trainer names forks PARENT>OP).
func forkOf(parent trainer.RunSpec, child string) bool {
	for _, o := range append(append([]trainer.ScheduledOp(nil), parent.Ops...), parent.Applied...) {
		want := parent.Name + ">" + o.Op.Short()
		if parent.Group != "" { // a replica's fork: GROUP>OP@seed=S (trainer.derived)
			want = trainer.ReplicaName(parent.Group+">"+o.Op.Short(), parent.Model.Seed)
		}
		if o.Fork && child == want {
			return true
		}
	}
	return false
}

// settingsOf writes every key of a run (with model m) as settings that
// rebuild it exactly; values equal to what the base values or the data
// would give anyway are left out where that cannot change the run.
func settingsOf(s trainer.RunSpec, m model.Config) []Setting {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	i := strconv.Itoa
	m = m.Normalized()
	kw, kv := variantOf(m)
	out := []Setting{{Key: "variant", Value: kw}}
	if v, _ := model.LookupVariant(kw); v.KV != "" && kv != m.Heads {
		out = append(out, Setting{Key: "kv", Value: i(kv)})
	}
	out = append(out,
		Setting{Key: "layers", Value: i(m.Layers)},
		Setting{Key: "width", Value: i(m.Width)},
		Setting{Key: "heads", Value: i(m.Heads)})
	if m.MLP != (8*m.Width/3+15)/16*16 {
		out = append(out, Setting{Key: "mlp", Value: i(m.MLP)})
	}
	out = append(out, Setting{Key: "context", Value: i(m.Context)})
	if s.SeqLen != 0 && s.SeqLen != m.Context {
		out = append(out, Setting{Key: "seq_len", Value: i(s.SeqLen)})
	}
	if m.RopeTheta != 10000 {
		out = append(out, Setting{Key: "rope_theta", Value: f(m.RopeTheta)})
	}
	lr := FormatLR(s.Sched.Peak)
	if v, err := strconv.ParseFloat(lr, 64); err != nil || v != s.Sched.Peak {
		lr = f(s.Sched.Peak)
	}
	out = append(out,
		Setting{Key: "seed", Value: strconv.FormatUint(m.Seed, 10)},
		Setting{Key: "batch", Value: i(s.Batch)},
		Setting{Key: "lr", Value: lr},
		Setting{Key: "warmup", Value: i(s.Sched.Warmup)},
		Setting{Key: "steps", Value: i(s.Sched.Total)},
		Setting{Key: "lr_floor", Value: f(s.Sched.FloorFrac)},
		Setting{Key: "weight_decay", Value: f(s.Optim.WeightDecay)},
		Setting{Key: "beta1", Value: f(s.Optim.Beta1)},
		Setting{Key: "beta2", Value: f(s.Optim.Beta2)},
		Setting{Key: "clip", Value: f(s.Clip)})
	switch s.Data.Kind {
	case "file":
		out = append(out, Setting{Key: "data", Value: s.Data.Path})
	case "mqar":
		out = append(out, Setting{Key: "data", Value: "mqar"},
			Setting{Key: "mqar_keys", Value: i(s.Data.Keys)},
			Setting{Key: "mqar_values", Value: i(s.Data.Values)},
			Setting{Key: "mqar_pairs", Value: i(s.Data.Pairs)})
	case "":
	default:
		out = append(out, Setting{Key: "data", Value: s.Data.Kind})
	}
	if ds, err := s.Data.Open(max(1, s.SeqLen, m.Context)); err != nil || ds.Vocab() != m.Vocab {
		out = append(out, Setting{Key: "vocab", Value: i(m.Vocab)})
	}
	out = append(out,
		Setting{Key: "data_seed", Value: strconv.FormatUint(s.DataSeed, 10)},
		Setting{Key: "eval_every", Value: i(s.EvalEvery)},
		Setting{Key: "eval_batches", Value: i(s.EvalBatches)},
		Setting{Key: "sample_every", Value: i(s.SampleEvery)},
		Setting{Key: "sample_len", Value: i(s.SampleLen)})
	if s.Device != "" {
		out = append(out, Setting{Key: "device", Value: s.Device})
	}
	return out
}

// seededRun is a run to write, with the number of replicas its `seeds`
// line makes.
type seededRun struct {
	LabRun
	seeds int
}

// collapseReplicas writes a complete replica group (NAME@seed=S..., as
// Replicate makes them, with nothing done to one replica alone) back as
// one run with seeds = N; an incomplete or diverging group stays as
// separate runs, with a note.
func collapseReplicas(runs []LabRun) ([]seededRun, []string) {
	var out []seededRun
	var notes []string
	members := map[string][]LabRun{}
	for _, r := range runs {
		if g := r.Spec.Group; g != "" {
			members[g] = append(members[g], r)
		}
	}
	done := map[string]bool{}
	for _, r := range runs {
		g := r.Spec.Group
		if g == "" {
			out = append(out, seededRun{r, 1})
			continue
		}
		if done[g] {
			continue
		}
		done[g] = true
		group := members[g]
		if one, ok := sameReplicas(group); ok {
			out = append(out, seededRun{LabRun{Spec: one}, len(group)})
			continue
		}
		notes = append(notes, fmt.Sprintf("replicas of %s are written as separate runs: the group is incomplete or its replicas differ (surgery or an LR change on one)", g))
		for _, m := range group {
			m.Spec.Group, m.Spec.Replica = "", 0
			out = append(out, seededRun{m, 1})
		}
	}
	return out, notes
}

// sameReplicas returns replica 1 as the group's one run (named after the
// group) when the group is replicas 1..N that differ only in what
// Replicate changes.
func sameReplicas(group []LabRun) (trainer.RunSpec, bool) {
	var first trainer.RunSpec
	for i, r := range group {
		s := r.Spec
		if s.Replica != i+1 || r.Parent != "" {
			return first, false
		}
		s.Name, s.Replica = s.Group, 0
		s.Model.Seed -= uint64(i)
		s.DataSeed -= uint64(i)
		if i == 0 {
			first = s
			continue
		}
		a, b := first, s
		a.Group, b.Group = "", ""
		if !equalSpecs(a, b) {
			return first, false
		}
	}
	first.Group = ""
	return first, true
}

func equalSpecs(a, b trainer.RunSpec) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

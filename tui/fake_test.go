package tui

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// fakeLab is a scripted Lab: fixed runs and histories, served from a
// trainer.Journal (what a real lab serves its viewers from), and a log of
// every call so tests can check which lab method a key press led to.
// Fixtures may edit infos and hist until the first pull; the journal is
// made from them then, and tests change it (j) after that.
type fakeLab struct {
	mu     sync.Mutex
	j      *trainer.Journal
	infos  []trainer.RunInfo // as added, for tests to refer to
	hist   map[trainer.RunID]trainer.History
	calls  []string
	fail   error // returned by every mutating call when set
	nextID trainer.RunID
}

func newFakeLab() *fakeLab {
	return &fakeLab{hist: map[trainer.RunID]trainer.History{}, nextID: 100}
}

// journal returns the journal, made from infos and hist at the first call.
func (f *fakeLab) journal() *trainer.Journal {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.j == nil {
		f.j = trainer.NewJournal(0)
		for _, in := range f.infos {
			f.j.Add(in, f.hist[in.ID])
		}
	}
	return f.j
}

func (f *fakeLab) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.fail
}

func (f *fakeLab) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeLab) Since(c trainer.Cursor) trainer.Changes { return f.journal().Since(c) }

func (f *fakeLab) Runs() []trainer.RunInfo { return f.journal().Runs() }

func (f *fakeLab) Add(spec trainer.RunSpec) (trainer.RunID, error) {
	if err := f.record("add %s", spec.Name); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	return f.nextID, nil
}

func (f *fakeLab) Pause(id trainer.RunID) error  { return f.record("pause %d", id) }
func (f *fakeLab) Resume(id trainer.RunID) error { return f.record("resume %d", id) }
func (f *fakeLab) Stop(id trainer.RunID) error   { return f.record("stop %d", id) }
func (f *fakeLab) Remove(id trainer.RunID) error { return f.record("remove %d", id) }
func (f *fakeLab) SetLR(id trainer.RunID, lr float64) error {
	return f.record("lr %d %g", id, lr)
}

func (f *fakeLab) Apply(id trainer.RunID, op model.Op, fork bool) (trainer.RunID, error) {
	if err := f.record("apply %d %s fork=%v", id, op, fork); err != nil {
		return 0, err
	}
	if !fork {
		return id, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	return f.nextID, nil
}

func (f *fakeLab) Restart(id trainer.RunID, heads int) (trainer.RunID, error) {
	if err := f.record("restart %d %d", id, heads); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	return f.nextID, nil
}

// Preview answers with recognisable errors: 0.1*(l+1) for K and
// 0.05*(l+1) for V in layer l.
func (f *fakeLab) Preview(id trainer.RunID, op model.Op) (model.Report, error) {
	for _, in := range f.Runs() {
		if in.ID != id {
			continue
		}
		c := in.Spec.Model
		if _, _, err := op.Config(c); err != nil {
			return model.Report{}, err
		}
		rep := model.Report{Op: op, ErrK: make([]float64, c.Layers), ErrV: make([]float64, c.Layers)}
		for l := range rep.ErrK {
			rep.ErrK[l], rep.ErrV[l] = 0.1*float64(l+1), 0.05*float64(l+1)
			rep.MaxErr = max(rep.MaxErr, rep.ErrK[l])
		}
		return rep, nil
	}
	return model.Report{}, fmt.Errorf("no run %d in this lab", id)
}

// Mixing returns a fixed, recognisable matrix: the identity (or grouping)
// plus small off-diagonal terms that depend on the run and layer.
func (f *fakeLab) Mixing(id trainer.RunID, layer int) (trainer.Mixing, error) {
	_ = f.record("mixing %d %d", id, layer)
	var in trainer.RunInfo
	for _, x := range f.Runs() {
		if x.ID == id {
			in = x
		}
	}
	if in.ID == 0 {
		return trainer.Mixing{}, fmt.Errorf("no run %d in this lab", id)
	}
	c := in.Spec.Model
	G, H := c.KV(layer), c.Heads
	mx := trainer.Mixing{G: G, H: H, Learned: c.HLC, K: make([]float64, G*H), V: make([]float64, G*H)}
	for i := 0; i < G; i++ {
		for j := 0; j < H; j++ {
			base := 0.0
			if j*G/H == i {
				base = 1
			}
			if c.HLC {
				base += 0.1 * math.Sin(float64(1+i*H+j+layer+int(id)))
			}
			mx.K[i*H+j] = base
			mx.V[i*H+j] = base * 0.9
		}
	}
	return mx, nil
}

func (f *fakeLab) AttentionMap(id trainer.RunID, layer, head int) ([]float64, int, []string, error) {
	_ = f.record("attention %d %d %d", id, layer, head)
	const T = 16
	p := make([]float64, T*T)
	var toks []string
	for t := 0; t < T; t++ {
		// Half the weight on the previous token, the rest on the first:
		// an induction-like pattern that reads well as shades.
		p[t*T] += 0.5
		p[t*T+max(t-1, 0)] += 0.5
		toks = append(toks, string(rune('a'+t%26)))
	}
	return p, T, toks, nil
}

// ---- deterministic fixture --------------------------------------------------

func mustBuild(t testing.TB, name string, kv ...string) trainer.RunSpec {
	t.Helper()
	set := []presets.Setting{{Key: "layers", Value: "2"}, {Key: "width", Value: "64"}, {Key: "heads", Value: "4"},
		{Key: "context", Value: "64"}, {Key: "batch", Value: "8"}, {Key: "steps", Value: "600"}, {Key: "lr", Value: "3e-3"},
		{Key: "eval_every", Value: "25"}, {Key: "sample_every", Value: "100"}, {Key: "sample_len", Value: "48"}}
	for i := 0; i+1 < len(kv); i += 2 {
		set = append(set, presets.Setting{Key: kv[i], Value: kv[i+1]})
	}
	spec, err := presets.Build(name, set)
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return spec
}

// curve is a made-up but loss-shaped training curve with deterministic
// wiggle.
func curve(step int, floor, scale, tau, wob float64) float64 {
	s := float64(step)
	return floor + scale*math.Exp(-s/tau) + 0.04*math.Sin(s*wob)
}

type fixtureRun struct {
	spec     trainer.RunSpec
	from, to int
	loss     func(step int) float64
	state    trainer.State
	parent   trainer.RunID
	divAt    int
	events   []trainer.Event
	sampleAt []int
}

// addRun records a run's whole history in the fake and its RunInfo.
func (f *fakeLab) addRun(id trainer.RunID, fr fixtureRun) {
	var h trainer.History
	best := math.NaN()
	in := trainer.RunInfo{ID: id, Name: fr.spec.Name, Parent: fr.parent, Variant: fr.spec.Model.Variant(),
		Heads: fr.spec.Model.Heads, KVHeads: fr.spec.Model.Normalized().KVHeads, LR: fr.spec.Sched.Peak,
		Steps: fr.spec.Sched.Total, State: fr.state, DivergedAt: fr.divAt, Recall: math.NaN(),
		KVBytesPerToken: fr.spec.Model.KVBytesPerToken(4), Spec: fr.spec, Loss: math.NaN(), ValLoss: math.NaN()}
	for s := fr.from; s <= fr.to; s++ {
		p := trainer.Point{Run: id, Step: s, Tokens: int64(s) * 512, Wall: float64(s) * 0.05, Loss: fr.loss(s),
			LR: fr.spec.Sched.LR(s), GradNorm: 1, TokPerSec: 10000 + float64(id)*1000}
		h.Points = append(h.Points, p)
		in.Step, in.Tokens, in.Wall, in.Loss, in.CurLR, in.TokPerSec = s, p.Tokens, p.Wall, p.Loss, p.LR, p.TokPerSec
		if s%25 == 0 && finite(p.Loss) {
			v := fr.loss(s) + 0.08
			h.Evals = append(h.Evals, trainer.EvalPoint{Run: id, Step: s, Tokens: p.Tokens, Wall: p.Wall, ValLoss: v, Recall: math.NaN()})
			in.ValLoss = v
			if math.IsNaN(best) || v < best {
				best = v
			}
		}
	}
	in.BestVal = best
	h.Events = fr.events
	for _, s := range fr.sampleAt {
		b := in.KVBytesPerToken * 58
		h.Samples = append(h.Samples, trainer.Sample{Run: id, Step: s, Prompt: "ada has a ", Text: fmt.Sprintf("red cup. pip has a %d blue hats and the dog naps", s),
			TokPerSec: 20000, CacheBytes: b, CacheTokens: 58, FormulaBytes: b})
	}
	f.hist[id] = h
	f.infos = append(f.infos, in)
	if f.j != nil {
		f.j.Add(in, h)
	}
}

// fixtureLab is four runs in the states the UI must show: two training
// side by side, a fork after KV compression, and one diverged.
func fixtureLab(t testing.TB) *fakeLab {
	f := newFakeLab()
	mha := mustBuild(t, "mha", "variant", "mha")
	mea := mustBuild(t, "mea", "variant", "mea")
	svd := mustBuild(t, "mea>svd2", "variant", "mea", "kv", "2")
	hot := mustBuild(t, "mha@3e-2", "variant", "mha", "lr", "3e-2")
	f.addRun(1, fixtureRun{spec: mha, from: 1, to: 300, state: trainer.Running, sampleAt: []int{100, 200, 300},
		loss:   func(s int) float64 { return curve(s, 0.62, 2.9, 60, 0.7) },
		events: []trainer.Event{{Run: 1, Kind: "start", Detail: "MHA"}, {Run: 1, Step: 200, Kind: "lr", Detail: "lr 3.0e-03 -> 1.5e-03"}}})
	f.addRun(2, fixtureRun{spec: mea, from: 1, to: 300, state: trainer.Running, sampleAt: []int{100, 200, 300},
		loss: func(s int) float64 { return curve(s, 0.55, 3.0, 70, 1.3) },
		events: []trainer.Event{{Run: 2, Kind: "start", Detail: "MEA"},
			{Run: 2, Step: 150, Kind: "fork", Detail: "forked mea>svd2 with compress 2", Child: 3}}})
	f.addRun(3, fixtureRun{spec: svd, from: 151, to: 300, state: trainer.Paused, parent: 2, sampleAt: []int{200, 300},
		loss: func(s int) float64 { return curve(s, 0.55, 3.0, 70, 1.3) + 0.5*math.Exp(-float64(s-150)/25) },
		events: []trainer.Event{{Run: 3, Step: 150, Kind: "start", Detail: "fork of mea at step 150"},
			{Run: 3, Step: 150, Kind: "surgery", Detail: "compress 2: KV 1024 -> 512 B/token, approx err 0.120", KVBefore: 1024, KVAfter: 512, ApproxErr: 0.12}}})
	f.addRun(4, fixtureRun{spec: hot, from: 1, to: 57, state: trainer.Diverged, divAt: 57,
		loss: func(s int) float64 {
			switch {
			case s == 57:
				return math.NaN()
			case s > 40:
				return curve(40, 0.62, 2.9, 30, 0.7) + 0.3*float64(s-40)
			}
			return curve(s, 0.62, 2.9, 30, 0.7)
		},
		events: []trainer.Event{{Run: 4, Kind: "start"}, {Run: 4, Step: 57, Kind: "diverged", Detail: "diverged at step 57: loss is not a number"}}})
	return f
}

// ---- driving the model ------------------------------------------------------

// newTestModel is a colour-free model with the lab's snapshot taken in and
// the window sized.
func newTestModel(t testing.TB, lab Lab, w, h int, opts ...func(*Options)) *Model {
	t.Helper()
	o := Options{NoColor: true, Title: "fixture", Presets: []string{"quick", "mea-vs-mha"}}
	for _, fn := range opts {
		fn(&o)
	}
	m := New(lab, o)
	m.Update(pull(lab, trainer.Cursor{})())
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

// press builds the key message a terminal sends for s.
func press(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case "ctrl+u":
		return tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}
	}
	r := []rune(s)[0]
	return tea.KeyPressMsg{Code: r, Text: s}
}

// exec runs one Cmd, failing the test if it blocks (lab calls on the fake
// never do).
func exec(t testing.TB, cmd tea.Cmd) tea.Msg {
	t.Helper()
	if cmd == nil {
		return nil
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		return msg
	case <-time.After(20 * time.Second):
		t.Fatal("a Cmd blocked for 20 s")
	}
	return nil
}

// keys presses each key in turn, as a person types: the Cmd a key returns
// runs and its message is fed back before the next key. It returns the
// last message.
func keys(t testing.TB, m *Model, ks ...string) tea.Msg {
	t.Helper()
	var msg tea.Msg
	for _, k := range ks {
		_, cmd := m.Update(press(k))
		msg = exec(t, cmd)
		for msg != nil {
			switch msg.(type) {
			case tea.QuitMsg, tea.BatchMsg:
				return msg
			}
			_, cmd = m.Update(msg)
			if cmd == nil {
				break
			}
			next := exec(t, cmd) // a follow-up, e.g. save then quit
			if next == nil {
				break
			}
			msg = next
		}
	}
	return msg
}

var errFake = errors.New("the fake lab says no")

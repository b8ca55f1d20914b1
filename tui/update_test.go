package tui

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/trainer"
)

type fakeSaver struct {
	n   int
	err error
}

func (s *fakeSaver) Save() error { s.n++; return s.err }

// TestKeys presses keys on a fresh fixture model and checks the state
// change and the lab calls the resulting Cmd made.
func TestKeys(t *testing.T) {
	cases := []struct {
		name  string
		setup func(m *Model, f *fakeLab)
		keys  []string
		calls []string // lab calls after the last key's Cmd ran (mutating ones)
		check func(t *testing.T, m *Model, msg tea.Msg)
	}{
		{name: "down selects the next run", keys: []string{"j"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if m.selID != 2 {
				t.Errorf("selected %d, want 2", m.selID)
			}
		}},
		{name: "arrow down twice then up", keys: []string{"down", "down", "up"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if m.selID != 2 {
				t.Errorf("selected %d, want 2", m.selID)
			}
		}},
		{name: "up at the top stays", keys: []string{"k"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if m.selID != 1 {
				t.Errorf("selected %d, want 1", m.selID)
			}
		}},
		{name: "down at the bottom stays", keys: []string{"j", "j", "j", "j", "j"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if m.selID != 4 {
				t.Errorf("selected %d, want 4", m.selID)
			}
		}},
		{name: "space hides the run from the chart", keys: []string{"space"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if !m.st.runs[1].hidden {
				t.Error("run 1 not hidden")
			}
		}},
		{name: "a shows all runs again", keys: []string{"space", "j", "space", "a"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			for _, r := range m.st.list() {
				if r.hidden {
					t.Errorf("run %s still hidden", r.info.Name)
				}
			}
		}},
		{name: "o keeps only the run and its family on the chart", keys: []string{"j", "o"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			for _, r := range m.st.list() {
				if want := r.info.ID == 1 || r.info.ID == 4; r.hidden != want {
					t.Errorf("run %s hidden %v, want %v (mea and its fork stay)", r.info.Name, r.hidden, want)
				}
			}
		}},
		{name: "x cycles the axis", keys: []string{"x"}, check: wantChart(func(c chartState) bool { return c.axis == axisTokens })},
		{name: "x three times is back to steps", keys: []string{"x", "x", "x"}, check: wantChart(func(c chartState) bool { return c.axis == axisStep })},
		{name: "e turns smoothing on", keys: []string{"e"}, check: wantChart(func(c chartState) bool { return smoothings[c.smooth] == 0.6 })},
		{name: "L toggles log y", keys: []string{"L"}, check: wantChart(func(c chartState) bool { return c.logY })},
		{name: "z zooms in", keys: []string{"z", "z"}, check: wantChart(func(c chartState) bool { return zooms[c.zoom] == 2000 })},
		{name: "Z zooms out, not past all", keys: []string{"z", "Z", "Z"}, check: wantChart(func(c chartState) bool { return c.zoom == 0 })},
		{name: "v cycles the series", keys: []string{"v"}, check: wantChart(func(c chartState) bool { return c.series == seriesTrain })},
		{name: "chart keys do nothing on other tabs", keys: []string{"2", "x", "L"}, check: wantChart(func(c chartState) bool { return c.axis == axisStep && !c.logY })},
		{name: "2 opens the KV tab", keys: []string{"2"}, check: wantTab(tabKV)},
		{name: "4 opens samples", keys: []string{"4"}, check: wantTab(tabSamples)},
		{name: "tab cycles", keys: []string{"tab", "tab"}, check: wantTab(tabHeads)},
		{name: "shift+tab wraps", keys: []string{"shift+tab"}, check: wantTab(tabSamples)},
		{name: "the KV tab starts at the runs' own context, one sequence", keys: []string{"2"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if !m.kv.own() || m.kv.batchN() != 1 || !strings.Contains(m.View().Content, "own context 64") {
				t.Errorf("context %d batch %d; want the runs' own context (64) and batch 1 in the header", m.kv.context(), m.kv.batchN())
			}
		}},
		{name: "c and b raise the KV context and batch, labelled what-if", keys: []string{"2", "c", "c", "c", "b", "b"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if m.kv.context() != 2048 || m.kv.batchN() != 4 || !strings.Contains(m.View().Content, "what-if context 2,048 · batch 4") {
				t.Errorf("context %d batch %d, want a what-if 2048 and 4", m.kv.context(), m.kv.batchN())
			}
		}},
		{name: "C and B lower them, not below the ladder", keys: []string{"2", "c", "C", "C", "b", "B", "B"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if !m.kv.own() || m.kv.batchN() != 1 {
				t.Errorf("context %d batch %d, want own (0) and 1", m.kv.context(), m.kv.batchN())
			}
		}},
		{name: "3 opens heads and polls mixing and attention", keys: []string{"3"}, check: func(t *testing.T, m *Model, msg tea.Msg) {
			if _, ok := msg.(headsMsg); !ok || !m.heads.mixOK || m.heads.attn == nil {
				t.Errorf("heads not polled: msg %T, mixOK %v", msg, m.heads.mixOK)
			}
		}},
		{name: "] and . move layer and head and poll again", keys: []string{"3", "]", "."}, check: func(t *testing.T, m *Model, msg tea.Msg) {
			h, ok := msg.(headsMsg)
			if !ok || h.layer != 1 || h.head != 1 || m.heads.layer != 1 || m.heads.head != 1 {
				t.Errorf("got %T %+v, heads layer %d head %d", msg, h, m.heads.layer, m.heads.head)
			}
		}},
		{name: "[ stops at layer 0", keys: []string{"3", "["}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if m.heads.layer != 0 {
				t.Errorf("layer %d", m.heads.layer)
			}
		}},
		{name: "p pauses a running run", keys: []string{"p"}, calls: []string{"pause 1"}},
		{name: "p resumes a paused run", keys: []string{"j", "j", "p"}, calls: []string{"resume 3"}},
		{name: "p on a diverged run says why and calls nothing", keys: []string{"j", "j", "j", "p"}, check: wantStatus("diverged", true)},
		{name: "X asks before stopping", keys: []string{"X"}, check: wantDialog[*confirmDialog]()},
		{name: "X y stops", keys: []string{"X", "y"}, calls: []string{"stop 1"}},
		{name: "X n does not", keys: []string{"X", "n"}, check: wantNoDialog},
		{name: "D y removes and forgets the run", keys: []string{"j", "D", "y"}, calls: []string{"remove 2"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if m.st.runs[2] != nil || len(m.st.order) != 3 || m.selID != 3 {
				t.Errorf("after remove: order %v, selected %d", m.st.order, m.selID)
			}
		}},
		{name: "r opens the LR input with the current LR", keys: []string{"r"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if d := dlg[*lrDialog](m); d == nil || d.in.val != "0.003" {
				t.Errorf("dialog %T %+v", m.dlg, d)
			}
		}},
		{name: "r 1e-3 enter sets the LR", keys: []string{"r", "1", "e", "-", "3", "enter"}, calls: []string{"lr 1 0.001"}, check: wantNoDialog},
		{name: "r with a bad LR shows the error in place", keys: []string{"r", "0", "enter"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if d := dlg[*lrDialog](m); d == nil || !strings.Contains(d.err, "positive") {
				t.Errorf("dialog %T %+v", m.dlg, d)
			}
		}},
		{name: "r ignores letters", keys: []string{"r", "x", "backspace", "5"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if d := dlg[*lrDialog](m); d == nil || d.in.val != "5" {
				t.Errorf("dialog %T %+v, want value 5", m.dlg, d)
			}
		}},
		{name: "r esc cancels", keys: []string{"r", "esc"}, check: wantNoDialog},
		{name: "s 1 enter compresses in place", keys: []string{"s", "1", "enter"}, calls: []string{"apply 1 compress 1 fork=false"}, check: wantNoDialog},
		{name: "s f forks", keys: []string{"s", "f", "enter"}, calls: []string{"apply 1 compress 2 fork=true"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if m.wantSel != 101 {
				t.Errorf("the fork is not selected when it appears: wantSel %d", m.wantSel)
			}
		}},
		{name: "s grow", keys: []string{"j", "j", "s", "down", "enter"}, calls: []string{"apply 3 grow 4 fork=false"}},
		{name: "s GQA on chosen layers", keys: []string{"s", "down", "down", "2", "tab", "1", "enter"}, calls: []string{"apply 1 gqa 2 layers=1 fork=false"}},
		{name: "s MEA with GroupNorm", keys: []string{"s", "up", "up", "enter"}, calls: []string{"apply 1 mea +gn fork=false"}},
		{name: "s MEA without GroupNorm", keys: []string{"s", "up", "up", "g", "enter"}, calls: []string{"apply 1 mea fork=false"}},
		{name: "s restart with 8 heads", keys: []string{"s", "up", "enter"}, calls: []string{"restart 1 8"}},
		{name: "s rejects a bad G in place", keys: []string{"s", "down", "down", "3", "enter"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if d := dlg[*surgeryDialog](m); d == nil || !strings.Contains(d.err, "divid") {
				t.Errorf("dialog %T %+v", m.dlg, d)
			}
		}},
		{name: "s rejects a layer that does not exist", keys: []string{"s", "tab", "7", "enter"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if d := dlg[*surgeryDialog](m); d == nil || !strings.Contains(d.err, "layer 7") {
				t.Errorf("dialog %T %+v", m.dlg, d)
			}
		}},
		{name: "s shows the lab's error in place", setup: func(_ *Model, f *fakeLab) { f.fail = errFake }, keys: []string{"s", "enter"},
			calls: []string{"apply 1 compress 2 fork=false"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
				if d := dlg[*surgeryDialog](m); d == nil || d.err != errFake.Error() || d.pending {
					t.Errorf("dialog %T %+v", m.dlg, d)
				}
			}},
		{name: "n enter starts a run from the form", keys: []string{"n", "enter"}, calls: []string{"add mha-5"}, check: wantNoDialog},
		{name: "n changes the variant and name", keys: []string{"n", "backspace", "m", "tab", "right", "right", "right", "right", "right", "enter"}, calls: []string{"add m"}},
		{name: "n rejects heads that do not divide the width", keys: []string{"n", "tab", "tab", "3", "enter"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if d := dlg[*formDialog](m); d == nil || !strings.Contains(d.err, "divisible") {
				t.Errorf("dialog %T %+v", m.dlg, d)
			}
		}},
		{name: "n rejects an empty field", keys: []string{"n", "down", "down", "down", "down", "backspace", "enter"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if d := dlg[*formDialog](m); d == nil || !strings.Contains(d.err, "width") {
				t.Errorf("dialog %T %+v", m.dlg, d)
			}
		}},
		{name: "P enter starts the preset's runs under names not yet taken", keys: []string{"P", "enter"}, calls: []string{"add mha-2", "add mea-2"}, check: wantStatus("started 2 runs from preset quick", false)},
		{name: "P shows a failing Add in place", setup: func(_ *Model, f *fakeLab) { f.fail = errFake }, keys: []string{"P", "enter"},
			calls: []string{"add mha-2"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
				if d := dlg[*presetDialog](m); d == nil || !strings.Contains(d.err, errFake.Error()) {
					t.Errorf("dialog %T %+v", m.dlg, d)
				}
			}},
		{name: "w without a session says saving is unavailable", keys: []string{"w"}, check: wantStatus("unavailable", true)},
		{name: "w saves", setup: func(m *Model, _ *fakeLab) { m.opts.Saver = &fakeSaver{}; m.unsaved = true }, keys: []string{"w"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if m.opts.Saver.(*fakeSaver).n != 1 || m.unsaved || m.status != "session saved" {
				t.Errorf("saves %d unsaved %v status %q", m.opts.Saver.(*fakeSaver).n, m.unsaved, m.status)
			}
		}},
		{name: "w reports a failed save", setup: func(m *Model, _ *fakeLab) { m.opts.Saver = &fakeSaver{err: errors.New("disk full")}; m.unsaved = true },
			keys: []string{"w"}, check: wantStatus("save failed: disk full", true)},
		{name: "q without a session asks", keys: []string{"q"}, check: wantDialog[*confirmDialog]()},
		{name: "q y quits", keys: []string{"q", "y"}, check: wantQuit},
		{name: "q n stays", keys: []string{"q", "n"}, check: wantNoDialog},
		{name: "q when saved quits at once", setup: func(m *Model, _ *fakeLab) { m.opts.Saver = &fakeSaver{}; m.unsaved = false }, keys: []string{"q"}, check: wantQuit},
		{name: "q with a session saves and quits without asking", setup: func(m *Model, _ *fakeLab) { m.opts.Saver = &fakeSaver{}; m.unsaved = true }, keys: []string{"q"},
			check: func(t *testing.T, m *Model, msg tea.Msg) {
				wantQuit(t, m, msg)
				if m.opts.Saver.(*fakeSaver).n != 1 || m.unsaved || m.dlg != nil {
					t.Errorf("saved %d times, unsaved %v, dialog %T; want one save and no question", m.opts.Saver.(*fakeSaver).n, m.unsaved, m.dlg)
				}
			}},
		{name: "q with a session whose save fails stays and says so", setup: func(m *Model, _ *fakeLab) {
			m.opts.Saver = &fakeSaver{err: errors.New("disk full")}
			m.unsaved = true
		}, keys: []string{"q"}, check: func(t *testing.T, m *Model, msg tea.Msg) {
			if _, ok := msg.(tea.QuitMsg); ok || m.status != "save failed: disk full" || !m.unsaved {
				t.Errorf("got %T, status %q, unsaved %v; want to stay with the error shown", msg, m.status, m.unsaved)
			}
		}},
		{name: "ctrl+c twice quits", keys: []string{"ctrl+c", "ctrl+c"}, check: wantQuit},
		{name: "? shows all keys", keys: []string{"?"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if !m.help.ShowAll {
				t.Error("full help not shown")
			}
		}},
		{name: "? then esc closes it", keys: []string{"?", "esc"}, check: func(t *testing.T, m *Model, _ tea.Msg) {
			if m.help.ShowAll {
				t.Error("full help still shown")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := fixtureLab(t)
			m := newTestModel(t, f, 80, 24)
			if c.setup != nil {
				c.setup(m, f)
			}
			msg := keys(t, m, c.keys...)
			var got []string
			for _, call := range f.Calls() {
				if !strings.HasPrefix(call, "mixing") && !strings.HasPrefix(call, "attention") {
					got = append(got, call)
				}
			}
			if !slices.Equal(got, c.calls) {
				t.Errorf("lab calls %q, want %q", got, c.calls)
			}
			if c.check != nil {
				c.check(t, m, msg)
			}
			frame(t, m) // every state must draw
		})
	}
}

func wantChart(ok func(chartState) bool) func(*testing.T, *Model, tea.Msg) {
	return func(t *testing.T, m *Model, _ tea.Msg) {
		if !ok(m.chart) {
			t.Errorf("chart state %+v", m.chart)
		}
	}
}

func wantTab(want tab) func(*testing.T, *Model, tea.Msg) {
	return func(t *testing.T, m *Model, _ tea.Msg) {
		if m.tab != want {
			t.Errorf("tab %d, want %d", m.tab, want)
		}
	}
}

// wantDialog checks that the open dialog is a T.
func wantDialog[T dialog]() func(*testing.T, *Model, tea.Msg) {
	return func(t *testing.T, m *Model, _ tea.Msg) {
		if _, ok := m.dlg.(T); !ok {
			var want T
			t.Errorf("dialog %T, want %T", m.dlg, want)
		}
	}
}

// wantNoDialog checks that no dialog is open.
func wantNoDialog(t *testing.T, m *Model, _ tea.Msg) {
	if m.dlg != nil {
		t.Errorf("dialog %T is still open", m.dlg)
	}
}

// dlg is the open dialog as a T, or a zero T.
func dlg[T dialog](m *Model) T {
	d, _ := m.dlg.(T)
	return d
}

func wantStatus(sub string, isErr bool) func(*testing.T, *Model, tea.Msg) {
	return func(t *testing.T, m *Model, _ tea.Msg) {
		if !strings.Contains(m.status, sub) || m.statusErr != isErr {
			t.Errorf("status %q (error %v), want it to contain %q (error %v)", m.status, m.statusErr, sub, isErr)
		}
	}
}

func wantQuit(t *testing.T, _ *Model, msg tea.Msg) {
	if _, ok := msg.(tea.QuitMsg); !ok {
		t.Errorf("got %T, want tea.QuitMsg", msg)
	}
}

// TestMessages covers every non-key message type.
func TestMessages(t *testing.T) {
	t.Run("updates are taken in at once but drawn at the next tick", func(t *testing.T) {
		f := fixtureLab(t)
		m := newTestModel(t, f, 80, 24)
		before := frame(t, m)
		_, cmd := m.Update(updatesMsg{trainer.Point{Run: 1, Step: 301, Tokens: 301 * 512, Loss: 0.1, TokPerSec: 99999}})
		if cmd == nil {
			t.Fatal("the stream reader was not re-armed")
		}
		if m.st.runs[1].info.Step != 301 || len(m.st.runs[1].points) != 301 {
			t.Fatalf("point not taken in: step %d, %d points", m.st.runs[1].info.Step, len(m.st.runs[1].points))
		}
		if got := m.View().Content; strings.Contains(got, "301/600") {
			t.Error("redrew before the tick")
		}
		m.Update(tickMsg(time.Unix(100, 0)))
		after := frame(t, m)
		if after == before || !strings.Contains(after, "301/600") {
			t.Error("the tick did not redraw the new step")
		}
	})
	t.Run("View only returns the frame Update drew", func(t *testing.T) {
		m := newTestModel(t, fixtureLab(t), 80, 24)
		before := m.View().Content
		m.update(press("x")) // the axis changes, but nothing redraws it yet
		if !m.dirty || m.View().Content != before || !m.dirty || m.frame != before {
			t.Fatal("View drew or changed the model")
		}
		m.Update(press("x"))
		if m.dirty || m.View().Content == before {
			t.Error("Update did not redraw after a key")
		}
	})
	t.Run("the stream reader batches what is waiting", func(t *testing.T) {
		f := newFakeLab()
		for i := 1; i <= 5; i++ {
			f.ch <- trainer.Point{Run: 1, Step: i, Loss: 1}
		}
		msg := exec(t, waitUpdates(f.ch))
		if b, ok := msg.(updatesMsg); !ok || len(b) != 5 {
			t.Fatalf("got %T of %d, want a batch of 5", msg, len(msg.(updatesMsg)))
		}
		close(f.ch)
		if msg := exec(t, waitUpdates(f.ch)); msg != (labClosedMsg{}) {
			t.Fatalf("got %T after close", msg)
		}
	})
	t.Run("a gap in the stream is filled from History at a tick", func(t *testing.T) {
		f := fixtureLab(t)
		m := New(f, Options{NoColor: true})
		m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		m.Update(updatesMsg{f.infos[0], trainer.Point{Run: 1, Step: 1, Loss: 3}, trainer.Point{Run: 1, Step: 50, Loss: 2}})
		if !m.st.runs[1].gap {
			t.Fatal("gap not noticed")
		}
		_, cmd := m.Update(tickMsg(time.Unix(100, 0)))
		var hm historyMsg
		for _, c := range batchCmds(cmd) {
			if c == nil {
				continue
			}
			done := make(chan tea.Msg, 1)
			go func() { done <- c() }()
			select {
			case msg := <-done:
				if h, ok := msg.(historyMsg); ok {
					hm = h
				}
			case <-time.After(300 * time.Millisecond): // the frame tick
			}
		}
		if hm.hist == nil {
			t.Fatal("no History fetched")
		}
		m.Update(hm)
		if r := m.st.runs[1]; r.gap || len(r.points) != 300 {
			t.Errorf("after History: gap %v, %d points, want 300", r.gap, len(r.points))
		}
	})
	t.Run("lab closed", func(t *testing.T) {
		m := newTestModel(t, fixtureLab(t), 80, 24)
		m.Update(labClosedMsg{})
		if !m.closed || !strings.Contains(frame(t, m), "the lab has closed") {
			t.Error("closing not shown")
		}
	})
	t.Run("an action error outside a dialog goes to the status line", func(t *testing.T) {
		m := newTestModel(t, fixtureLab(t), 80, 24)
		m.Update(actionMsg{kind: "pause", run: 1, err: errors.New("run mha is done and cannot be paused")})
		if !m.statusErr || !strings.Contains(frame(t, m), "pause failed: run mha is done") {
			t.Errorf("status %q", m.status)
		}
	})
	t.Run("a fork is selected when it appears", func(t *testing.T) {
		f := fixtureLab(t)
		m := newTestModel(t, f, 80, 24)
		m.Update(actionMsg{kind: "surgery", run: 2, newRun: 9})
		m.Update(updatesMsg{trainer.RunInfo{ID: 9, Name: "mea>svd1", Parent: 2, Spec: f.infos[1].Spec}})
		if m.selID != 9 {
			t.Errorf("selected %d, want 9", m.selID)
		}
	})
	t.Run("the heads poll runs at most once a second while visible", func(t *testing.T) {
		m := newTestModel(t, fixtureLab(t), 80, 24)
		_, cmd := m.Update(tickMsg(time.Unix(10, 0)))
		if len(batchCmds(cmd)) != 1 {
			t.Errorf("overview tick made %d cmds, want only the next tick", len(batchCmds(cmd)))
		}
		m.tab = tabHeads
		m.Update(tickMsg(time.Unix(11, 0)))
		if !m.heads.inflight {
			t.Fatal("no poll on the heads tab")
		}
		m.Update(headsMsg{run: 1, mixErr: errors.New("x"), attnErr: errors.New("y")})
		m.Update(tickMsg(time.Unix(11, 500_000_000)))
		if m.heads.inflight {
			t.Error("polled again within a second")
		}
		m.Update(tickMsg(time.Unix(12, 100_000_000)))
		if !m.heads.inflight {
			t.Error("did not poll after a second")
		}
	})
	t.Run("a status message fades after a while", func(t *testing.T) {
		m := newTestModel(t, fixtureLab(t), 80, 24)
		m.Update(tickMsg(time.Unix(100, 0)))
		m.Update(actionMsg{kind: "pause", run: 1})
		if m.status != "paused mha" {
			t.Fatalf("status %q", m.status)
		}
		m.Update(tickMsg(time.Unix(105, 0)))
		if m.status == "" {
			t.Error("faded after 5 s")
		}
		m.Update(tickMsg(time.Unix(111, 0)))
		if m.status != "" {
			t.Errorf("still %q after 11 s", m.status)
		}
	})
	t.Run("resize redraws", func(t *testing.T) {
		m := newTestModel(t, fixtureLab(t), 80, 24)
		m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
		if len(strings.Split(m.View().Content, "\n")) != 30 {
			t.Error("resize not drawn")
		}
	})
	t.Run("colour profile without colour switches the theme off", func(t *testing.T) {
		m := New(fixtureLab(t), Options{})
		if !m.th.color {
			t.Fatal("colour should start on")
		}
		m.Update(tea.ColorProfileMsg{Profile: 2})
		if m.th.color {
			t.Error("colour still on after an ASCII profile")
		}
	})
}

// batchCmds unpacks a tea.Batch without running its members.
func batchCmds(cmd tea.Cmd) []tea.Cmd {
	if cmd == nil {
		return nil
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		if b, ok := msg.(tea.BatchMsg); ok {
			return b
		}
		return []tea.Cmd{func() tea.Msg { return msg }}
	case <-time.After(300 * time.Millisecond):
		return []tea.Cmd{cmd} // a lone tick
	}
}

func TestFormDeviceToggle(t *testing.T) {
	m := newTestModel(t, newFakeLab(), 80, 24)
	keys(t, m, "n")
	for range 8 {
		keys(t, m, "tab")
	}
	keys(t, m, "right")
	f := dlg[*formDialog](m)
	if f == nil || f.device != 1 || f.spec.Device != "cuda" {
		t.Fatalf("device field: %+v; want cuda after → on the device row", f)
	}
	keys(t, m, "space")
	if f.spec.Device != "cpu" {
		t.Fatalf("space should toggle back to cpu, got %q", f.spec.Device)
	}
}

package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/trainer"
)

// TestHostKeysReadOnlyDetach: a host's key runs its Do with the selected
// run and reports in the status line; a read-only UI refuses keys that
// change the lab without calling it; Detach quits at once.
func TestHostKeysReadOnlyDetach(t *testing.T) {
	f := fixtureLab(t)
	var got trainer.RunID
	m := newTestModel(t, f, 100, 30, func(o *Options) {
		o.ReadOnly = "read-only: someone else's lab"
		o.Detach = true
		o.HostLine = func() string { return "share 42%" }
		o.HostKeys = []HostKey{{Key: "T", Help: "take", Do: func(id trainer.RunID) (string, bool, error) {
			got = id
			return "took it", false, nil
		}}}
	})
	keys(t, m, "j", "T")
	if got != 2 {
		t.Fatalf("Do got run %d, want the selected run 2", got)
	}
	fr := frame(t, m)
	for _, want := range []string{"took it", "T take", "share 42%"} {
		if !strings.Contains(fr, want) {
			t.Fatalf("frame lacks %q:\n%s", want, fr)
		}
	}
	for _, k := range []string{"p", "X", "D", "r", "s", "n", "P", "w"} {
		keys(t, m, k)
		if m.dlg != nil {
			t.Fatalf("key %q in a read-only UI opened a dialog (%T)", k, m.dlg)
		}
		if !strings.Contains(frame(t, m), "read-only: someone else's lab") {
			t.Fatalf("key %q was not refused with the read-only text", k)
		}
	}
	var changing []string
	for _, c := range f.Calls() {
		if !strings.HasPrefix(c, "mixing") && !strings.HasPrefix(c, "attention") {
			changing = append(changing, c)
		}
	}
	if len(changing) != 0 {
		t.Fatalf("a read-only UI called the lab: %q", changing)
	}
	if strings.Contains(frame(t, m), "p pause") {
		t.Fatal("the help bar offers pause in a read-only UI")
	}
	if _, ok := keys(t, m, "q").(tea.QuitMsg); !ok {
		t.Fatal("q with Detach did not quit at once")
	}
}

// TestFrameGate: new data redraws only when the host's budget allows; a
// key press redraws regardless.
func TestFrameGate(t *testing.T) {
	f := fixtureLab(t)
	allow := false
	m := newTestModel(t, f, 100, 30, func(o *Options) { o.FrameGate = func() bool { return allow } })
	m.View()
	n := m.frames
	m.Update(updatesMsg{trainer.Point{Run: 1, Step: 301, Loss: 0.5}})
	m.Update(tickMsg(time.Now()))
	if m.frames != n {
		t.Fatal("redrew for new data without a frame from the budget")
	}
	allow = true
	m.Update(tickMsg(time.Now()))
	if m.frames != n+1 {
		t.Fatal("did not redraw when the budget allowed")
	}
	allow = false
	m.Update(press("j"))
	if m.frames != n+2 {
		t.Fatal("a key press waited for the frame budget")
	}
}

package serve

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/mealab/mealab/trainer"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// classPeople is a class as People returns it: a student with two runs,
// one with six (one name too long, one diverged), a guest with none, the
// teacher.
func classPeople() []Person {
	return []Person{
		{Name: "alice", Conns: 1, Runs: 2, Running: 1, Share: 0.31, Steps: 2040, Connections: []string{"127.0.0.1:50312"},
			RunList: []RunBrief{
				{Name: "mha", State: trainer.Running, Step: 120, Steps: 400, Loss: 2.9143},
				{Name: "mea", State: trainer.Paused, Step: 80, Steps: 400, Loss: 3.0201},
			}},
		{Name: "bob", Conns: 2, Runs: 6, Running: 2, Share: 0.42, Steps: 5311, Connections: []string{"127.0.0.1:50320", "127.0.0.1:50388"},
			RunList: []RunBrief{
				{Name: "teacher.mha-with-a-name-longer-than-the-column", State: trainer.Running, Step: 1500, Steps: 20000, Loss: 2.5},
				{Name: "hot", State: trainer.Diverged, Step: 57, Steps: 400, Loss: math.NaN(), DivergedAt: 57},
				{Name: "mea", State: trainer.Done, Step: 400, Steps: 400, Loss: 1.9876},
				{Name: "gqa", State: trainer.Stopped, Step: 33, Steps: 400, Loss: 3.3},
				{Name: "mqa", State: trainer.Running, Step: 0, Steps: 400},
				{Name: "mla", State: trainer.Paused, Step: 10, Steps: 400, Loss: 4.1},
			}},
		{Name: "carol-with-a-long-key-comment", Conns: 1, Share: 0.0, Connections: []string{"127.0.0.1:50400"},
			RunList: []RunBrief{{Name: "mea", State: trainer.Paused, Step: 0, Steps: 400}}},
		{Name: "guest-3f2a9c1d", Guest: true, Conns: 1, Connections: []string{"192.168.10.77:61234"}},
		{Name: "teacher", Followable: true, Conns: 1, Runs: 1, Running: 1, Share: 0.27, Steps: 1800, Connections: []string{"10.1.2.3:40022"},
			RunList: []RunBrief{{Name: "mha", State: trainer.Running, Step: 300, Steps: 400, Loss: 2.2}}},
	}
}

// adminModel is the admin view's list over people, sized w x h.
func adminModel(people *[]Person, w, h int) *listModel {
	m := &listModel{title: "Classroom: who is here", head: adminHead, help: "↑↓ choose · k kick · f follow · esc back to my lab",
		onKey: func(string, string) (string, bool) { return "", false }}
	m.rows = func() ([]string, []string) { return adminRows(*people, m.w) }
	m.Init()
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

// listFrame renders m and checks it fits: at most h lines, none wider than w.
func listFrame(t *testing.T, m *listModel) string {
	t.Helper()
	plain := ansi.Strip(m.View().Content)
	lines := strings.Split(plain, "\n")
	if len(lines) > m.h {
		t.Errorf("frame has %d lines, more than %d", len(lines), m.h)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > m.w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i, w, m.w, l)
		}
	}
	return plain
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	var b strings.Builder
	for _, l := range strings.Split(got, "\n") {
		b.WriteString(strings.TrimRight(l, " ") + "\n")
	}
	got = b.String()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./serve -run Golden -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./serve -run Golden -update rewrites it; look at the diff first):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestAdminViewGolden: each person's runs with state and step/steps under
// their row, the first three and "+N more", long names and addresses cut
// with an ellipsis at 80 columns, shown whole at 160.
func TestAdminViewGolden(t *testing.T) {
	people := classPeople()
	for _, sz := range []struct {
		name string
		w, h int
	}{{"admin_80x24", 80, 24}, {"admin_160x40", 160, 40}} {
		m := adminModel(&people, sz.w, sz.h)
		got := listFrame(t, m)
		squeezed := strings.Join(strings.Fields(got), " ")
		for _, want := range []string{"> alice", "mha running 120/400 loss 2.914", "mea paused 80/400 loss 3.020", "hot diverged 57/400 at step 57",
			"+3 more", "guest-3f2a9c1d", "teacher", "carol-with-a-long-k…     1     0        0      0%         0 from 127.0"} {
			if !strings.Contains(squeezed, strings.Join(strings.Fields(want), " ")) {
				t.Errorf("%s: no %q in\n%s", sz.name, want, got)
			}
		}
		if strings.Contains(got, "gqa") || strings.Contains(got, "mla") {
			t.Errorf("%s: runs past the third are shown:\n%s", sz.name, got)
		}
		golden(t, sz.name, got)
	}
	if got := listFrame(t, adminModel(&people, 80, 24)); !strings.Contains(got, "teacher.mha-with-a-name-longer-than-th… running") || strings.Contains(got, "127.0.0.1:50388") {
		t.Errorf("at 80 columns the long run name and the addresses are not cut with an ellipsis:\n%s", got)
	}
	if got := listFrame(t, adminModel(&people, 160, 40)); !strings.Contains(got, "from 127.0.0.1:50320, 127.0.0.1:50388") || !strings.Contains(got, "teacher.mha-with-a-name-longer-than-the-column running") {
		t.Errorf("at 160 columns the addresses and run names are not shown whole:\n%s", got)
	}
	// A resize lays the lines out again at once (not at the next refresh).
	m := adminModel(&people, 80, 24)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 40})
	if got := listFrame(t, m); !strings.Contains(got, "teacher.mha-with-a-name-longer-than-the-column running") {
		t.Errorf("after a resize to 160 columns the run names are still cut:\n%s", got)
	}
	// Short names only: a narrow name column.
	short := people[:1]
	if got := listFrame(t, adminModel(&short, 160, 40)); !strings.Contains(got, "      mha      running") {
		t.Errorf("the name column is wider than the names:\n%s", got)
	}
}

// TestAdminCursor: ↑↓ move from person to person over their run lines (the
// order the e2e script relies on), the cursor stays on its person when the
// lines under earlier people change, and k acts on the person under it.
func TestAdminCursor(t *testing.T) {
	people := classPeople()
	m := adminModel(&people, 100, 40)
	var kicked string
	m.onKey = func(k, row string) (string, bool) {
		if k == "k" {
			kicked = row
		}
		return "", false
	}
	down := tea.KeyPressMsg{Code: tea.KeyDown}
	up := tea.KeyPressMsg{Code: tea.KeyUp}
	var seen []string
	for range 6 {
		seen = append(seen, m.selected())
		m.Update(down)
	}
	if m.selected() != "teacher" {
		t.Fatalf("down past the last person left it: on %q", m.selected())
	}
	if got := strings.Join(seen, ","); got != "alice,bob,carol-with-a-long-key-comment,guest-3f2a9c1d,teacher,teacher" {
		t.Fatalf("down went through %s", got)
	}
	m.Update(up)
	m.Update(up)
	m.Update(up)
	if m.selected() != "bob" || !strings.Contains(listFrame(t, m), "> bob") {
		t.Fatalf("up three times from teacher is on %q", m.selected())
	}
	// alice starts two more runs: bob's row moves down, the cursor with it.
	people[0].RunList = append(people[0].RunList, RunBrief{Name: "x", State: trainer.Running, Steps: 9}, RunBrief{Name: "y", State: trainer.Running, Steps: 9})
	m.Update(refreshMsg{})
	if m.selected() != "bob" || !strings.Contains(listFrame(t, m), "> bob") {
		t.Fatalf("after a refresh the cursor is on %q", m.selected())
	}
	m.Update(tea.KeyPressMsg{Code: 'k', Text: "k"})
	if kicked != "bob" {
		t.Fatalf("k acted on %q", kicked)
	}
	// A person who left: the cursor goes to a person, never a run line.
	people = people[2:]
	m.Update(refreshMsg{})
	if m.selected() == "" {
		t.Fatalf("after bob left the cursor is on line %d, not a person", m.cur)
	}
}

// TestAdminScrolls: a class taller than the terminal scrolls to keep the
// cursor's person and their runs in view, and the frame never overflows.
func TestAdminScrolls(t *testing.T) {
	var people []Person
	for _, n := range []string{"p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09", "p10", "p11", "p12"} {
		people = append(people, Person{Name: n, Runs: 2, RunList: []RunBrief{{Name: n + "-a", State: trainer.Running, Steps: 10}, {Name: n + "-b", State: trainer.Paused, Steps: 10}}})
	}
	m := adminModel(&people, 80, 24)
	for range 11 {
		m.Update(tea.KeyPressMsg{Code: tea.KeyDown})
		got := listFrame(t, m)
		sel := m.selected()
		if !strings.Contains(got, "> "+sel) || !strings.Contains(got, sel+"-b") {
			t.Fatalf("cursor on %s, not in view with its runs:\n%s", sel, got)
		}
	}
	if got := listFrame(t, m); !strings.Contains(got, "below") && !strings.Contains(got, "above") {
		t.Fatalf("no note that lines are hidden:\n%s", got)
	}
}

// TestAdminShowsRuns: over SSH, the teacher's admin view lists a student's
// runs by name with their state and step/steps, and shows a pause.
func TestAdminShowsRuns(t *testing.T) {
	ts := startServer(t, nil)
	openScreen(t, ts.dial(t, "alice"), "", 100, 30).waitFor(t, "alice's lab", 10*time.Second)
	u := ts.lookupUser("alice")
	waitUntil(t, "alice's runs to step", 20*time.Second, func() bool { return totalSteps(u) > 0 })
	var mea trainer.RunID
	for _, in := range u.lab.Runs() {
		if in.Name == "mea" {
			mea = in.ID
		}
	}
	if err := u.lab.Pause(mea); err != nil {
		t.Fatal(err)
	}
	admin := openScreen(t, ts.dial(t, "teacher"), "admin", 100, 30)
	admin.waitFor(t, "Classroom: who is here", 10*time.Second)
	// alice's row, then her runs (the teacher's own lab comes after hers).
	// The text is the client's stream without escapes: the renderer moves
	// the cursor instead of writing spaces, so spaces are optional here.
	want := regexp.MustCompile(`alice[^\n]*\n[ >]*mha *running *\d+/100000[^\n]*\n[ >]*mea *paused *\d+/100000`)
	deadline := time.Now().Add(10 * time.Second)
	for !want.MatchString(admin.text()) {
		if time.Now().After(deadline) {
			t.Fatalf("the admin view never showed alice's runs with their states; it showed:\n%s", tail(admin.text(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package serve

import (
	"fmt"
	"math"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/mealab/mealab/trainer"
)

// listModel is the small screen behind the follow picker and the admin
// view: a title, lines that refresh every second, a cursor and keys. A
// line with an empty key (a detail under a row) is shown but the cursor
// skips it; the cursor stays on the same key when the lines refresh. The
// lines scroll to keep the cursor in view, and every line is cut to the
// terminal width with an ellipsis.
type listModel struct {
	title  string
	head   string // a column header under the title, not scrolled
	help   string
	rows   func() ([]string, []string) // lines shown, and the key of each
	onKey  func(key, row string) (status string, quit bool)
	status string

	lines, keys []string
	cur, top    int // the cursor's line, and the first line shown
	w, h        int
	confirm     string // a question awaiting y
	pending     func() string
}

type refreshMsg struct{}

func refresh() tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return refreshMsg{} })
}

func (m *listModel) Init() tea.Cmd {
	m.load()
	return refresh()
}

// load reads the lines again, keeping the cursor on the key it was on.
func (m *listModel) load() {
	was := m.selected()
	m.lines, m.keys = m.rows()
	if was != "" {
		for i, k := range m.keys {
			if k == was {
				m.cur = i
				return
			}
		}
	}
	m.cur = min(m.cur, max(len(m.keys)-1, 0))
	if !m.selectable(m.cur) {
		if i := m.next(m.cur, 1); i != m.cur {
			m.cur = i
		} else {
			m.cur = m.next(m.cur, -1)
		}
	}
}

func (m *listModel) selectable(i int) bool { return i >= 0 && i < len(m.keys) && m.keys[i] != "" }

// selected is the key under the cursor ("" when none).
func (m *listModel) selected() string {
	if m.selectable(m.cur) {
		return m.keys[m.cur]
	}
	return ""
}

// next is the nearest selectable line from i in direction d (i when none).
func (m *listModel) next(i, d int) int {
	for j := i + d; j >= 0 && j < len(m.keys); j += d {
		if m.keys[j] != "" {
			return j
		}
	}
	return i
}

func (m *listModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		m.load() // the lines may be laid out for the width
	case refreshMsg:
		m.load()
		return m, refresh()
	case tea.KeyPressMsg:
		k := msg.String()
		if m.confirm != "" {
			if k == "y" && m.pending != nil {
				m.status = m.pending()
				m.load()
			} else {
				m.status = "cancelled"
			}
			m.confirm, m.pending = "", nil
			return m, nil
		}
		switch k {
		case "up":
			m.cur = m.next(m.cur, -1)
			return m, nil
		case "down":
			m.cur = m.next(m.cur, 1)
			return m, nil
		case "ctrl+c":
			return m, tea.Quit
		}
		st, quit := m.onKey(k, m.selected())
		if st != "" {
			m.status = st
		}
		if quit {
			return m, tea.Quit
		}
	}
	return m, nil
}

// ask puts a yes/no question; do runs on y.
func (m *listModel) ask(q string, do func() string) {
	m.confirm, m.pending = q, do
}

// listChrome is the number of lines around the list: title, blank, blank
// (or the scroll note), status, help.
const listChrome = 5

func (m *listModel) View() tea.View {
	var b strings.Builder
	b.WriteString(m.title + "\n")
	avail := m.h - listChrome
	if m.head != "" {
		b.WriteString("  " + m.head + "\n")
		avail--
	} else {
		b.WriteString("\n")
	}
	from, to := 0, len(m.lines)
	if m.h > 0 && avail > 0 && len(m.lines) > avail {
		// Keep the cursor in view, and the lines under it up to the next row.
		end := m.cur + 1
		for end < len(m.lines) && !m.selectable(end) {
			end++
		}
		m.top = min(m.top, m.cur)
		if end-m.top > avail {
			m.top = max(end-avail, 0)
		}
		if m.cur >= m.top+avail {
			m.top = m.cur
		}
		m.top = min(m.top, len(m.lines)-avail)
		from, to = m.top, m.top+avail
	} else {
		m.top = 0
	}
	for i := from; i < to; i++ {
		mark := "  "
		if i == m.cur && m.selectable(i) {
			mark = "> "
		}
		b.WriteString(mark + m.lines[i] + "\n")
	}
	if len(m.lines) == 0 {
		b.WriteString("  (no one)\n")
	}
	if from > 0 || to < len(m.lines) {
		fmt.Fprintf(&b, "  (%d lines above, %d below; ↑↓ moves)\n", from, len(m.lines)-to)
	} else {
		b.WriteString("\n")
	}
	switch {
	case m.confirm != "":
		b.WriteString(m.confirm + " (y/n)\n")
	case m.status != "":
		b.WriteString(m.status + "\n")
	default:
		b.WriteString("\n")
	}
	b.WriteString(m.help)
	lines := strings.Split(b.String(), "\n")
	if m.h > 0 && len(lines) > m.h {
		lines = lines[:m.h]
	}
	for i, l := range lines {
		if m.w > 0 && ansi.StringWidth(l) > m.w {
			lines[i] = ansi.Truncate(l, m.w, "…")
		}
	}
	v := tea.NewView(strings.Join(lines, "\n"))
	v.AltScreen = true
	return v
}

// pickScreen lists the labs u may follow.
func (s *Server) pickScreen(u *user) screen { return s.pickScreenNote(u, "") }

func (s *Server) pickScreenNote(u *user, note string) screen {
	return func(t *term) screen {
		var next screen
		m := &listModel{
			title:  "Follow someone's lab (read-only; T there takes a copy of a run)",
			help:   "↑↓ choose · enter follow · esc back to my lab",
			status: note,
		}
		m.rows = func() ([]string, []string) {
			var lines, keys []string
			for _, p := range s.People() {
				if p.Name == u.name || !p.Followable {
					continue
				}
				lines = append(lines, fmt.Sprintf("%-20s %d runs, %d running", p.Name, p.Runs, p.Running))
				keys = append(keys, p.Name)
			}
			return lines, keys
		}
		m.onKey = func(k, row string) (string, bool) {
			switch k {
			case "enter":
				if row == "" {
					return "no one to follow yet", false
				}
				next = s.followScreen(u, row, false)
				return "", true
			case "esc", "b", "q":
				next = s.ownScreen(u)
				return "", true
			}
			return "", false
		}
		_ = t.run(m)
		return next
	}
}

// adminScreen is the teacher's view of the class: who is connected, their
// runs, their share of the machine; k kicks.
func (s *Server) adminScreen(u *user) screen {
	return func(t *term) screen {
		if !u.teacher {
			s.log.Info("refused", "why", "admin", "user", u.name)
			_, _ = t.sess.Stderr().Write([]byte("mealab: the admin view is the teacher's (" + s.cfg.Teacher + ")\r\n"))
			t.exitCode = 1
			return nil
		}
		var next screen
		m := &listModel{
			title: "Classroom: who is here",
			head:  adminHead,
			help:  "↑↓ choose · k kick · f follow · esc back to my lab",
		}
		m.rows = func() ([]string, []string) { return adminRows(s.People(), m.w) }
		m.onKey = func(k, row string) (string, bool) {
			switch k {
			case "k":
				if row == "" {
					return "choose a person (↑↓)", false
				}
				if row == u.name {
					return "that is you", false
				}
				m.ask("Kick "+row+"? (their lab stays; a guest's is dropped)", func() string {
					n := s.kick(row, u.name)
					return fmt.Sprintf("kicked %s (%d connections)", row, n)
				})
				return "", false
			case "f":
				if row == "" || row == u.name {
					return "choose someone else (↑↓)", false
				}
				next = s.followScreen(u, row, false)
				return "", true
			case "esc", "b", "q":
				next = s.ownScreen(u)
				return "", true
			}
			return "", false
		}
		_ = t.run(m)
		return next
	}
}

// adminRunsShown is how many of a person's runs the admin view lists; the
// rest are counted in a "+N more" line.
const adminRunsShown = 3

// adminRunName is the widest the run name column can be in a terminal w
// cells wide (0: not known yet): what the rest of a run's line leaves,
// within 12 to 64 cells (a run name is at most 64 characters).
func adminRunName(w int) int {
	if w <= 0 {
		return 24
	}
	return min(max(w-runLineRest, 12), 64)
}

// runLineRest is what a run's line takes besides the name: the cursor
// column, the indent, state, step/steps and "loss 1.234".
const runLineRest = 2 + 4 + 1 + 8 + 1 + 13 + 2 + 10

var adminHead = fmt.Sprintf("%-20s %5s %5s %8s %7s %9s %s", "person", "conns", "runs", "running", "CPU", "steps", "")

// adminRows lays the class out for the admin view: a row per person (the
// cursor's rows, keyed by name; the columns of adminHead, then their
// addresses) and under it their first runs, each with its state and
// step/steps, then "+N more" for the rest. Run names get the width the
// terminal (w cells) leaves them.
func adminRows(people []Person, w int) (lines, keys []string) {
	// One name column for all: as wide as the longest name shown, within
	// what the terminal leaves.
	nameW := 8
	for _, p := range people {
		for i, r := range p.RunList {
			if i == adminRunsShown && len(p.RunList) > adminRunsShown+1 {
				break
			}
			nameW = max(nameW, ansi.StringWidth(r.Name))
		}
	}
	nameW = min(nameW, adminRunName(w))
	for _, p := range people {
		var tag []string
		if p.Guest {
			tag = append(tag, "guest")
		}
		if p.Followable {
			tag = append(tag, "followable")
		}
		if len(p.Connections) > 0 {
			tag = append(tag, "from "+strings.Join(p.Connections, ", "))
		}
		lines = append(lines, fmt.Sprintf("%s %5d %5d %8d %6.0f%% %9d %s", fitCell(p.Name, 20), p.Conns, p.Runs, p.Running, 100*p.Share, p.Steps, strings.Join(tag, " · ")))
		keys = append(keys, p.Name)
		for i, r := range p.RunList {
			if i == adminRunsShown && len(p.RunList) > adminRunsShown+1 {
				lines = append(lines, fmt.Sprintf("    +%d more", len(p.RunList)-adminRunsShown))
				keys = append(keys, "")
				break
			}
			lines = append(lines, "    "+runBrief(r, nameW))
			keys = append(keys, "")
		}
	}
	return lines, keys
}

// runBrief is one run's line: name, state, step/steps, and the loss at
// that step (or where it diverged).
func runBrief(r RunBrief, nameWidth int) string {
	name := fitCell(r.Name, nameWidth)
	last := ""
	switch {
	case r.State == trainer.Diverged && r.DivergedAt > 0:
		last = fmt.Sprintf("at step %d", r.DivergedAt)
	case r.Step > 0 && !math.IsNaN(r.Loss) && !math.IsInf(r.Loss, 0):
		last = fmt.Sprintf("loss %.3f", r.Loss)
	}
	return strings.TrimRight(fmt.Sprintf("%s %-8s %13s  %s", name, r.State, fmt.Sprintf("%d/%d", r.Step, r.Steps), last), " ")
}

// fitCell is s in exactly w cells: cut with an ellipsis, or padded.
func fitCell(s string, w int) string {
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-ansi.StringWidth(s))
}

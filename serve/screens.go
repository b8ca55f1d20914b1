package serve

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
)

// listModel is the small screen behind the follow picker and the admin
// view: a title, lines that refresh every second, a cursor and keys.
type listModel struct {
	title  string
	help   string
	rows   func() ([]string, []string) // lines shown, and the key of each
	onKey  func(key, row string) (status string, quit bool)
	status string

	lines, keys []string
	cur         int
	w, h        int
	confirm     string // a question awaiting y
	pending     func() string
}

type refreshMsg struct{}

func refresh() tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return refreshMsg{} })
}

func (m *listModel) Init() tea.Cmd {
	m.lines, m.keys = m.rows()
	return refresh()
}

func (m *listModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
	case refreshMsg:
		m.lines, m.keys = m.rows()
		m.cur = min(m.cur, max(len(m.keys)-1, 0))
		return m, refresh()
	case tea.KeyPressMsg:
		k := msg.String()
		if m.confirm != "" {
			if k == "y" && m.pending != nil {
				m.status = m.pending()
				m.lines, m.keys = m.rows()
			} else {
				m.status = "cancelled"
			}
			m.confirm, m.pending = "", nil
			return m, nil
		}
		switch k {
		case "up":
			m.cur = max(m.cur-1, 0)
			return m, nil
		case "down":
			m.cur = min(m.cur+1, max(len(m.keys)-1, 0))
			return m, nil
		case "ctrl+c":
			return m, tea.Quit
		}
		row := ""
		if m.cur < len(m.keys) {
			row = m.keys[m.cur]
		}
		st, quit := m.onKey(k, row)
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

func (m *listModel) View() tea.View {
	var b strings.Builder
	b.WriteString(m.title + "\n\n")
	for i, l := range m.lines {
		mark := "  "
		if i == m.cur && i < len(m.keys) && m.keys[i] != "" {
			mark = "> "
		}
		b.WriteString(mark + l + "\n")
	}
	if len(m.lines) == 0 {
		b.WriteString("  (no one)\n")
	}
	b.WriteString("\n")
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
		if m.w > 0 && len(l) > m.w {
			lines[i] = l[:m.w]
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
			help:  "↑↓ choose · k kick · f follow · esc back to my lab",
		}
		m.rows = func() ([]string, []string) {
			lines := []string{fmt.Sprintf("%-20s %5s %5s %8s %7s %9s %s", "person", "conns", "runs", "running", "CPU", "steps", "")}
			keys := []string{""}
			for _, p := range s.People() {
				tag := ""
				if p.Guest {
					tag = "guest"
				}
				if p.Followable {
					tag = strings.TrimSpace(tag + " followable")
				}
				lines = append(lines, fmt.Sprintf("%-20s %5d %5d %8d %6.0f%% %9d %s", p.Name, p.Conns, p.Runs, p.Running, 100*p.Share, p.Steps, tag))
				keys = append(keys, p.Name)
			}
			return lines, keys
		}
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
		m.cur = 1
		_ = t.run(m)
		return next
	}
}

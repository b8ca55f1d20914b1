package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/trainer"
)

// HostKey is a key that the program embedding the UI adds (the classroom
// server: follow someone, take a run, the admin view).
type HostKey struct {
	Key  string // as Bubble Tea names it, e.g. "F" or "ctrl+t"
	Help string // what it does, for the help bar and ?
	// Do runs inside a tea.Cmd with the selected run (0 when there is
	// none). Its text (or error) goes to the status line; quit ends the
	// program afterwards (the host then shows another screen).
	Do func(sel trainer.RunID) (text string, quit bool, err error)
}

// hostMsg is what a HostKey's Do returned.
type hostMsg struct {
	key, text string
	quit      bool
	err       error
}

// hostBindings returns the help bindings of the host keys.
func (m *Model) hostBindings() []key.Binding {
	var out []key.Binding
	for _, hk := range m.opts.HostKeys {
		if hk.Help != "" { // a key the host only takes away has no help
			out = append(out, key.NewBinding(key.WithKeys(hk.Key), key.WithHelp(hk.Key, hk.Help)))
		}
	}
	return out
}

// readOnlyKeys are the keys that change a lab; a read-only UI refuses them
// with Options.ReadOnly instead of opening their dialogs.
func (m *Model) readOnlyKeys() []key.Binding {
	k := m.keys
	return []key.Binding{k.Pause, k.Stop, k.Remove, k.LR, k.Surgery, k.New, k.Preset, k.Save, k.SavePreset}
}

// hostKey handles a key in normal mode before the UI's own keys: host keys
// first, then the read-only guard. ok reports that the key was taken.
func (m *Model) hostKey(k tea.KeyPressMsg) (tea.Cmd, bool) {
	for _, hk := range m.opts.HostKeys {
		if k.String() != hk.Key || hk.Do == nil {
			continue
		}
		var sel trainer.RunID
		if r := m.selected(); r != nil {
			sel = r.info.ID
		}
		do, name := hk.Do, hk.Key
		return func() tea.Msg {
			text, quit, err := do(sel)
			return hostMsg{key: name, text: text, quit: quit, err: err}
		}, true
	}
	if m.opts.ReadOnly != "" {
		for _, b := range m.readOnlyKeys() {
			if is(k, b) {
				m.setStatus(m.opts.ReadOnly, true)
				return nil, true
			}
		}
	}
	return nil, false
}

func (m *Model) onHost(msg hostMsg) tea.Cmd {
	m.dirty = true
	switch {
	case msg.err != nil:
		m.setStatus(msg.err.Error(), true)
	case msg.text != "":
		m.setStatus(msg.text, false)
	}
	if msg.quit {
		return tea.Quit
	}
	return nil
}

// hostLine is the host's line for the header (share of the machine, who
// follows), or "".
func (m *Model) hostLine() string {
	if m.opts.HostLine == nil {
		return ""
	}
	return m.opts.HostLine()
}

// hostHelp puts the host's keys first in the help bar and, when read-only,
// leaves out the keys that would change the lab.
func (m *Model) hostHelp(short []key.Binding) []key.Binding {
	out := m.hostBindings()
	for _, b := range short {
		keep := true
		for _, hk := range m.opts.HostKeys {
			if len(b.Keys()) > 0 && b.Keys()[0] == hk.Key {
				keep = false // the host took this key over
			}
		}
		if m.opts.ReadOnly != "" {
			for _, ro := range m.readOnlyKeys() {
				if len(b.Keys()) > 0 && len(ro.Keys()) > 0 && b.Keys()[0] == ro.Keys()[0] {
					keep = false
				}
			}
		}
		if keep {
			out = append(out, b)
		}
	}
	return out
}

// Notice puts text on the status line, as if an action had reported it (a
// host's message when a screen opens).
func (m *Model) Notice(text string, isErr bool) { m.setStatus(text, isErr) }

// frameAllowed asks the host's frame budget, if any, for a redraw.
func (m *Model) frameAllowed() bool {
	return m.opts.FrameGate == nil || m.opts.FrameGate()
}

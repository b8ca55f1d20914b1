package tui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// presetDialog starts every run of a preset beside the current ones.
type presetDialog struct {
	names []string
	descs []string
	cur   int
	// builtin limits the picker to the built-in presets (no files read).
	builtin bool
	callState
}

func newPresetDialog(names []string, builtin bool) *presetDialog {
	p := &presetDialog{callState: callState{kind: "preset"}, builtin: builtin}
	p.names, p.descs = presetChoices(names, builtin) // presetfile.go
	return p
}

func (p *presetDialog) key(k tea.KeyPressMsg, e env) (tea.Cmd, bool) {
	switch s := k.String(); {
	case is(k, e.keys.Esc):
		return nil, true
	case p.pending:
	case s == "up" || s == "k":
		p.cur = max(p.cur-1, 0)
		p.err = ""
	case s == "down" || s == "j":
		p.cur = min(p.cur+1, len(p.names)-1)
		p.err = ""
	case is(k, e.keys.Enter) && len(p.names) > 0:
		name := p.names[p.cur]
		over, lab, builtin := e.opts.Overrides, e.lab, p.builtin
		taken := map[string]bool{}
		for _, r := range e.st.list() {
			taken[r.info.Name] = true
		}
		p.pending = true
		return func() tea.Msg {
			specs, err := expandForLab(name, over, builtin) // presetfile.go
			if err != nil {
				return actionMsg{kind: "preset", err: err}
			}
			for i := range specs {
				specs[i].Name = uniqueName(specs[i].Name, taken)
			}
			first, err := addRuns(lab, specs)
			if err != nil {
				return actionMsg{kind: "preset", err: err}
			}
			return actionMsg{kind: "preset", newRun: first, text: fmt.Sprintf("started %d runs from preset %s", len(specs), name)}
		}, false
	}
	return nil, false
}

func (p *presetDialog) view(e env, w, h int) []string {
	h = min(h-1, 12)
	lines := []string{style(e.th.bold, "Start runs from a preset") + e.th.dim.Render("  (they train beside the current runs)")}
	n := max(h-3, 1)
	first := min(max(p.cur-n/2, 0), max(len(p.names)-n, 0))
	for i := first; i < len(p.names) && i < first+n; i++ {
		line := fit(p.names[i], 12) + " " + p.descs[i]
		if i == p.cur {
			line = "▸ " + e.th.sel.Render(line)
		} else {
			line = "  " + line
		}
		lines = append(lines, clip(line, w))
	}
	return append(lines, dialogStatus(e.th, p.err, p.pending, "starting…"))
}

func (p *presetDialog) help(e env) helpKeys {
	k, h := e.keys, withHelp
	return helpKeys{short: []key.Binding{h(k.OpUp, "↑↓", "choose")}, tail: []key.Binding{h(k.Enter, "enter", "start"), k.Esc}}
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

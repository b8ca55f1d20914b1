package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/trainer"
)

// confirmDialog asks yes or no before something that cannot be undone:
// stopping or removing a run, quitting.
type confirmDialog struct {
	kind string // stop, remove, quit, quit-save
	run  trainer.RunID
	text string
}

func (c *confirmDialog) key(k tea.KeyPressMsg, e env) (tea.Cmd, bool) {
	s := k.String()
	switch {
	case s == "ctrl+c":
		return tea.Quit, false
	case is(k, e.keys.Yes):
		id := c.run
		switch c.kind {
		case "stop":
			return labCall(e.lab, "stop", id, func(l Lab) (trainer.RunID, error) { return 0, l.Stop(id) }), true
		case "remove":
			return labCall(e.lab, "remove", id, func(l Lab) (trainer.RunID, error) { return 0, l.Remove(id) }), true
		case "quit":
			return tea.Quit, true
		case "quit-save":
			return requestSave(true), true
		}
		return nil, true
	case c.kind == "quit-save" && (s == "n" || s == "N"):
		return tea.Quit, false
	case is(k, e.keys.No):
		return nil, true
	}
	return nil, false
}

func (c *confirmDialog) view(e env, _, _ int) []string {
	return []string{style(e.th.bold, c.text)} // the help bar lists the answers
}

func (c *confirmDialog) help(e env) helpKeys {
	k := e.keys
	if c.kind == "quit-save" {
		return helpKeys{short: []key.Binding{withHelp(k.Yes, "y", "save and quit"), withHelp(k.No, "n", "quit without saving"), withHelp(k.Esc, "esc", "stay")}}
	}
	return helpKeys{short: []key.Binding{k.Yes, k.No}}
}

// result: the answers to stop and remove go to the status line.
func (c *confirmDialog) result(tea.Msg) (mine, done bool) { return false, false }

package tui

import (
	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/trainer"
)

// dialog is one modal component (confirm, learning rate, surgery, new run,
// preset picker), one file each. While a dialog is open the root model
// routes every key press to it, hands it the answer to the lab calls it
// started, and draws its view under the body; closing it is the root's
// job, on the dialog's word.
type dialog interface {
	// key handles one key press and returns the Cmd to run (a lab call or a
	// request to the root) and whether the dialog is finished.
	key(k tea.KeyPressMsg, e env) (tea.Cmd, bool)
	// view draws the dialog in at most h lines of width w. It reads and
	// never changes anything.
	view(e env, w, h int) []string
	// help lists the keys that apply now, for the help bar.
	help(e env) helpKeys
	// result takes the answer to a lab call (an actionMsg, or a message
	// only dialogs use): mine says the dialog started it (an error then
	// shows in place), done that the dialog is finished.
	result(msg tea.Msg) (mine, done bool)
}

// starter is a dialog that asks the lab for something as it opens.
type starter interface{ start(e env) tea.Cmd }

// env is what a dialog may read of the UI: keys, theme, the runs as the
// screen knows them, the lab to call and the options. Dialogs never change
// it.
type env struct {
	keys keyMap
	th   theme
	st   *store
	lab  Lab
	opts Options
}

func (m *Model) env() env {
	return env{keys: m.keys, th: m.th, st: m.st, lab: m.lab, opts: m.opts}
}

// open makes d the active dialog and returns what it asks for first.
func (m *Model) open(d dialog) tea.Cmd {
	m.dlg = d
	if s, ok := d.(starter); ok {
		return s.start(m.env())
	}
	return nil
}

// saveMsg asks the root to save the session (and then to quit).
type saveMsg struct{ quit bool }

func requestSave(quit bool) tea.Cmd { return func() tea.Msg { return saveMsg{quit: quit} } }

// labCall runs one lab method in a Cmd and reports it as an actionMsg.
func labCall(lab Lab, kind string, id trainer.RunID, call func(Lab) (trainer.RunID, error)) tea.Cmd {
	return func() tea.Msg {
		nid, err := call(lab)
		return actionMsg{kind: kind, run: id, newRun: nid, err: err}
	}
}

// callState is the part every dialog that calls the lab shares: which call
// is in flight, and the error to show in place.
type callState struct {
	kind    string // the actionMsg kind of the call this dialog makes
	err     string
	pending bool
}

// result implements dialog.result for dialogs that close when their call
// succeeds and show its error in place otherwise.
func (c *callState) result(msg tea.Msg) (mine, done bool) {
	a, ok := msg.(actionMsg)
	if !ok || a.kind != c.kind || !c.pending {
		return false, false
	}
	c.pending = false
	if a.err != nil {
		c.err = a.err.Error()
		return true, false
	}
	return true, true
}

// dialogStatus is a dialog's last line: the error in place, or progress.
func dialogStatus(th theme, err string, pending bool, doing string) string {
	switch {
	case err != "":
		return style(th.err, "✗ "+err)
	case pending:
		return style(th.dim, doing)
	}
	return ""
}

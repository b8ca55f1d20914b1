package tui

import (
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// Lab is what the UI needs from a training lab. It is declared here, where
// it is used, so tests can drive the UI with a scripted fake; *trainer.Lab
// satisfies it. The UI calls every method from tea.Cmds: all but Since may
// wait for a training step.
type Lab interface {
	// Since returns what changed after a cursor: every run's state and
	// the history the UI does not hold yet (see trainer.Journal). The UI
	// pulls at its frame rate; it never waits for a training step.
	Since(c trainer.Cursor) trainer.Changes
	// Runs is every run's state now (Since has it too, with the news).
	Runs() []trainer.RunInfo
	Add(spec trainer.RunSpec) (trainer.RunID, error)
	Pause(id trainer.RunID) error
	Resume(id trainer.RunID) error
	Stop(id trainer.RunID) error
	Remove(id trainer.RunID) error
	SetLR(id trainer.RunID, lr float64) error
	Apply(id trainer.RunID, op model.Op, fork bool) (trainer.RunID, error)
	Restart(id trainer.RunID, heads int) (trainer.RunID, error)
	// Preview is what Apply would report (KV sizes, the realised K/V
	// errors per layer) without changing the run.
	Preview(id trainer.RunID, op model.Op) (model.Report, error)
	Mixing(id trainer.RunID, layer int) (trainer.Mixing, error)
	AttentionMap(id trainer.RunID, layer, head int) (probs []float64, T int, tokens []string, err error)
}

var _ Lab = (*trainer.Lab)(nil)

// Saver writes the session to disk. A nil Saver means the lab is not
// recording a session; the UI then says that saving is unavailable.
type Saver interface{ Save() error }

// Options configures the UI.
type Options struct {
	// Saver saves the session (w); nil: saving is unavailable.
	Saver Saver
	// FPS is how many times a second the UI pulls the lab's changes and
	// redraws (default 10, at most 60).
	FPS int
	// Title names the experiment in the header (the preset's name).
	Title string
	// Overrides are the command line's --set and --data settings, applied
	// to presets started from inside the UI as well.
	Overrides []presets.Setting
	// Presets lists the presets the picker offers (default presets.Names()).
	Presets []string
	// NoColor draws with attributes only (NO_COLOR); the terminal's colour
	// profile can also switch colour off at start.
	NoColor bool
	// SaveHint tells people how to get a session when Saver is nil.
	SaveHint string

	// For a host that embeds the UI (the classroom server, host.go):
	// extra keys, a header line it refreshes at every frame, ReadOnly (when
	// set, keys that would change the lab are refused with this text) and
	// Detach (q leaves at once: the lab lives on without this screen).
	HostKeys []HostKey
	HostLine func() string
	ReadOnly string
	Detach   bool
	// NoPresetFiles, when set, keeps the UI away from the user presets
	// directory of the machine it runs on: the picker offers only the
	// built-in presets and the save-as-preset key is refused with this
	// text (a server's users must not read or write each other's files).
	NoPresetFiles string
	// FrameGate, when set, is asked before a redraw that new data (not a
	// key) calls for; false postpones it to a later tick. A server shares
	// one frame budget among all its viewers this way.
	FrameGate func() bool
}

func (o Options) frameEvery() time.Duration {
	fps := o.FPS
	if fps <= 0 {
		fps = 10
	}
	return time.Second / time.Duration(min(fps, 60))
}

// Run shows the UI until the person quits. It does not close the lab.
// A SIGINT (kill -INT, or ctrl+c when the terminal is not in raw mode) is a
// way to quit, not an error.
func Run(lab Lab, opts Options) error {
	p := tea.NewProgram(New(lab, opts))
	_, err := p.Run()
	if errors.Is(err, tea.ErrInterrupted) {
		return nil
	}
	return err
}

// Messages from the Cmds that talk to the lab.
type (
	// pulledMsg is what changed in the lab since the UI's cursor.
	pulledMsg trainer.Changes
	tickMsg   time.Time
	// actionMsg reports a lab call a person asked for.
	actionMsg struct {
		kind   string // pause, resume, stop, remove, lr, surgery, add, preset
		run    trainer.RunID
		newRun trainer.RunID
		text   string
		err    error
	}
	headsMsg struct {
		run         trainer.RunID
		layer, head int
		mix         trainer.Mixing
		mixErr      error
		attn        []float64
		T           int
		tokens      []string
		attnErr     error
	}
	savedMsg struct {
		err  error
		quit bool
	}
)

// pull asks the lab what changed after cur.
func pull(lab Lab, cur trainer.Cursor) tea.Cmd {
	return func() tea.Msg { return pulledMsg(lab.Since(cur)) }
}

func tick(d time.Duration) tea.Cmd {
	return tea.Tick(d, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func pollHeads(lab Lab, id trainer.RunID, layer, head int) tea.Cmd {
	return func() tea.Msg {
		msg := headsMsg{run: id, layer: layer, head: head}
		msg.mix, msg.mixErr = lab.Mixing(id, layer)
		msg.attn, msg.T, msg.tokens, msg.attnErr = lab.AttentionMap(id, layer, head)
		return msg
	}
}

func save(s Saver, quit bool) tea.Cmd {
	return func() tea.Msg { return savedMsg{err: s.Save(), quit: quit} }
}

// batchAdder is a lab that can start several runs in the same lock-step
// round (trainer.Lab.AddAll); a lab without it gets them one by one.
type batchAdder interface {
	AddAll(specs []trainer.RunSpec) ([]trainer.RunID, error)
}

// addRuns starts specs in the lab, together when it can, and returns the
// first new run's id.
func addRuns(lab Lab, specs []trainer.RunSpec) (trainer.RunID, error) {
	if len(specs) == 0 {
		return 0, nil
	}
	if b, ok := lab.(batchAdder); ok {
		ids, err := b.AddAll(specs)
		if err != nil {
			return 0, err
		}
		return ids[0], nil
	}
	var first trainer.RunID
	for i, s := range specs {
		id, err := lab.Add(s)
		if err != nil {
			return first, fmt.Errorf("run %s: %w", s.Name, err)
		}
		if i == 0 {
			first = id
		}
	}
	return first, nil
}

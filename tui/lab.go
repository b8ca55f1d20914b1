package tui

import (
	"errors"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// Lab is what the UI needs from a training lab. It is declared here, where
// it is used, so tests can drive the UI with a scripted fake; *trainer.Lab
// satisfies it. Every method but Updates may wait for a training step, so
// the UI calls them only from tea.Cmds.
type Lab interface {
	// Updates is the metric stream (points, evaluations, events, samples,
	// state changes); it is closed when the lab closes.
	Updates() <-chan trainer.Update
	Runs() []trainer.RunInfo
	History(id trainer.RunID) (trainer.History, bool)
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
	// FPS caps redraws per second (default 10). Data is taken in at once;
	// only drawing waits for the next frame.
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
	// updatesMsg is a batch read from the lab's stream: one blocking read,
	// then whatever else was already waiting, so a fast lab costs one
	// Update per batch rather than one per step.
	updatesMsg   []trainer.Update
	labClosedMsg struct{}
	tickMsg      time.Time
	snapshotMsg  struct {
		infos []trainer.RunInfo
		hist  map[trainer.RunID]trainer.History
	}
	historyMsg struct {
		hist map[trainer.RunID]trainer.History
	}
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

// maxBatch bounds one updatesMsg so a flood cannot starve key presses.
const maxBatch = 1024

func waitUpdates(ch <-chan trainer.Update) tea.Cmd {
	return func() tea.Msg {
		u, ok := <-ch
		if !ok {
			return labClosedMsg{}
		}
		batch := updatesMsg{u}
		for len(batch) < maxBatch {
			select {
			case u, ok := <-ch:
				if !ok {
					return batch // the next read reports the close
				}
				batch = append(batch, u)
			default:
				return batch
			}
		}
		return batch
	}
}

func tick(d time.Duration) tea.Cmd {
	return tea.Tick(d, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func snapshot(lab Lab) tea.Cmd {
	return func() tea.Msg {
		infos := lab.Runs()
		hist := map[trainer.RunID]trainer.History{}
		for _, in := range infos {
			if h, ok := lab.History(in.ID); ok {
				hist[in.ID] = h
			}
		}
		return snapshotMsg{infos: infos, hist: hist}
	}
}

func fetchHistory(lab Lab, ids []trainer.RunID) tea.Cmd {
	return func() tea.Msg {
		hist := map[trainer.RunID]trainer.History{}
		for _, id := range ids {
			if h, ok := lab.History(id); ok {
				hist[id] = h
			}
		}
		return historyMsg{hist: hist}
	}
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

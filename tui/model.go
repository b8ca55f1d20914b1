package tui

import (
	"fmt"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/mealab/mealab/trainer"
)

type tab int

const (
	tabOverview tab = iota
	tabKV
	tabHeads
	tabSamples
	numTabs
)

var tabNames = [numTabs]string{"Overview", "KV cache", "Heads", "Samples"}

// Model is the root of the UI. It owns the children's state and routes
// messages to them; lab calls happen only in the Cmds it returns.
type Model struct {
	lab  Lab
	opts Options
	keys keyMap
	help help.Model
	th   theme

	st      *store
	selID   trainer.RunID // the selected run, followed across changes
	wantSel trainer.RunID // a run to select as soon as it appears (forks)
	tab     tab
	chart   chartState
	// baseline is the group the Groups panel compares with ("" = first).
	baseline string
	kv       kvState
	heads    headsState
	layers   layersState // per-layer detail (layers.go)
	mcache   metricCache // the metrics grid's prefix sums (metricache.go)

	frames int // frames drawn, for tests of the redraw policy
	// dlg is the open dialog, which owns the keys; nil when none is.
	dlg dialog

	status    string
	statusErr bool
	statusAt  time.Time // when it was set; it fades after statusFor

	w, h    int
	now     time.Time
	unsaved bool
	saving  bool
	closed  bool
	// cursor is how far the UI has read the lab; pulling is set while a
	// pull is under way (one at a time).
	cursor  trainer.Cursor
	pulling bool

	// frame is the last drawn screen. Update redraws it when dirty (a key,
	// a resize, a dialog result, pulled data when the frame budget allows,
	// else at the next tick: changed); View only returns it, so View is
	// pure.
	frame   string
	dirty   bool
	changed bool
}

// New builds the root model for lab.
func New(lab Lab, opts Options) *Model {
	m := &Model{lab: lab, opts: opts, keys: newKeyMap(), help: help.New(), st: newStore(), kv: defaultKV(), dirty: true}
	m.setColor(!opts.NoColor)
	m.redraw()
	return m
}

func (m *Model) setColor(on bool) {
	m.th = newTheme(on)
	if on {
		m.help.Styles = help.DefaultDarkStyles()
		return
	}
	plain := lipgloss.NewStyle()
	m.help.Styles = help.Styles{Ellipsis: plain, ShortKey: plain.Bold(true), ShortDesc: plain, ShortSeparator: plain,
		FullKey: plain.Bold(true), FullDesc: plain, FullSeparator: plain}
}

// Init starts the frame tick and the first pull.
func (m *Model) Init() tea.Cmd {
	m.pulling = true
	return tea.Batch(tick(m.opts.frameEvery()), pull(m.lab, m.cursor))
}

// Update takes one message and redraws the frame if it changed what the
// screen shows.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := m.update(msg)
	if m.dirty {
		m.redraw()
	}
	return m, cmd
}

// redraw draws the frame View returns.
func (m *Model) redraw() {
	m.frame = m.render()
	m.dirty = false
	m.frames++
}

// update is a type switch over small messages; it never calls the lab.
func (m *Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		m.dirty = true
	case tea.ColorProfileMsg:
		if msg.Profile <= colorprofile.ASCII && m.th.color {
			m.setColor(false)
			m.dirty = true
		}
	case tea.KeyPressMsg:
		m.dirty = true
		return m, m.handleKey(msg)
	case pulledMsg:
		m.onPulled(trainer.Changes(msg))
	case tickMsg:
		return m, m.onTick(time.Time(msg))
	case actionMsg:
		m.dirty = true
		return m, m.onAction(msg)
	case headsMsg:
		return m, m.onHeads(msg)
	case layersMsg:
		return m, m.onLayers(msg)
	case previewMsg:
		if m.dlg != nil {
			m.dlg.result(msg)
			m.dirty = true
		}
	case saveMsg:
		m.dirty = true
		return m, m.startSave(msg.quit)
	case hostMsg:
		return m, m.onHost(msg)
	case savedMsg:
		m.saving = false
		m.dirty = true
		if msg.err != nil {
			m.setStatus("save failed: "+msg.err.Error(), true)
			return m, nil
		}
		m.unsaved = false
		m.setStatus("session saved", false)
		if msg.quit {
			return m, tea.Quit
		}
	}
	return m, nil
}

// onPulled takes in what the lab reported.
func (m *Model) onPulled(ch trainer.Changes) {
	m.pulling = false
	m.cursor = ch.Next
	if m.st.take(ch) {
		m.unsaved = true
		m.afterData()
		if m.frameAllowed() {
			m.dirty, m.changed = true, false
		}
	}
	if ch.Closed && !m.closed {
		m.closed = true
		m.setStatus("the lab has closed", true)
		m.dirty = true
	}
}

// afterData notes that the model changed; the next tick redraws.
func (m *Model) afterData() {
	m.changed = true
	if m.wantSel != 0 && m.st.runs[m.wantSel] != nil {
		m.selID, m.wantSel = m.wantSel, 0
	}
	if m.selected() == nil && len(m.st.order) > 0 {
		m.selID = m.st.order[0]
	}
}

func (m *Model) onTick(t time.Time) tea.Cmd {
	m.now = t
	if m.changed && m.frameAllowed() {
		m.dirty, m.changed = true, false
	}
	if m.status != "" {
		if m.statusAt.IsZero() {
			m.statusAt = t
		} else if t.Sub(m.statusAt) > statusFor && !m.saving {
			m.status, m.statusErr, m.dirty = "", false, true
		}
	}
	cmds := []tea.Cmd{tick(m.opts.frameEvery())}
	if !m.pulling && !m.closed {
		m.pulling = true
		cmds = append(cmds, pull(m.lab, m.cursor))
	}
	if c := m.maybePollHeads(); c != nil {
		cmds = append(cmds, c)
	}
	return tea.Batch(cmds...)
}

// maybePollHeads asks for the selected run's mixing and attention when the
// Heads tab shows and the last answer is older than pollEvery.
func (m *Model) maybePollHeads() tea.Cmd {
	r := m.selected()
	if m.tab != tabHeads || r == nil || m.heads.inflight || m.closed {
		return nil
	}
	if !m.heads.last.IsZero() && m.now.Sub(m.heads.last) < pollEvery {
		return nil
	}
	m.heads.inflight = true
	m.heads.last = m.now
	if m.heads.last.IsZero() {
		m.heads.last = time.Unix(1, 0) // no tick yet: any later tick polls again
	}
	return pollHeads(m.lab, r.info.ID, m.heads.layer, m.heads.head)
}

// repollHeads makes the next poll immediate (selection changed).
func (m *Model) repollHeads() tea.Cmd {
	m.heads.last = time.Time{}
	return m.maybePollHeads()
}

func (m *Model) onHeads(msg headsMsg) tea.Cmd {
	h := &m.heads
	h.inflight = false
	h.mixKey = [2]int{int(msg.run), msg.layer}
	h.mixErr = ""
	if msg.mixErr != nil {
		h.mixErr, h.mixOK = msg.mixErr.Error(), false
	} else {
		h.mix, h.mixOK = msg.mix, true
	}
	h.attnKey = [3]int{int(msg.run), msg.layer, msg.head}
	h.attnErr = ""
	if msg.attnErr != nil {
		h.attnErr, h.attn = msg.attnErr.Error(), nil
	} else {
		h.attn, h.attnT, h.tokens = msg.attn, msg.T, msg.tokens
	}
	m.changed = true
	// The selection moved while the lab answered: ask again at once.
	if r := m.selected(); r != nil && (r.info.ID != msg.run || h.layer != msg.layer || h.head != msg.head) {
		return m.repollHeads()
	}
	return nil
}

func (m *Model) onAction(a actionMsg) tea.Cmd {
	if a.err != nil {
		// Errors go where the person is looking: the open dialog, or the
		// status line.
		if m.dlg != nil {
			if mine, _ := m.dlg.result(a); mine {
				return nil
			}
		}
		m.setStatus(a.kind+" failed: "+a.err.Error(), true)
		return nil
	}
	if m.dlg != nil {
		if mine, done := m.dlg.result(a); mine && done {
			m.dlg = nil
		}
	}
	name := m.runName(a.run)
	switch a.kind {
	case "surgery":
		if a.newRun != 0 && a.newRun != a.run {
			m.wantSel = a.newRun
			m.setStatus(fmt.Sprintf("surgery on %s: new run %s", name, m.runName(a.newRun)), false)
		} else {
			m.setStatus("surgery applied to "+name, false)
		}
	case "lr":
		m.setStatus("learning rate of "+name+" changed", false)
	case "add":
		m.wantSel = a.newRun
		m.setStatus(a.text, false)
	case "preset":
		m.wantSel = a.newRun
		m.setStatus(a.text, false)
	case "save-preset":
		m.setStatus(a.text, false)
	case "remove":
		idx := m.st.index(a.run)
		m.st.remove(a.run)
		if m.selID == a.run {
			m.selID = 0
			if n := len(m.st.order); n > 0 {
				m.selID = m.st.order[min(max(idx, 0), n-1)]
			}
		}
		m.setStatus("removed "+name, false)
	default:
		done := map[string]string{"pause": "paused", "resume": "resumed", "stop": "stopped"}[a.kind]
		if done == "" {
			done = a.kind
		}
		m.setStatus(done+" "+name, false)
	}
	m.afterData()
	return nil
}

func (m *Model) runName(id trainer.RunID) string {
	if r := m.st.runs[id]; r != nil {
		return r.info.Name
	}
	return fmt.Sprintf("run %d", id)
}

func (m *Model) setStatus(s string, isErr bool) {
	m.status, m.statusErr, m.statusAt = s, isErr, m.now
}

// statusFor is how long a status message stays; errors that need action
// stay in their dialog instead.
const statusFor = 10 * time.Second

// selected is the run the cursor is on, or nil.
func (m *Model) selected() *runData { return m.st.runs[m.selID] }

func (m *Model) selIndex() int { return m.st.index(m.selID) }

// labCall runs one lab method in a Cmd and reports it as an actionMsg.
func (m *Model) labCall(kind string, id trainer.RunID, call func(Lab) (trainer.RunID, error)) tea.Cmd {
	return labCall(m.lab, kind, id, call)
}

// is reports whether k is one of b's keys.
func is(k tea.KeyPressMsg, b key.Binding) bool { return key.Matches(k, b) }

func (m *Model) handleKey(k tea.KeyPressMsg) tea.Cmd {
	if m.dlg != nil {
		cmd, done := m.dlg.key(k, m.env())
		if done {
			m.dlg = nil
		}
		return cmd
	}
	km := m.keys
	if m.help.ShowAll && !is(k, km.Help) && !is(k, km.Quit) {
		m.help.ShowAll = false // any key leaves the full help
		if is(k, km.Esc) {
			return nil
		}
	}
	if c, ok := m.hostKey(k); ok {
		return c
	}
	switch {
	case is(k, km.Help):
		m.help.ShowAll = !m.help.ShowAll
	case is(k, km.Quit):
		return m.quit()
	case is(k, km.Save):
		if m.opts.Saver == nil {
			hint := m.opts.SaveHint
			if hint == "" {
				hint = "start mealab with --session NAME to record one"
			}
			m.setStatus("saving is unavailable: "+hint, true)
			return nil
		}
		return m.startSave(false)
	case is(k, km.NextTab):
		return m.setTab((m.tab + 1) % numTabs)
	case is(k, km.PrevTab):
		return m.setTab((m.tab + numTabs - 1) % numTabs)
	case is(k, km.Tab1):
		return m.setTab(tabOverview)
	case is(k, km.Tab2):
		return m.setTab(tabKV)
	case is(k, km.Tab3):
		return m.setTab(tabHeads)
	case is(k, km.Tab4):
		return m.setTab(tabSamples)
	case is(k, km.Up), is(k, km.Down):
		return m.moveSel(k)
	case is(k, km.Toggle):
		if r := m.selected(); r != nil {
			r.hidden = !r.hidden
		}
	case is(k, km.ShowAll):
		for _, r := range m.st.list() {
			r.hidden = false
		}
	case is(k, km.Only):
		// Only the selected run, with its parent and forks: the curves a
		// surgery is judged by.
		if sel := m.selected(); sel != nil {
			for _, r := range m.st.list() {
				r.hidden = r != sel && r.info.ID != sel.info.Parent && r.info.Parent != sel.info.ID
			}
		}
	case is(k, km.Pause):
		return m.pauseResume()
	case is(k, km.Stop):
		m.ask("stop", "Stop %s for good? Its curve stays; it will not train again.")
	case is(k, km.Remove):
		m.ask("remove", "Remove %s and its history from the lab?")
	case is(k, km.LR):
		if r := m.selectedOrSay(); r != nil {
			m.open(newLRDialog(r.info))
		}
	case is(k, km.Surgery):
		if r := m.selectedOrSay(); r != nil {
			return m.open(newSurgeryDialog(r))
		}
	case is(k, km.New):
		m.open(newFormDialog(m.selected(), m.st))
	case is(k, km.Preset):
		m.open(newPresetDialog(m.opts.Presets, m.opts.NoPresetFiles != ""))
	case is(k, km.SavePreset):
		if m.opts.NoPresetFiles != "" {
			m.setStatus(m.opts.NoPresetFiles, true)
			return nil
		}
		return m.savePreset() // presetfile.go
	}
	switch m.tab {
	case tabOverview:
		m.chartKey(k)
		return m.metricsKey(k)
	case tabKV:
		m.kvKey(k)
	case tabHeads:
		return m.headsKey(k)
	}
	return nil
}

func (m *Model) quit() tea.Cmd {
	switch {
	case m.closed, m.opts.Detach, m.opts.Saver != nil && !m.unsaved:
		return tea.Quit
	case m.opts.Saver != nil:
		// A recording session never loses work: save, then quit. A failed
		// save keeps the lab open with the error shown.
		return m.startSave(true)
	default:
		m.open(&confirmDialog{kind: "quit", text: "Quit? Training stops, and this lab is not being saved (no --session)."})
	}
	return nil
}

// startSave saves the session in a Cmd (and quits after it when quit).
func (m *Model) startSave(quit bool) tea.Cmd {
	if m.saving {
		return nil
	}
	m.saving = true
	m.setStatus("saving…", false)
	return save(m.opts.Saver, quit)
}

// selectedOrSay is the selected run, or nil after saying there is none.
func (m *Model) selectedOrSay() *runData {
	r := m.selected()
	if r == nil {
		m.setStatus("no run selected", true)
	}
	return r
}

func (m *Model) ask(kind, format string) {
	if r := m.selectedOrSay(); r != nil {
		m.open(&confirmDialog{kind: kind, run: r.info.ID, text: fmt.Sprintf(format, r.info.Name)})
	}
}

func (m *Model) pauseResume() tea.Cmd {
	r := m.selected()
	if r == nil {
		m.setStatus("no run selected", true)
		return nil
	}
	id := r.info.ID
	switch r.info.State {
	case trainer.Running:
		return m.labCall("pause", id, func(l Lab) (trainer.RunID, error) { return 0, l.Pause(id) })
	case trainer.Paused:
		return m.labCall("resume", id, func(l Lab) (trainer.RunID, error) { return 0, l.Resume(id) })
	}
	m.setStatus(fmt.Sprintf("%s is %s; it cannot be paused or resumed (s can fork it)", r.info.Name, r.info.State), true)
	return nil
}

func (m *Model) setTab(t tab) tea.Cmd {
	m.tab = t
	if t == tabHeads {
		return m.repollHeads()
	}
	return nil
}

func (m *Model) moveSel(k tea.KeyPressMsg) tea.Cmd {
	n := len(m.st.order)
	if n == 0 {
		return nil
	}
	i := m.selIndex()
	if is(k, m.keys.Up) {
		i = max(i-1, 0)
	} else {
		i = min(i+1, n-1)
	}
	if m.st.order[i] == m.selID {
		return nil
	}
	m.selID = m.st.order[i]
	if r := m.selected(); r != nil {
		c := r.info.Spec.Model
		m.heads.layer = min(m.heads.layer, max(c.Layers-1, 0))
		m.heads.head = min(m.heads.head, max(c.Heads-1, 0))
	}
	if m.tab == tabHeads {
		return m.repollHeads()
	}
	return nil
}

func (m *Model) chartKey(k tea.KeyPressMsg) {
	km, c := m.keys, &m.chart
	switch {
	case is(k, km.Axis):
		c.axis = (c.axis + 1) % numAxes
	case is(k, km.Smooth):
		c.smooth = (c.smooth + 1) % len(smoothings)
	case is(k, km.LogY):
		c.logY = !c.logY
	case is(k, km.ZoomIn):
		c.zoom = min(c.zoom+1, len(zooms)-1)
	case is(k, km.ZoomOut):
		c.zoom = max(c.zoom-1, 0)
	case is(k, km.Series):
		c.series = (c.series + 1) % numSeries
	case is(k, km.Band):
		c.band = (c.band + 1) % numBands
		m.setStatus("chart: "+c.band.String(), false)
	case is(k, km.Baseline):
		if gs := groupsOf(m.st.list(), m.baseline); len(gs) > 0 {
			m.baseline = nextBaseline(gs, m.baseline)
			m.setStatus("groups are compared with "+m.baseline, false)
		} else {
			m.setStatus("no seeded groups: start runs with seeds (--seeds N, or seeds in the new-run form)", true)
		}
	}
}

func (m *Model) kvKey(k tea.KeyPressMsg) {
	km, s := m.keys, &m.kv
	switch {
	case is(k, km.CtxUp):
		s.ctx = min(s.ctx+1, len(kvContexts)-1)
	case is(k, km.CtxDown):
		s.ctx = max(s.ctx-1, 0)
	case is(k, km.BatchUp):
		s.batch = min(s.batch+1, len(kvBatches)-1)
	case is(k, km.BatchDown):
		s.batch = max(s.batch-1, 0)
	}
}

func (m *Model) headsKey(k tea.KeyPressMsg) tea.Cmd {
	r := m.selected()
	if r == nil {
		return nil
	}
	c := r.info.Spec.Model
	km, h := m.keys, &m.heads
	before := *h
	switch {
	case is(k, km.LayerNext):
		h.layer = min(h.layer+1, max(c.Layers-1, 0))
	case is(k, km.LayerPrev):
		h.layer = max(h.layer-1, 0)
	case is(k, km.HeadNext):
		h.head = min(h.head+1, max(c.Heads-1, 0))
	case is(k, km.HeadPrev):
		h.head = max(h.head-1, 0)
	default:
		return nil
	}
	if h.layer == before.layer && h.head == before.head {
		return nil
	}
	return m.repollHeads()
}

// View returns the frame Update drew; it changes nothing.
func (m *Model) View() tea.View {
	v := tea.NewView(m.frame)
	v.AltScreen = true
	v.WindowTitle = "mealab"
	return v
}

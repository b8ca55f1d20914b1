package tui

import (
	"fmt"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
	"github.com/mealab/mealab/trainer"
)

// Wide terminals (a researcher's full-screen window) get side panels;
// below minW x minH the UI keeps the essentials (table and a compact
// chart) instead of refusing.
const (
	wideW = 160
	minW  = 20
	minH  = 3
)

// render draws the whole frame: header, body, status line, help bar. Each
// line is clipped to the width so nothing wraps, and the frame has exactly
// h lines so the renderer never scrolls.
func (m *Model) render() string {
	w, h := m.w, m.h
	if w <= 0 || h <= 0 {
		return "mealab: starting…"
	}
	if w < minW || h < minH {
		return cut(fmt.Sprintf("mealab: %dx%d is too small", w, h), w)
	}
	var top, bottom []string
	top = append(top, m.headerLine(w))
	if h >= 6 {
		bottom = append(bottom, m.statusLine(w))
	}
	if h >= 5 {
		bottom = append(bottom, m.helpLine(w))
	}
	bodyH := h - len(top) - len(bottom)
	var body []string
	if m.help.ShowAll && m.dlg == nil {
		body = m.fullHelp(w, bodyH)
	} else {
		body = m.body(w, bodyH)
	}
	body = fitLines(body, bodyH)
	if d := m.dialog(w, bodyH); d != nil {
		d = append([]string{m.th.dim.Render(strings.Repeat("─", w))}, d...)
		if len(d) > bodyH {
			d = d[len(d)-bodyH:]
		}
		copy(body[bodyH-len(d):], d)
	}
	lines := append(append(top, body...), bottom...)
	for i, l := range lines {
		lines[i] = clip(l, w)
	}
	return strings.Join(lines, "\n")
}

// helpLine shows as many of the current keys as fit, always ending with
// the tail (? and q, or enter and esc in dialogs).
func (m *Model) helpLine(w int) string {
	hk := m.helpFor()
	hm := m.help
	hm.SetWidth(0) // we drop whole items ourselves
	for n := len(hk.short); n >= 0; n-- {
		items := append(append([]key.Binding{}, hk.short[:n]...), hk.tail...)
		if s := hm.ShortHelpView(items); width(s) <= w {
			return s
		}
	}
	return clip(hm.ShortHelpView(hk.tail), w)
}

// fitLines pads or cuts to exactly n lines.
func fitLines(l []string, n int) []string {
	for len(l) < n {
		l = append(l, "")
	}
	return l[:n]
}

func (m *Model) headerLine(w int) string {
	th := m.th
	left := style(th.title, "mealab")
	if m.opts.Title != "" {
		left += style(th.dim, " · "+m.opts.Title)
	}
	running := 0
	for _, r := range m.st.list() {
		if r.info.State == trainer.Running {
			running++
		}
	}
	right := fmt.Sprintf("%d runs · %d running", len(m.st.order), running)
	for _, short := range []bool{false, true} {
		var tabs []string
		for i, n := range tabNames {
			if short {
				n = strings.Fields(n)[0]
				if len(n) > 4 {
					n = n[:4]
				}
			}
			t := fmt.Sprintf("%d %s", i+1, n)
			if tab(i) == m.tab {
				tabs = append(tabs, th.tabOn.Render("["+t+"]"))
			} else {
				tabs = append(tabs, th.tabOff.Render(" "+t+" "))
			}
		}
		line := left + "  " + strings.Join(tabs, "")
		if width(line)+2+width(right) <= w {
			return line + strings.Repeat(" ", w-width(line)-width(right)) + style(th.dim, right)
		}
		if width(line) <= w || short {
			return clip(line, w)
		}
	}
	return ""
}

func (m *Model) statusLine(w int) string {
	th := m.th
	var right string
	switch {
	case m.opts.Saver == nil:
		right = "not recording (no --session)"
	case m.saving:
		right = "saving…"
	case m.unsaved:
		right = "unsaved changes"
	default:
		right = "saved"
	}
	if hl := m.hostLine(); hl != "" {
		right = hl
	}
	left := m.status
	if m.closed && left == "" {
		left = "the lab has closed"
	}
	if left != "" {
		if m.statusErr {
			left = style(th.err, "✗ "+left)
		} else {
			left = style(th.ok, left)
		}
	}
	if width(left)+2+width(right) > w {
		return clip(left, w)
	}
	return left + strings.Repeat(" ", w-width(left)-width(right)) + style(th.dim, right)
}

// chartRuns pairs runs with their table numbers for the chart.
func (m *Model) chartRuns() []chartRun {
	var out []chartRun
	for i, r := range m.st.list() {
		out = append(out, chartRun{r: r, label: fmt.Sprint(i + 1)})
	}
	return out
}

func (m *Model) body(w, h int) []string {
	runs := m.st.list()
	sel := m.selIndex()
	switch m.tab {
	case tabKV:
		return m.kvBody(runs, sel, w, h)
	case tabHeads:
		return renderHeads(m.selected(), &m.heads, w, h, m.th)
	case tabSamples:
		return renderSamples(runs, sel, w, h, m.th)
	}
	return m.overview(runs, sel, w, h)
}

func (m *Model) overview(runs []*runData, sel, w, h int) []string {
	maxRows := max(min(len(runs), h/3, 12), 1)
	if h < 8 {
		maxRows = max(h-4, 1)
	}
	table := renderTable(runs, sel, w, maxRows, m.th)
	chartH := h - len(table)
	if chartH < 3 {
		return table
	}
	gs := groupsOf(runs, m.baseline)
	if w < wideW {
		if line := selectedGroupLine(gs, m.selected(), w, m.th); line != "" && chartH >= 8 {
			return append(append(table, m.chartArea(w, chartH-1)...), line)
		}
		return append(table, m.chartArea(w, chartH)...)
	}
	sideW := min(64, w/3)
	chartW := w - sideW - 3
	left := m.chartArea(chartW, chartH)
	right := m.sidePanel(runs, sideW, chartH)
	return append(table, besides(left, right, chartW, chartH)...)
}

// besides joins two columns of lines with a rule between them.
func besides(left, right []string, leftW, h int) []string {
	out := make([]string, h)
	for i := range out {
		l, r := "", ""
		if i < len(left) {
			l = clip(left[i], leftW)
		}
		if i < len(right) {
			r = right[i]
		}
		out[i] = l + strings.Repeat(" ", max(leftW-width(l), 0)) + " │ " + r
	}
	return out
}

// sidePanel is the wide layout's right column: KV bars, recent events and
// the newest sample of the selected run.
func (m *Model) sidePanel(runs []*runData, w, h int) []string {
	th := m.th
	out := renderKVCompact(runs, w, th)
	if gl := groupLines(groupsOf(runs, m.baseline), w, th); len(gl) > 0 {
		out = append(append(gl, ""), out...)
	}
	out = append(out, "", style(th.bold, "Events"))
	type ev struct {
		e trainer.Event
		r *runData
	}
	var evs []ev
	for _, r := range runs {
		for _, e := range r.events {
			if e.Kind != "start" && e.Kind != "done" {
				evs = append(evs, ev{e, r})
			}
		}
	}
	// News before spikes, newest first; at one step, in the order they
	// happened (a fork, then the surgery on the child).
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := evs[i].e, evs[j].e
		if sa, sb := isSpike(a.Kind), isSpike(b.Kind); sa != sb {
			return sb
		}
		return a.Step > b.Step
	})
	room := max(h-len(out)-4, 1)
	if len(evs) == 0 {
		out = append(out, style(th.dim, "none yet"))
	}
	for i, x := range evs {
		if i >= room {
			break
		}
		line := fmt.Sprintf("%5d %s %s: %s", x.e.Step, th.mark(x.r.color), x.r.info.Name, x.e.Detail)
		out = append(out, clip(line, w))
	}
	if r := m.selected(); r != nil && len(out)+3 <= h {
		if s, ok := r.lastSample(); ok {
			out = append(out, "", style(th.bold, "Sample of "+r.info.Name)+style(th.dim, fmt.Sprintf(" @%d, %s tok/s", s.Step, fmtRate(s.TokPerSec))))
			for _, l := range wrapText("["+oneLine(s.Prompt)+"]"+oneLine(s.Text), w) {
				if len(out) >= h {
					break
				}
				out = append(out, l)
			}
		}
	}
	return out
}

func (m *Model) kvBody(runs []*runData, sel, w, h int) []string {
	return renderKV(runs, sel, m.kv, w, h, m.th)
}

// dialog returns the open dialog's lines, or nil.
func (m *Model) dialog(w, h int) []string {
	if m.dlg == nil {
		return nil
	}
	return m.dlg.view(m.env(), w, h)
}

// fullHelp lays the binding groups out in as many columns as fit.
func (m *Model) fullHelp(w, h int) []string {
	k := m.keys
	groups := []struct {
		title string
		keys  []key.Binding
	}{
		{"Runs", []key.Binding{k.Up, k.Down, withHelp(k.Pause, "p", "pause / resume"), withHelp(k.LR, "r", "change the LR"),
			withHelp(k.Surgery, "s", "head surgery"), k.New, withHelp(k.Preset, "P", "start a preset"), k.Stop, k.Remove}},
		{"Chart (overview)", []key.Binding{withHelp(k.Toggle, "space", "run on/off chart"), k.ShowAll, withHelp(k.Only, "o", "only it and its forks"), withHelp(k.Axis, "x", "step/tokens/time"),
			withHelp(k.Smooth, "e", "EMA smoothing"), withHelp(k.LogY, "L", "log-scale y"), withHelp(k.ZoomIn, "z", "zoom to last N"), k.ZoomOut,
			withHelp(k.Series, "v", "train/val/both"), withHelp(k.Metric, "m/M d", "metrics; per layer"), withHelp(k.Band, "g", "group bands"), withHelp(k.Baseline, "G", "baseline group")}},
		{"KV cache / Heads tabs", []key.Binding{withHelp(k.CtxUp, "c/C", "context up/down"), withHelp(k.BatchUp, "b/B", "batch up/down"),
			withHelp(k.LayerNext, "[/]", "layer down/up"), withHelp(k.HeadNext, ",/.", "head down/up")}},
		{"Surgery dialog", []key.Binding{withHelp(k.OpUp, "↑/↓", "operation"), withHelp(k.Field, "0-9", "r, G or H"),
			withHelp(k.Field, "tab", "layers field"), k.Fork, k.GN, k.Enter, k.Esc}},
		{"General", []key.Binding{k.Tab1, k.Tab2, k.Tab3, k.Tab4, k.NextTab, withHelp(k.PrevTab, "S-tab", "previous tab"), withHelp(k.Save, "w", "save session"), withHelp(k.SavePreset, "S", "save lab as preset"), withHelp(k.Help, "?", "this help"), k.Quit}},
	}
	ncol := max(min(len(groups), w/26), 1)
	colW := w / ncol
	var blocks [][]string
	for _, g := range groups {
		b := []string{style(m.th.bold, g.title)}
		for _, kb := range g.keys {
			hl := kb.Help()
			b = append(b, style(m.th.bold, fit(hl.Key, 6))+" "+cut(hl.Desc, colW-8))
		}
		blocks = append(blocks, append(b, ""))
	}
	cols := make([][]string, ncol)
	c := 0
	for _, b := range blocks {
		if len(cols[c])+len(b) > h-1 && len(cols[c]) > 0 && c+1 < ncol {
			c++
		}
		cols[c] = append(cols[c], b...)
	}
	var out []string
	for i := 0; i < h-1; i++ {
		var line strings.Builder
		for ci, col := range cols {
			cell := ""
			if i < len(col) {
				cell = col[i]
			}
			if ci < len(cols)-1 {
				cell += strings.Repeat(" ", max(colW-width(cell), 0))
			}
			line.WriteString(cell)
		}
		out = append(out, strings.TrimRight(line.String(), " "))
	}
	return append(out, style(m.th.dim, "? or esc closes this help"))
}

package tui

import (
	"charm.land/bubbles/v2/key"
	"github.com/mealab/mealab/trainer"
)

// keyMap is every binding in one place. Letters were chosen for what they
// mean (p pause, s surgery, r rate, x axis, e EMA); capitals guard the
// irreversible ones (X stop, D remove) and still ask for a y.
type keyMap struct {
	// Everywhere.
	Help, Quit, Save, NextTab, PrevTab, Tab1, Tab2, Tab3, Tab4 key.Binding
	// Runs.
	Up, Down, Toggle, ShowAll, Only, Pause, Stop, Remove, LR, Surgery, New, Preset, SavePreset key.Binding
	// Chart.
	Axis, Smooth, LogY, ZoomIn, ZoomOut, Series key.Binding
	// Metrics view (metrics.go, layers.go).
	Metric, MetricBack, Layers key.Binding
	// Seeded groups (groups.go).
	Band, Baseline key.Binding
	// KV tab.
	CtxUp, CtxDown, BatchUp, BatchDown key.Binding
	// Heads tab.
	LayerNext, LayerPrev, HeadNext, HeadPrev key.Binding
	// Dialogs.
	Enter, Esc, Field, OpUp, OpDown, Left, Right, Fork, GN, Yes, No key.Binding
}

func newKeyMap() keyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return keyMap{
		Help:    b([]string{"?"}, "?", "all keys"),
		Quit:    b([]string{"q", "ctrl+c"}, "q", "quit"),
		Save:    b([]string{"w", "ctrl+s"}, "w", "save"),
		NextTab: b([]string{"tab"}, "tab", "next tab"),
		PrevTab: b([]string{"shift+tab"}, "shift+tab", "previous tab"),
		Tab1:    b([]string{"1"}, "1", "overview"),
		Tab2:    b([]string{"2"}, "2", "KV cache"),
		Tab3:    b([]string{"3"}, "3", "heads"),
		Tab4:    b([]string{"4"}, "4", "samples"),

		Up:      b([]string{"up", "k"}, "↑/k", "previous run"),
		Down:    b([]string{"down", "j"}, "↓/j", "next run"),
		Toggle:  b([]string{"space"}, "space", "on chart"),
		ShowAll: b([]string{"a"}, "a", "all runs on chart"),
		Only:    b([]string{"o"}, "o", "only this run"),
		Pause:   b([]string{"p"}, "p", "pause"),
		Stop:    b([]string{"X"}, "X", "stop run"),
		Remove:  b([]string{"D"}, "D", "remove run"),
		LR:      b([]string{"r"}, "r", "LR"),
		Surgery: b([]string{"s"}, "s", "surgery"),
		New:     b([]string{"n"}, "n", "new run"),
		Preset:  b([]string{"P"}, "P", "preset"),
		// SavePreset writes the lab as a preset file (presetfile.go).
		SavePreset: b([]string{"S"}, "S", "save as preset"),

		Axis:    b([]string{"x"}, "x", "axis"),
		Smooth:  b([]string{"e"}, "e", "smooth"),
		LogY:    b([]string{"L"}, "L", "log"),
		ZoomIn:  b([]string{"z"}, "z", "zoom in"),
		ZoomOut: b([]string{"Z"}, "Z", "zoom out"),
		Series:  b([]string{"v"}, "v", "train/val"),

		Metric:     b([]string{"m"}, "m", "metrics"),
		MetricBack: b([]string{"M"}, "M", "previous metric"),
		Layers:     b([]string{"d"}, "d", "per layer"),
		Band:       b([]string{"g"}, "g", "groups: band/replicas"),
		Baseline:   b([]string{"G"}, "G", "baseline group"),

		CtxUp:     b([]string{"c"}, "c/C", "context ±"),
		CtxDown:   b([]string{"C"}, "C", "context down"),
		BatchUp:   b([]string{"b"}, "b/B", "batch ±"),
		BatchDown: b([]string{"B"}, "B", "batch down"),

		LayerNext: b([]string{"]"}, "[/]", "layer"),
		LayerPrev: b([]string{"["}, "[", "previous layer"),
		HeadNext:  b([]string{"."}, ",/.", "head"),
		HeadPrev:  b([]string{","}, ",", "previous head"),

		Enter:  b([]string{"enter"}, "enter", "apply"),
		Esc:    b([]string{"esc"}, "esc", "cancel"),
		Field:  b([]string{"tab", "shift+tab"}, "tab", "next field"),
		OpUp:   b([]string{"up"}, "↑/↓", "choose"),
		OpDown: b([]string{"down"}, "↓", "next"),
		Left:   b([]string{"left"}, "←/→", "change"),
		Right:  b([]string{"right"}, "→", "next value"),
		Fork:   b([]string{"f"}, "f", "in place/fork"),
		GN:     b([]string{"g"}, "g", "+GroupNorm"),
		Yes:    b([]string{"y", "Y"}, "y", "yes"),
		No:     b([]string{"n", "N", "esc"}, "n/esc", "no"),
	}
}

// helpKeys is what the help bar shows for the current state: short is
// dropped from the end when the line is too narrow, tail always stays.
type helpKeys struct {
	short, tail []key.Binding
}

// helpFor picks the bindings that apply right now.
func (m *Model) helpFor() helpKeys {
	k := m.keys
	h := withHelp
	if m.dlg != nil {
		return m.dlg.help(m.env())
	}
	tail := []key.Binding{h(k.Help, "?", "all keys"), k.Quit}
	if m.help.ShowAll {
		return helpKeys{short: []key.Binding{h(k.Esc, "esc", "close help")}, tail: []key.Binding{k.Quit}}
	}
	// Run keys only when there is a run they can act on.
	sel := h(k.Up, "↑↓", "select")
	r := m.selected()
	pause := k.Pause
	switch {
	case r == nil || r.info.State.Finished():
		pause.SetEnabled(false)
	case r.info.State == trainer.Paused:
		pause = h(k.Pause, "p", "resume")
	}
	var short []key.Binding
	switch {
	case r == nil:
		short = []key.Binding{k.New, k.Preset}
	case m.tab == tabOverview:
		short = []key.Binding{sel, k.Surgery, pause, k.LR, h(k.Metric, "m", "metrics"), k.Toggle, k.Axis, k.Smooth, k.LogY, h(k.ZoomIn, "z/Z", "zoom"), k.Series, k.Layers, k.New, k.Preset, k.Save}
	case m.tab == tabKV:
		short = []key.Binding{h(k.CtxUp, "c/C", "context"), h(k.BatchUp, "b/B", "batch"), sel, k.Surgery, pause, k.Save}
	case m.tab == tabHeads:
		short = []key.Binding{h(k.LayerNext, "[ ]", "layer"), h(k.HeadNext, ", .", "head"), h(k.Up, "↑↓", "run"), k.Surgery, k.Save}
	case m.tab == tabSamples:
		short = []key.Binding{sel, pause, k.Surgery, k.Save}
	}
	short = append(short, h(k.Tab1, "1-4", "tabs"))
	return helpKeys{short: m.hostHelp(short), tail: tail}
}

func withHelp(b key.Binding, k, desc string) key.Binding {
	b.SetHelp(k, desc)
	return b
}

package main

import (
	"math"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// exportGridPNG draws every metric of a session's runs as a grid of panels
// (sessions export --png FILE --grid): train loss, val loss, grad norm
// before clipping, max attention logit, LR, tok/s and, for recall tasks,
// recall. A run has one colour in every panel (the legend is on the
// first); surgery, LR changes and divergence are marked with labelled
// lines on every panel, spikes with ticks at the bottom; a panel whose values
// are positive and span two decades or more is log-scaled, as in the lab.
func exportGridPNG(path, title string, runs []record.Loaded) error {
	type metric struct {
		name  string
		point func(trainer.Point) float64
		eval  func(trainer.EvalPoint) float64
	}
	metrics := []metric{
		{name: "train loss", point: func(p trainer.Point) float64 { return p.Loss }},
		{name: "val loss", eval: func(e trainer.EvalPoint) float64 { return e.ValLoss }},
		{name: "grad norm (before clipping)", point: func(p trainer.Point) float64 { return p.GradNorm }},
		{name: "max attention logit", point: func(p trainer.Point) float64 { return p.MaxLogit }},
		{name: "learning rate", point: func(p trainer.Point) float64 { return p.LR }},
		{name: "tok/s", point: func(p trainer.Point) float64 { return p.TokPerSec }},
	}
	if hasRecall(runs) {
		metrics = append(metrics, metric{name: "recall", eval: func(e trainer.EvalPoint) float64 { return e.Recall }})
	}
	marks := chartMarkers(runs, true)
	var panels []sessions.Chart
	for mi, m := range metrics {
		c := sessions.Chart{Title: m.name, XLabel: "step", Markers: marks}
		lo, hi := math.Inf(1), math.Inf(-1)
		for ri, ld := range runs {
			var x, y []float64
			if m.point != nil {
				for _, p := range ld.History.Points {
					x, y = append(x, float64(p.Step)), append(y, m.point(p))
				}
			} else {
				for _, e := range ld.History.Evals {
					x, y = append(x, float64(e.Step)), append(y, m.eval(e))
				}
			}
			for _, v := range y {
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
			name := ""
			if mi == 0 {
				name = ld.Meta.Name // one legend, on the first panel: colours are shared
			}
			c.Series = append(c.Series, sessions.Series{Name: name, X: x, Y: y, Colour: ri + 1})
		}
		c.LogY = lo > 0 && hi >= 100*lo
		if c.LogY {
			c.YLabel = "log scale"
		}
		panels = append(panels, c)
	}
	return sessions.ExportGrid(path, panels, 2)
}

func hasRecall(runs []record.Loaded) bool {
	for _, ld := range runs {
		for _, e := range ld.History.Evals {
			if !math.IsNaN(e.Recall) {
				return true
			}
		}
	}
	return false
}

// chartMarkers are the exported charts' event lines: surgery, LR changes,
// divergence and scheduled operations that were refused or skipped (the
// lab marks those R), labelled with the run; with ticks, spikes as short
// ticks at the bottom edge.
func chartMarkers(runs []record.Loaded, ticks bool) []sessions.Marker {
	var marks []sessions.Marker
	for _, ld := range runs {
		for _, e := range ld.History.Events {
			switch e.Kind {
			case "surgery", "lr", "diverged":
				marks = append(marks, sessions.Marker{X: float64(e.Step), Label: ld.Meta.Name + ": " + e.Kind})
			case "refused", "skipped":
				marks = append(marks, sessions.Marker{X: float64(e.Step), Label: ld.Meta.Name + ": surgery " + e.Kind})
			case trainer.LossSpike, trainer.GradSpike:
				if ticks {
					marks = append(marks, sessions.Marker{X: float64(e.Step), Tick: true})
				}
			}
		}
	}
	return marks
}

package tui

import (
	"strings"
	"testing"

	"github.com/mealab/mealab/trainer"
)

// A refused or skipped scheduled operation is marked on the chart's axis
// and listed, with its reason, in the events line.
func TestRefusedSurgeryIsShown(t *testing.T) {
	for _, kind := range []string{"refused", "skipped"} {
		detail := "scheduled 30 gqa 2 " + kind + ": the reason"
		r := &runData{info: trainer.RunInfo{Name: "mea"}, points: pointsOf(make([]float64, 100)...),
			events: []trainer.Event{{Step: 30, Kind: kind, Detail: detail}}}
		for i := range r.points {
			r.points[i].Loss = 3 - float64(i)/50
		}
		lines := renderChart(chartOf(r), chartState{}, 60, 12, newTheme(false))
		axis := ""
		for _, l := range lines {
			if strings.Contains(l, "└") {
				axis = l
			}
		}
		if strings.Count(axis, "R") != 1 {
			t.Errorf("%s: axis %q, want one R mark", kind, axis)
		}
		if got := eventsLine(chartOf(r), 200, newTheme(false)); !strings.Contains(got, "R@30 mea: "+detail) {
			t.Errorf("%s: events line %q, want the refusal with its reason", kind, got)
		}
	}
}

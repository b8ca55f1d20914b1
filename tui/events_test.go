package tui

import (
	"strings"
	"testing"
	"time"

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

// The wide layout's events panel lists refusals with their reason too.
func TestRefusedSurgeryInTheEventsPanel(t *testing.T) {
	f := fixtureLab(t)
	m := newTestModel(t, f, 170, 40)
	f.j.Put(trainer.Event{Run: 1, Step: 290, Kind: "refused", Detail: "scheduled 290 gqa 2 refused: no"})
	m.Update(pull(f, m.cursor)())
	m.Update(tickMsg(time.Unix(200, 0)))
	if got := frame(t, m); !strings.Contains(got, "scheduled 290 gqa 2 refused: no") {
		t.Errorf("the events panel lacks the refusal:\n%s", got)
	}
}

// Spike warnings, however many and however recent, never push news (a
// surgery, an LR change) out of the events line or the wide layout's
// events panel: on a fast machine spikes arrive every few hundred steps
// after the surgery a person just applied.
func TestSpikesDoNotBuryNews(t *testing.T) {
	r := &runData{info: trainer.RunInfo{Name: "mha"}, points: pointsOf(make([]float64, 3000)...)}
	r.events = append(r.events, trainer.Event{Step: 126, Kind: "surgery", Detail: "compress 1"})
	for s := 600; s < 3000; s += 100 {
		r.events = append(r.events, trainer.Event{Step: s, Kind: trainer.GradSpike, Detail: "grad-norm spike"})
	}
	line := eventsLine(chartOf(r), 100, newTheme(false))
	if !strings.HasPrefix(line, "S@126 mha: compress 1") {
		t.Errorf("events line %q, want the surgery first", line)
	}
	if !strings.Contains(line, "G@2900") {
		t.Errorf("events line %q, want the newest spike after the news", line)
	}

	f := fixtureLab(t)
	m := newTestModel(t, f, 170, 40)
	f.j.Put(trainer.Event{Run: 1, Step: 100, Kind: "surgery", Detail: "compress 1 (the news)"})
	for s := 110; s < 300; s += 5 {
		f.j.Put(trainer.Event{Run: 1, Step: s, Kind: trainer.GradSpike, Detail: "grad-norm spike"})
	}
	m.Update(pull(f, m.cursor)())
	m.Update(tickMsg(time.Unix(200, 0)))
	if got := frame(t, m); !strings.Contains(got, "compress 1 (the news)") {
		t.Errorf("the events panel lost the surgery under spikes:\n%s", got)
	}
}

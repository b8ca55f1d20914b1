package tui

import (
	"fmt"
	"math"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/trainer"
)

// benchLab is 8 runs of 20,000 points each, with evaluations every 100
// steps and a few events: a long session on a big screen.
func benchLab(b *testing.B) *fakeLab {
	f := newFakeLab()
	const n = 20000
	for i := 1; i <= 8; i++ {
		spec := mustBuild(b, fmt.Sprintf("run%d", i), "variant", []string{"mha", "mea"}[i%2], "steps", fmt.Sprint(n))
		fi := float64(i)
		f.addRun(trainer.RunID(i), fixtureRun{spec: spec, from: 1, to: n, state: trainer.Running,
			loss: func(s int) float64 {
				return 0.5 + 0.05*fi + 3*math.Exp(-float64(s)/(800*fi)) + 0.05*math.Sin(float64(s)*0.37*fi)
			},
			events: []trainer.Event{{Run: trainer.RunID(i), Step: 5000 + 100*i, Kind: "lr", Detail: "lr change"},
				{Run: trainer.RunID(i), Step: 12000, Kind: "surgery", Detail: "compress 2"}},
			sampleAt: []int{n}})
	}
	return f
}

// BenchmarkView is one full frame (table, chart with 8x20k points through
// downsampling, EMA and asciigraph, side panel) at the sizes people use.
// Target: under 10 ms.
func BenchmarkView(b *testing.B) {
	for _, sz := range [][2]int{{80, 24}, {160, 48}, {240, 70}} {
		for _, smooth := range []bool{false, true} {
			name := fmt.Sprintf("8x20k/%dx%d/ema=%v", sz[0], sz[1], smooth)
			b.Run(name, func(b *testing.B) {
				m := newTestModel(b, benchLab(b), sz[0], sz[1], func(o *Options) { o.NoColor = false })
				if smooth {
					m.chart.smooth = 2
				}
				b.ResetTimer()
				for b.Loop() {
					m.redraw()
				}
			})
		}
	}
}

// BenchmarkKeyPress is the latency from a key to its new frame: Update
// plus the redraw it forces (x cycles the chart's axis).
func BenchmarkKeyPress(b *testing.B) {
	m := newTestModel(b, benchLab(b), 160, 48, func(o *Options) { o.NoColor = false })
	k := press("x")
	for b.Loop() {
		m.Update(k)
		_ = m.View()
	}
}

// BenchmarkPull is the cost of one frame's pull when every run made a
// step: the lab's Since and the UI taking the news in (no drawing).
func BenchmarkPull(b *testing.B) {
	f := benchLab(b)
	m := newTestModel(b, f, 160, 48)
	step := 20001
	for b.Loop() {
		for i := 1; i <= 8; i++ {
			f.j.Put(trainer.Point{Run: trainer.RunID(i), Step: step, Loss: 1})
		}
		step++
		m.Update(pull(f, m.cursor)())
	}
	_ = tea.Quit
}

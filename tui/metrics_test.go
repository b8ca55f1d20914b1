package tui

import (
	"fmt"
	"math"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/trainer"
)

// metricsLab is the fixture with the signals the metrics view draws: grad
// norms and logits that differ per run (the hot run's logits grow by four
// decades before it diverges, its last steps overflow), and spike events.
func metricsLab(t testing.TB) *fakeLab {
	f := fixtureLab(t)
	for id, h := range f.hist {
		fi := float64(id)
		for i := range h.Points {
			p := &h.Points[i]
			s := float64(p.Step)
			p.GradNorm = 0.5 + fi*0.2 + 2*math.Exp(-s/40) + 0.1*math.Sin(s*0.9*fi)
			p.MaxLogit = 4 + fi + 6*(1-math.Exp(-s/80))
			if id == 4 {
				p.MaxLogit = 5 * math.Pow(10, s/14) // 5 .. 5e4
				p.GradNorm *= 1 + math.Pow(s/20, 3)
				switch p.Step {
				case 55:
					p.GradNorm = math.Inf(1)
				case 56:
					p.MaxLogit = 1e300
				case 57:
					p.GradNorm, p.MaxLogit = math.NaN(), math.NaN()
				}
			}
		}
		f.hist[id] = h
	}
	add := func(id trainer.RunID, evs ...trainer.Event) {
		h := f.hist[id]
		h.Events = append(h.Events, evs...)
		f.hist[id] = h
	}
	add(4, trainer.Event{Run: 4, Step: 44, Kind: trainer.GradSpike, Detail: "grad-norm spike: 9.1 is 3.2x its 50-step mean 2.84"},
		trainer.Event{Run: 4, Step: 48, Kind: trainer.LossSpike, Detail: "loss spike: 3.30 is 25% above its 50-step minimum 2.64"})
	add(1, trainer.Event{Run: 1, Step: 120, Kind: trainer.GradSpike, Detail: "grad-norm spike: 3.0 is 3.1x its 50-step mean 0.97"})
	return f
}

// TestGoldenMetrics is the metrics view at 80x24 (one chart, m cycling)
// and 200x50 (the grid), with and without colour (colour frames are
// compared with their escape codes stripped: the glyphs differ).
func TestGoldenMetrics(t *testing.T) {
	cases := []struct {
		name  string
		w, h  int
		color bool
		keys  []string
	}{
		{"metrics_grid", 200, 50, false, []string{"m"}},
		{"metrics_grid_color", 200, 50, true, []string{"m"}},
		{"metrics_grid_ema_log_zoom", 200, 50, false, []string{"m", "e", "e", "L", "z", "z", "z", "z", "z", "z"}},
		{"metrics_grid_tokens", 160, 48, false, []string{"m", "x"}},
		{"metrics_loss", 80, 24, false, []string{"m"}},
		{"metrics_grad", 80, 24, false, []string{"m", "m", "m"}},
		{"metrics_logit", 80, 24, false, []string{"m", "m", "m", "m"}},
		{"metrics_logit_color", 80, 24, true, []string{"m", "m", "m", "m"}},
		{"metrics_lr", 80, 24, false, []string{"M", "M"}},
		{"metrics_val_time", 80, 24, false, []string{"m", "m", "x", "x"}},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s_%dx%d", c.name, c.w, c.h)
		t.Run(name, func(t *testing.T) {
			m := newTestModel(t, metricsLab(t), c.w, c.h, func(o *Options) { o.NoColor = !c.color })
			keys(t, m, c.keys...)
			golden(t, name, frame(t, m))
		})
	}
}

// TestMetricsCycle checks what m and M step through: the grid only where
// it fits, recall only for recall tasks, and back to the loss chart.
func TestMetricsCycle(t *testing.T) {
	seq := func(w, h int, k string) []chartView {
		m := newTestModel(t, metricsLab(t), w, h)
		var out []chartView
		for range 9 {
			keys(t, m, k)
			out = append(out, m.chart.view)
		}
		return out
	}
	one := func(k metric) chartView { return viewOne + chartView(k) }
	got := seq(80, 24, "m")
	want := []chartView{one(metLoss), one(metVal), one(metGrad), one(metLogit), one(metLR), one(metTokS), viewLoss, one(metLoss), one(metVal)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("80x24 m: got %v, want %v (no grid, no recall)", got, want)
	}
	got = seq(200, 50, "m")
	want = []chartView{viewGrid, one(metLoss), one(metVal), one(metGrad), one(metLogit), one(metLR), one(metTokS), viewLoss, viewGrid}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("200x50 m: got %v, want %v", got, want)
	}
	got = seq(200, 50, "M")
	if got[0] != one(metTokS) || got[6] != viewGrid || got[7] != viewLoss {
		t.Errorf("200x50 M goes backwards: got %v", got)
	}

	// A recall task adds the recall chart.
	f := metricsLab(t)
	h := f.hist[1]
	h.Evals[0].Recall = 0.5
	f.hist[1] = h
	m := newTestModel(t, f, 80, 24)
	keys(t, m, "M")
	if m.chart.view != one(metRecall) {
		t.Errorf("with recall, M from the loss chart gives %v, want the recall chart", m.chart.view)
	}
}

// TestMetricCacheMatchesBucketRun: the prefix sums give the columns that
// averaging every point gives (raw and EMA, linear and log, every axis),
// also after steps arrive and after the history is replaced.
func TestMetricCacheMatchesBucketRun(t *testing.T) {
	r := &runData{}
	add := func(from, to int) {
		for s := from; s <= to; s++ {
			v := 2 + math.Sin(float64(s)*0.3) + float64(s%17)*0.01
			if s%23 == 0 {
				v = math.NaN()
			}
			if s%31 == 0 {
				v = -1 // dropped on a log scale
			}
			wall := 0.0
			if n := len(r.points); n > 0 {
				wall = r.points[n-1].Wall
			}
			wall += 0.01 * (1.5 + math.Sin(float64(s))) // uneven steps, but time only moves on
			r.points = append(r.points, trainer.Point{Step: s, Tokens: int64(s) * 100, Wall: wall, Loss: v, GradNorm: v * 10})
		}
	}
	var mc metricCache
	check := func(when string) {
		t.Helper()
		for _, ax := range []xAxis{axisStep, axisTokens, axisWall} {
			for _, logY := range []bool{false, true} {
				for _, alpha := range []float64{0, 0.9} {
					for _, W := range []int{7, 50, 333} {
						pts := r.points
						x0 := ax.xOf(pts[0].Step, pts[0].Tokens, pts[0].Wall)
						q := pts[len(pts)-1]
						x1 := ax.xOf(q.Step, q.Tokens, q.Wall)
						scale := float64(W-1) / (x1 - x0)
						raw, smooth := bucketRun(pts, metGrad, ax, x0, scale, W, logY, alpha)
						want := raw
						if alpha > 0 {
							want = smooth
						}
						got := mc.sums(r, metGrad, logY, alpha).columns(pts, 0, ax, x0, scale, W)
						for c := range want {
							if math.IsNaN(want[c]) != math.IsNaN(got[c]) || math.Abs(want[c]-got[c]) > 1e-9*math.Max(1, math.Abs(want[c])) {
								t.Fatalf("%s: axis %v log %v alpha %v W %d column %d: cache %v, bucketRun %v", when, ax, logY, alpha, W, c, got[c], want[c])
							}
						}
					}
				}
			}
		}
		mc.sweep()
	}
	add(1, 500)
	check("first")
	add(501, 1700)
	check("after appending")
	r.points = r.points[:300] // a History fetch replaced the run's points
	add(301, 900)
	check("after a replaced history")
	mc.sweep()
	if len(mc.m) != 0 {
		t.Errorf("%d series kept after a frame that drew none", len(mc.m))
	}
}

// TestMetricsSeriesKey: v cannot apply to the metrics view; it says so and
// changes nothing.
func TestMetricsSeriesKey(t *testing.T) {
	m := newTestModel(t, metricsLab(t), 80, 24)
	keys(t, m, "m", "v")
	if m.chart.series != seriesBoth {
		t.Errorf("series changed to %v in the metrics view", m.chart.series)
	}
	if !m.statusErr || !strings.Contains(m.status, "own chart") {
		t.Errorf("status %q: want an error saying v does not apply", m.status)
	}
	keys(t, m, "M", "v") // back on the loss chart, v works
	if m.chart.series != seriesTrain {
		t.Errorf("v on the loss chart: series %v, want train", m.chart.series)
	}
}

// TestMetricsAutoLog: the hot run's logits span four decades, so that chart
// is log-scaled; LR and loss are not, until L forces it.
func TestMetricsAutoLog(t *testing.T) {
	m := newTestModel(t, metricsLab(t), 200, 50)
	visible := func() []chartRun {
		var out []chartRun
		for _, cr := range m.chartRuns() {
			if !cr.r.hidden {
				out = append(out, cr)
			}
		}
		return out
	}
	vis := visible()
	for _, c := range []struct {
		k      metric
		forced bool
		want   bool
	}{{metLogit, false, true}, {metGrad, false, false}, {metLoss, false, false}, {metLoss, true, true}, {metTokS, false, false}} {
		if got := autoLog(vis, c.k, -1, c.forced, &metricCache{}); got != c.want {
			t.Errorf("autoLog(%v, forced=%v) = %v, want %v", c.k, c.forced, got, c.want)
		}
	}
	// Hiding the hot run: the remaining logits span less than two decades.
	keys(t, m, "j", "j", "j", "space")
	if autoLog(visible(), metLogit, -1, false, &metricCache{}) {
		t.Error("logits of the healthy runs drawn on a log scale")
	}
}

// TestMetricsHostileValues: NaN, Inf, 1e300, zero and negative values in
// every metric, every view, many sizes; every frame keeps its shape.
func TestMetricsHostileValues(t *testing.T) {
	f := metricsLab(t)
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e300, -1e300, 0, -3, 1e-300, math.MaxFloat64}
	for id, h := range f.hist {
		for i := range h.Points {
			if i%7 == int(id) {
				v := bad[i%len(bad)]
				p := &h.Points[i]
				p.Loss, p.GradNorm, p.MaxLogit, p.LR, p.TokPerSec = v, v, v, v, v
			}
		}
		for i := range h.Evals {
			if i%3 == 0 {
				h.Evals[i].ValLoss, h.Evals[i].Recall = bad[i%len(bad)], bad[(i+1)%len(bad)]
			}
		}
		f.hist[id] = h
	}
	// A run with nothing but non-finite values.
	spec := mustBuild(t, "allbad", "variant", "mha")
	f.addRun(5, fixtureRun{spec: spec, from: 1, to: 20, state: trainer.Diverged, divAt: 1, loss: func(int) float64 { return math.NaN() }})
	sizes := [][2]int{{20, 3}, {40, 10}, {60, 16}, {80, 24}, {120, 40}, {160, 48}, {200, 50}, {240, 70}}
	for _, sz := range sizes {
		for _, color := range []bool{false, true} {
			m := newTestModel(t, f, sz[0], sz[1], func(o *Options) { o.NoColor = !color })
			for i := 0; i < 10; i++ {
				frame(t, m)
				keys(t, m, "m")
			}
			keys(t, m, "L", "e", "x", "z")
			for i := 0; i < 10; i++ {
				frame(t, m)
				keys(t, m, "m")
			}
		}
	}
	for _, v := range []float64{0, 1e-12, 1e-3, 0.5, 12, 99999, 1e5, 1e300, -1e300, -0.25, math.SmallestNonzeroFloat64} {
		for _, span := range []float64{0, 1e-9, 1, 1e6} {
			if s := fmtAxis(v, span); len(s) > 7 {
				t.Errorf("fmtAxis(%g, %g) = %q, more than 7 cells", v, span, s)
			}
		}
	}
}

// TestGridShape: cells never fall under the minimum, all charts fit when
// they can, and a small area still gets one chart.
func TestGridShape(t *testing.T) {
	for _, c := range []struct{ n, w, h, cols, rows int }{
		{6, 133, 40, 2, 3}, {6, 200, 30, 3, 2}, {7, 133, 40, 3, 3}, {6, 80, 20, 2, 2}, {6, 30, 5, 1, 1}, {1, 200, 50, 1, 1},
	} {
		cols, rows := gridShape(c.n, c.w, c.h)
		if cols != c.cols || rows != c.rows {
			t.Errorf("gridShape(%d, %d, %d) = %dx%d, want %dx%d", c.n, c.w, c.h, cols, rows, c.cols, c.rows)
		}
	}
}

// TestSpikeCounts: the table counts spike episodes per run from events,
// and the marks show on the charts' axes.
func TestSpikeCounts(t *testing.T) {
	m := newTestModel(t, metricsLab(t), 200, 50)
	for id, want := range map[trainer.RunID][2]int{1: {0, 1}, 2: {0, 0}, 4: {1, 1}} {
		ls, gs := spikeCounts(m.st.runs[id])
		if ls != want[0] || gs != want[1] {
			t.Errorf("run %d: spikes %d/%d, want %d/%d", id, ls, gs, want[0], want[1])
		}
	}
	fr := frame(t, m)
	if !strings.Contains(fr, "spikes") || !strings.Contains(fr, "1/1") {
		t.Errorf("the wide table has no spikes column with 1/1:\n%s", fr)
	}
	if !strings.Contains(fr, "grad-norm spike: 3.0") {
		t.Errorf("the events panel does not list the spike:\n%s", fr)
	}
	keys(t, m, "m")
	fr = frame(t, m)
	axisWithG, axisWithCaret := 0, 0
	for _, l := range strings.Split(fr, "\n") {
		for _, cell := range strings.Split(l, "│") {
			if strings.Contains(cell, "└") {
				if strings.Contains(cell, "G") {
					axisWithG++
				}
				if strings.Contains(cell, "^") {
					axisWithCaret++
				}
			}
		}
	}
	if axisWithG < 6 || axisWithCaret < 6 {
		t.Errorf("spike marks on %d (G) and %d (^) chart axes, want every chart of the grid:\n%s", axisWithG, axisWithCaret, fr)
	}
}

// layersFake adds per-layer history to the fake lab.
type layersFake struct {
	*fakeLab
	err error
}

func (f *layersFake) LayerStats(id trainer.RunID) (trainer.LayerStats, error) {
	_ = f.record("layers %d", id)
	if f.err != nil {
		return trainer.LayerStats{}, f.err
	}
	s := trainer.LayerStats{Layers: 2, MaxLogit: make([][]float32, 2), GradNorm: make([][]float32, 2)}
	for step := 1; step <= 57; step++ {
		s.Steps = append(s.Steps, step)
		for l := 0; l < 2; l++ {
			x := float64(step)
			// Layer 1 blows up first.
			s.MaxLogit[l] = append(s.MaxLogit[l], float32(5*math.Pow(10, x/float64(14+10*(1-l)))))
			s.GradNorm[l] = append(s.GradNorm[l], float32(0.5+float64(l)+math.Pow(x/float64(30-10*l), 3)))
		}
	}
	return s, nil
}

// TestLayers: d asks the lab for the selected run's per-layer history and
// draws it; a lab without it, or an error, says so.
func TestLayers(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		name := fmt.Sprintf("layers_%dx%d", sz[0], sz[1])
		t.Run(name, func(t *testing.T) {
			lab := &layersFake{fakeLab: metricsLab(t)}
			m := newTestModel(t, lab, sz[0], sz[1])
			keys(t, m, "j", "j", "j")
			// The poll Cmd runs once (keys feeds its answer back); the
			// answer arms the next poll as a tick, which keys does not wait for.
			_, cmd := m.Update(press("d"))
			msg := exec(t, cmd)
			if lm, ok := msg.(layersMsg); !ok || lm.run != 4 {
				t.Fatalf("d returned %#v, want a per-layer answer for run 4", msg)
			}
			_, next := m.Update(msg)
			if next == nil {
				t.Error("no next poll armed while the detail shows")
			}
			golden(t, name, frame(t, m))
			m.Update(press("d"))
			if m.layers.on {
				t.Error("d did not close the detail")
			}
			if _, next := m.Update(msg); next != nil {
				t.Error("a late answer re-armed polling after d closed the detail")
			}
		})
	}
	m := newTestModel(t, metricsLab(t), 80, 24)
	keys(t, m, "d")
	if m.layers.on || !m.statusErr || !strings.Contains(m.status, "per-layer") {
		t.Errorf("a lab without per-layer history: on=%v status %q", m.layers.on, m.status)
	}
	lab := &layersFake{fakeLab: metricsLab(t), err: fmt.Errorf("run mha trains on cuda; per-layer detail is measured on the CPU only")}
	m = newTestModel(t, lab, 80, 24)
	_, cmd := m.Update(press("d"))
	m.Update(exec(t, cmd))
	if fr := frame(t, m); !strings.Contains(fr, "CPU only") {
		t.Errorf("the lab's error is not shown:\n%s", fr)
	}
	_ = tea.Quit
}

// BenchmarkMetricsGrid is one full frame with the metrics grid: 8 runs x
// 20,000 points per metric (train loss, grad norm, max logit, LR, tok/s;
// val loss every 25 steps), table and side panel included. Target: under
// 10 ms. cpu-ms/frame is the process's CPU time per frame, which a shared
// machine does not inflate the way it does wall time.
func BenchmarkMetricsGrid(b *testing.B) {
	for _, sz := range [][2]int{{200, 50}, {240, 70}} {
		for _, smooth := range []bool{false, true} {
			b.Run(fmt.Sprintf("8x20k/%dx%d/ema=%v", sz[0], sz[1], smooth), func(b *testing.B) {
				f := benchLab(b)
				for id, h := range f.hist {
					for i := range h.Points {
						p := &h.Points[i]
						s := float64(p.Step)
						p.GradNorm = 1 + math.Abs(math.Sin(s*0.01*float64(id)))
						p.MaxLogit = 10 * math.Pow(10, s/20000*float64(id)/2)
					}
					f.hist[id] = h
				}
				m := newTestModel(b, f, sz[0], sz[1], func(o *Options) { o.NoColor = false })
				keys(b, m, "m")
				if m.chart.view != viewGrid {
					b.Fatalf("view %v, want the grid", m.chart.view)
				}
				if smooth {
					m.chart.smooth = 2
				}
				b.ResetTimer()
				c0 := cpuTime()
				for b.Loop() {
					m.redraw()
				}
				if c := cpuTime() - c0; c > 0 {
					b.ReportMetric(float64(c.Microseconds())/1000/float64(b.N), "cpu-ms/frame")
				}
			})
		}
	}
}

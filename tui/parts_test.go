package tui

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
	"github.com/mealab/mealab/trainer"
)

func pointsOf(losses ...float64) []trainer.Point {
	var ps []trainer.Point
	for i, l := range losses {
		ps = append(ps, trainer.Point{Run: 1, Step: i + 1, Tokens: int64(i+1) * 10, Wall: float64(i + 1), Loss: l})
	}
	return ps
}

func chartOf(rs ...*runData) []chartRun {
	var out []chartRun
	for i, r := range rs {
		r.color = i
		out = append(out, chartRun{r: r, label: string(rune('1' + i))})
	}
	return out
}

// TestChartGuards feeds asciigraph's known failure cases (no data, all
// NaN, Inf, a single point, a flat line, non-positive values on a log
// scale) through the chart; none may panic and each frame must fit.
func TestChartGuards(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := map[string][]trainer.Point{
		"empty":        nil,
		"all NaN":      pointsOf(nan, nan, nan),
		"Inf and NaN":  pointsOf(3, inf, nan, 2, -inf, 1),
		"single point": pointsOf(2.5),
		"flat":         pointsOf(1, 1, 1, 1),
		"zero and neg": pointsOf(0, -1, 2, 1),
	}
	for name, pts := range cases {
		for _, cs := range []chartState{{}, {logY: true}, {smooth: 3}, {axis: axisWall, zoom: 7}, {axis: axisTokens, series: seriesVal}} {
			r := &runData{points: pts, evals: []trainer.EvalPoint{{Step: 1, ValLoss: nan}, {Step: 2, ValLoss: inf}}}
			lines := renderChart(chartOf(r), cs, 60, 12, newTheme(false))
			if len(lines) != 12 {
				t.Errorf("%s %+v: %d lines, want 12", name, cs, len(lines))
			}
			for _, l := range lines {
				if w := ansi.StringWidth(l); w > 60 {
					t.Errorf("%s %+v: line of %d cells: %q", name, cs, w, l)
				}
			}
		}
	}
	r := &runData{points: pointsOf(nan, nan)}
	if got := strings.Join(renderChart(chartOf(r), chartState{}, 60, 12, newTheme(false)), "\n"); !strings.Contains(got, "waiting for the first training step") {
		t.Errorf("all-NaN chart should say it is waiting:\n%s", got)
	}
}

// TestBucketRun checks the downsampling keeps the data's shape: column
// means, the first and last values in the outer columns, and gaps joined.
func TestBucketRun(t *testing.T) {
	var losses []float64
	for i := 0; i < 1000; i++ {
		losses = append(losses, float64(i))
	}
	pts := pointsOf(losses...)
	raw, smooth := bucketRun(pts, metLoss, axisStep, 1, 9.0/999, 10, false, 0)
	if smooth != nil || len(raw) != 10 {
		t.Fatalf("got %d columns and smoothing %v", len(raw), smooth != nil)
	}
	for c := 1; c < 10; c++ {
		if !(raw[c] > raw[c-1]) {
			t.Errorf("column %d = %g not above column %d = %g: the rising shape is lost", c, raw[c], c-1, raw[c-1])
		}
	}
	if math.Abs(raw[0]-27.5) > 1e-9 { // values 0..55 land in column 0
		t.Errorf("column 0 mean %g, want 27.5", raw[0])
	}
	// Two points far apart: the columns between are joined linearly.
	raw, _ = bucketRun(pointsOf(1, 3), metLoss, axisStep, 1, 4, 5, false, 0)
	want := []float64{1, 1.5, 2, 2.5, 3}
	for i := range want {
		if math.Abs(raw[i]-want[i]) > 1e-9 {
			t.Errorf("joined column %d = %g, want %g", i, raw[i], want[i])
		}
	}
	// The bias-corrected EMA of a constant is that constant from step 1.
	_, smooth = bucketRun(pointsOf(2, 2, 2, 2), metLoss, axisStep, 1, 1, 4, false, 0.9)
	for i, v := range smooth {
		if math.Abs(v-2) > 1e-9 {
			t.Errorf("EMA column %d = %g, want 2", i, v)
		}
	}
	// Non-finite losses are skipped, not averaged in.
	raw, _ = bucketRun(pointsOf(1, math.NaN(), math.Inf(1), 1), metLoss, axisStep, 1, 0, 1, false, 0)
	if raw[0] != 1 {
		t.Errorf("mean with NaN/Inf = %g, want 1", raw[0])
	}
}

func TestEventMarkers(t *testing.T) {
	r := &runData{points: pointsOf(make([]float64, 100)...),
		events: []trainer.Event{{Step: 50, Kind: "surgery"}, {Step: 50, Kind: "fork"}, {Step: 100, Kind: "lr"}, {Step: 10, Kind: "pause"}}}
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
	if strings.Count(axis, "S") != 1 || strings.Count(axis, "L") != 1 || strings.Contains(axis, "F") {
		t.Errorf("axis %q: want one S (surgery wins over fork at the same step) and one L, no pause mark", axis)
	}
	if i, j := strings.Index(axis, "S"), strings.Index(axis, "L"); !(i > 0 && j > i) {
		t.Errorf("marks out of order in %q", axis)
	}
}

// TestStoreTakesPulls: the UI's copy follows the lab's journal exactly:
// news is appended, a Reset replaces, a run the lab no longer lists is
// dropped, and one the person removed does not come back from a pull that
// was under way.
func TestStoreTakesPulls(t *testing.T) {
	j := trainer.NewJournal(64)
	s := newStore()
	var cur trainer.Cursor
	sync := func() {
		ch := j.Since(cur)
		s.take(ch)
		cur = ch.Next
	}
	j.Add(trainer.RunInfo{ID: 1, Name: "a"}, trainer.History{Points: pointsOf(3, 2.9)})
	j.Add(trainer.RunInfo{ID: 2, Name: "b"}, trainer.History{})
	sync()
	j.Put(trainer.Event{Run: 1, Step: 2, Kind: "lr"})
	for i := 3; i <= 100; i++ { // past the limit: the journal thins and resets
		j.Put(trainer.Point{Run: 1, Step: i, Loss: 1})
		j.Put(trainer.RunInfo{ID: 1, Name: "a", Step: i})
		if i%7 == 0 {
			sync()
		}
		if i%3 == 0 {
			j.Put(trainer.Sample{Run: 1, Step: i})
		}
	}
	sync()
	h, _ := j.History(1)
	r := s.runs[1]
	if len(r.points) != len(h.Points) || r.points[len(r.points)-1].Step != 100 || len(r.events) != 1 {
		t.Fatalf("the UI holds %d points (journal %d) and %d events", len(r.points), len(h.Points), len(r.events))
	}
	for i := range h.Points {
		if r.points[i] != h.Points[i] {
			t.Fatalf("point %d: UI %+v, journal %+v", i, r.points[i], h.Points[i])
		}
	}
	if r.info.Step != 100 || len(r.samples) != maxSamples || r.samples[maxSamples-1].Step != 99 {
		t.Errorf("info step %d, %d samples (last at %d)", r.info.Step, len(r.samples), r.samples[len(r.samples)-1].Step)
	}
	stale := j.Since(cur) // a pull under way while the person removes run 2
	s.remove(2)
	s.take(stale)
	if s.runs[2] != nil || slices.Contains(s.order, 2) {
		t.Error("a removed run came back from a pull that was under way")
	}
	j.Remove(1)
	sync()
	if s.runs[1] != nil || len(s.order) != 0 {
		t.Errorf("a run the lab removed is still held: %v", s.order)
	}
}

func TestSampleCheckFlagsMismatch(t *testing.T) {
	r := &runData{info: trainer.RunInfo{Name: "x"}, samples: []trainer.Sample{{Step: 3, CacheBytes: 100, FormulaBytes: 100, CacheTokens: 2}}}
	if got := sampleCheck(r, newTheme(false)); !strings.Contains(got, "✓") || strings.Contains(got, "MISMATCH") {
		t.Errorf("agreeing cache: %q", got)
	}
	r.samples[0].CacheBytes = 200
	if got := sampleCheck(r, newTheme(false)); !strings.Contains(got, "MISMATCH") {
		t.Errorf("disagreeing cache not flagged: %q", got)
	}
}

func TestKVBaseline(t *testing.T) {
	mk := func(v string, b int64) *runData {
		return &runData{info: trainer.RunInfo{Variant: v, KVBytesPerToken: b}}
	}
	gqa, mha, big := mk("GQA G=2", 512), mk("MHA", 1024), mk("MEA", 4096)
	if got := kvBaseline([]*runData{gqa, big, mha}); got != mha {
		t.Errorf("baseline %v, want the MHA run", got.info)
	}
	if got := kvBaseline([]*runData{gqa, big}); got != big {
		t.Errorf("without MHA, baseline %v, want the largest cache", got.info)
	}
	if got := savingText(256, 1024); got != "saves 75%" {
		t.Errorf("saving %q", got)
	}
}

func TestLayoutColumnsDropsByPriority(t *testing.T) {
	specs := []colSpec{{title: "name", prio: 1}, {title: "extra", prio: 5}, {title: "value", prio: 2, right: true}}
	cells := [][]string{{"alpha", "something long", "1.0"}}
	head, rows := layoutColumns(specs, cells, 14)
	if strings.Contains(head, "extra") || !strings.Contains(head, "value") {
		t.Errorf("header %q: the low-priority column should go first", head)
	}
	if w := ansi.StringWidth(rows[0]); w > 14 {
		t.Errorf("row %q is %d wide", rows[0], w)
	}
}

func TestFormatting(t *testing.T) {
	cases := []struct{ got, want string }{
		{fmtLR(3e-3), "3e-3"}, {fmtLR(2.5e-4), "2.5e-4"}, {fmtLoss(math.NaN()), "-"}, {fmtLoss(math.Inf(1)), "inf"},
		{fmtLoss(1.23456), "1.235"}, {fmtBytes(1024), "1.0 KiB"}, {fmtBytes(256), "256 B"}, {fmtBytes(16 << 20), "16.0 MiB"},
		{fmtRate(12345), "12k"}, {fmtRate(1234), "1.2k"}, {fmtCount(153600), "153.6k"}, {fmtDuration(200), "3m20s"},
		{fmtInt(1234567), "1,234,567"}, {fit("abcdef", 4), "abc…"}, {padLeft("ab", 4), "  ab"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

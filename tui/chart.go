package tui

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/guptarohit/asciigraph"
	"github.com/mealab/mealab/trainer"
)

// xAxis is what the chart's horizontal axis measures.
type xAxis int

const (
	axisStep xAxis = iota
	axisTokens
	axisWall
	numAxes
)

func (a xAxis) String() string {
	switch a {
	case axisTokens:
		return "tokens"
	case axisWall:
		return "time"
	}
	return "step"
}

// seriesSel picks which curves are drawn.
type seriesSel int

const (
	seriesBoth seriesSel = iota
	seriesTrain
	seriesVal
	numSeries
)

func (s seriesSel) String() string {
	switch s {
	case seriesTrain:
		return "train"
	case seriesVal:
		return "val"
	}
	return "train+val"
}

// The smoothing factors and zoom windows the keys step through. EMA 0.9 is
// TensorBoard's customary default; zoom windows are in steps.
var (
	smoothings = []float64{0, 0.6, 0.9, 0.97}
	zooms      = []int{0, 5000, 2000, 1000, 500, 200, 100, 50}
)

// chartState is the chart's settings, changed by keys.
type chartState struct {
	axis   xAxis
	smooth int // index into smoothings
	logY   bool
	zoom   int // index into zooms
	series seriesSel
	// view is what the Overview's chart area shows: the loss chart, the
	// metrics grid or one metric (see metrics.go); m and M cycle it.
	view chartView
	band bandMode // how seeded groups are drawn (groups.go)
}

func (c chartState) describe() string {
	parts := []string{"x=" + c.axis.String()}
	if a := smoothings[c.smooth]; a > 0 {
		parts = append(parts, fmt.Sprintf("EMA %.2g", a))
	} else {
		parts = append(parts, "raw")
	}
	if c.logY {
		parts = append(parts, "log y")
	}
	if n := zooms[c.zoom]; n > 0 {
		parts = append(parts, fmt.Sprintf("last %d steps", n))
	}
	parts = append(parts, c.series.String())
	return strings.Join(parts, " · ")
}

// xOf places a training point on the axis.
func (a xAxis) xOf(step int, tokens int64, wall float64) float64 {
	switch a {
	case axisTokens:
		return float64(tokens)
	case axisWall:
		return wall
	}
	return float64(step)
}

func (a xAxis) format(x float64) string {
	switch a {
	case axisWall:
		return fmtDuration(x)
	}
	return fmtCount(x)
}

// chartRun is one run as the chart sees it.
type chartRun struct {
	r     *runData
	label string // its number in the table (1-based)
}

// chartSeries is one line handed to asciigraph.
type chartSeries struct {
	ys    []float64
	color asciigraph.AnsiColor
	chars asciigraph.CharSet
}

var (
	valChars = asciigraph.CharSet{Horizontal: "╌", VerticalLine: "╎"}
)

// eventLetter is how an event is marked on the axis; "" means not marked
// (state changes are shown in the table instead).
func eventLetter(kind string) string {
	switch kind {
	case "surgery":
		return "S"
	case "fork":
		return "F"
	case "lr":
		return "L"
	case "diverged":
		return "!"
	case "error":
		return "E"
	case trainer.LossSpike:
		return "^"
	case trainer.GradSpike:
		return "G"
	case "refused", "skipped": // scheduled surgery that did not happen
		return "R"
	}
	return ""
}

// markRank decides which event letter wins a shared column: divergence,
// then surgery, then LR changes, then forks (a fork's child shows S), then
// loss spikes and grad-norm spikes (the most frequent, so the least news).
func markRank(l string) int {
	switch l {
	case "!":
		return 7
	case "S":
		return 6
	case "E", "R":
		return 5
	case "L":
		return 4
	case "F":
		return 3
	case "^":
		return 2
	case "G":
		return 1
	}
	return 0
}

// renderChart draws the selected runs' loss curves into exactly h lines of
// at most w cells.
func renderChart(runs []chartRun, cs chartState, w, h int, th theme) []string {
	lines := make([]string, 0, h)
	if w < 20 || h < 2 {
		for range h {
			lines = append(lines, "")
		}
		return lines
	}
	title := style(th.bold, "Loss") + " " + style(th.dim, cut(cs.describe(), w-6))

	// Which extras fit around the plot, in order of priority.
	extra := map[string]bool{}
	budget := h - 3 // the plot keeps at least 3 lines
	for _, e := range []string{"axis", "legend", "title", "events"} {
		need := 1
		if e == "axis" {
			need = 2
		}
		if budget >= need {
			extra[e] = true
			budget -= need
		}
	}
	plotH := h
	for e, on := range extra {
		if on {
			plotH--
			if e == "axis" {
				plotH--
			}
		}
	}

	var vis []chartRun
	for _, cr := range runs {
		if !cr.r.hidden {
			vis = append(vis, cr)
		}
	}
	msg := ""
	if len(runs) == 0 {
		msg = "no runs yet: n starts one, P starts a preset"
	} else if len(vis) == 0 {
		msg = "no runs on the chart: space shows the selected run, a shows all"
	}

	var plot []string
	var dataStart, W int
	var x0, x1 float64
	var series []chartSeries
	if msg == "" {
		// Label width is fixed before plotting, so the data width is known.
		W = w - 10 // 7-cell labels, a space, the axis, a spare column
		series, x0, x1 = buildSeries(vis, cs, W, th)
		lo, hi, ok := seriesRange(series)
		if !ok {
			msg = "waiting for the first training step…"
		} else {
			plot, dataStart = plotSeries(series, lo, hi, cs.logY, W, plotH, th)
		}
	}
	if msg != "" {
		if extra["title"] {
			lines = append(lines, title)
		}
		for len(lines) < h {
			if len(lines) == h/2 {
				lines = append(lines, "  "+style(th.dim, cut(msg, w-2)))
				continue
			}
			lines = append(lines, "")
		}
		return lines
	}
	if extra["title"] {
		lines = append(lines, title)
	}
	lines = append(lines, plot...)
	if extra["axis"] {
		axis, ticks := xAxisLines(vis, cs, x0, x1, dataStart, W, w, th)
		lines = append(lines, axis, ticks)
	}
	if extra["legend"] {
		lines = append(lines, legendLine(vis, cs, w, th))
	}
	if extra["events"] {
		lines = append(lines, eventsLine(vis, w, th))
	}
	return lines
}

// window returns the run's points and evals inside the zoom window.
func window(r *runData, minStep int) ([]trainer.Point, []trainer.EvalPoint) {
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i].Step > minStep })
	j := sort.Search(len(r.evals), func(i int) bool { return r.evals[i].Step >= minStep })
	return r.points[i:], r.evals[j:]
}

// minStepOf is the first step the zoom window shows.
func minStepOf(vis []chartRun, cs chartState) int {
	n := zooms[cs.zoom]
	if n == 0 {
		return -1
	}
	maxStep := 0
	for _, cr := range vis {
		if k := len(cr.r.points); k > 0 {
			maxStep = max(maxStep, cr.r.points[k-1].Step)
		}
	}
	return maxStep - n
}

// buildSeries turns the runs' histories into W-column series: per column
// the mean of the values that fall in it (so spikes still show), gaps
// between columns with data joined linearly, NaN outside a run's range.
func buildSeries(vis []chartRun, cs chartState, W int, th theme) (out []chartSeries, x0, x1 float64) {
	minStep := minStepOf(vis, cs)
	x0, x1 = math.Inf(1), math.Inf(-1)
	for _, cr := range vis {
		pts, evs := window(cr.r, minStep)
		if len(pts) > 0 {
			x0 = math.Min(x0, cs.axis.xOf(pts[0].Step, pts[0].Tokens, pts[0].Wall))
			p := pts[len(pts)-1]
			x1 = math.Max(x1, cs.axis.xOf(p.Step, p.Tokens, p.Wall))
		}
		if cs.series != seriesTrain {
			for _, e := range evs {
				x := cs.axis.xOf(e.Step, e.Tokens, e.Wall)
				x0, x1 = math.Min(x0, x), math.Max(x1, x)
			}
		}
	}
	if !finite(x0) || !finite(x1) {
		return nil, 0, 1
	}
	if x1 <= x0 {
		x1 = x0 + 1
	}
	col := func(x float64) int {
		c := int((x-x0)/(x1-x0)*float64(W-1) + 0.5)
		return min(max(c, 0), W-1)
	}
	tr := func(v float64) float64 {
		if cs.logY {
			if v <= 0 {
				return math.NaN()
			}
			return math.Log10(v)
		}
		return v
	}
	alpha := smoothings[cs.smooth]
	scale := float64(W-1) / (x1 - x0)
	var raws, trains, vals []chartSeries
	singles, groups := splitBands(vis, cs)
	for _, g := range groups {
		b, v, t := g.series(cs, x0, x1, W, minStep, th)
		raws, vals, trains = append(raws, b...), append(vals, v...), append(trains, t...)
	}
	for _, cr := range singles {
		ci := cr.r.color
		pts, evs := window(cr.r, minStep)
		if cs.series != seriesVal && len(pts) > 0 {
			raw, smooth := bucketRun(pts, metLoss, cs.axis, x0, scale, W, cs.logY, alpha)
			color, chars := palette256[ci%len(palette256)], trainChars(ci, th)
			if alpha > 0 {
				raws = append(raws, chartSeries{ys: raw, color: paletteDim[ci%len(paletteDim)], chars: rawChars(th)})
				trains = append(trains, chartSeries{ys: smooth, color: color, chars: chars})
			} else {
				trains = append(trains, chartSeries{ys: raw, color: color, chars: chars})
			}
		}
		if cs.series != seriesTrain && len(evs) > 0 {
			ys := nanSlice(W)
			for _, e := range evs {
				if v := tr(e.ValLoss); finite(v) {
					ys[col(cs.axis.xOf(e.Step, e.Tokens, e.Wall))] = v
				}
			}
			joinGaps(ys)
			vals = append(vals, chartSeries{ys: ys, color: palette256[ci%len(palette256)], chars: valCharsFor(cr.label, th)})
		}
	}
	// Raw lines go underneath; training curves are drawn last so the dense
	// data stays on top of the sparse, interpolated validation line.
	out = append(append(append(out, raws...), vals...), trains...)
	return out, x0, x1
}

func rawChars(th theme) asciigraph.CharSet {
	if th.color {
		return asciigraph.DefaultCharSet
	}
	return asciigraph.CreateCharSet(".")
}

func trainChars(ci int, th theme) asciigraph.CharSet {
	if th.color {
		return asciigraph.DefaultCharSet
	}
	return asciigraph.CreateCharSet(runGlyphs[ci%len(runGlyphs)])
}

func valCharsFor(label string, th theme) asciigraph.CharSet {
	if th.color {
		return valChars
	}
	return asciigraph.CreateCharSet(label[len(label)-1:])
}

func nanSlice(n int) []float64 {
	ys := make([]float64, n)
	for i := range ys {
		ys[i] = math.NaN()
	}
	return ys
}

// bucketRun averages a run's values of metric k (a per-step metric) per
// column in one pass: the raw values and, when alpha > 0, their
// bias-corrected EMA (TensorBoard's smoothing, computed on the
// full-resolution data before downsampling). Non-finite values (and
// overflowing ones, see plottable) are skipped, never averaged in; log
// scale takes log10 after smoothing so the EMA is of the values themselves.
func bucketRun(pts []trainer.Point, k metric, ax xAxis, x0, scale float64, W int, logY bool, alpha float64) (raw, smooth []float64) {
	rs, rc := make([]float64, W), make([]int32, W)
	var ss []float64
	var sc []int32
	if alpha > 0 {
		ss, sc = make([]float64, W), make([]int32, W)
	}
	ema, corr := 0.0, 1.0
	for i := range pts {
		p := &pts[i]
		v := k.point(p)
		if !plottable(v) {
			continue
		}
		var x float64
		switch ax {
		case axisTokens:
			x = float64(p.Tokens)
		case axisWall:
			x = p.Wall
		default:
			x = float64(p.Step)
		}
		c := int((x-x0)*scale + 0.5)
		if c < 0 {
			c = 0
		} else if c >= W {
			c = W - 1
		}
		lv := v
		if logY {
			if v <= 0 {
				continue
			}
			lv = math.Log10(v)
		}
		rs[c] += lv
		rc[c]++
		if alpha > 0 {
			ema = alpha*ema + (1-alpha)*v
			corr *= alpha
			sv := ema / (1 - corr)
			if logY {
				sv = math.Log10(sv)
			}
			ss[c] += sv
			sc[c]++
		}
	}
	mean := func(sum []float64, n []int32) []float64 {
		for c := range sum {
			if n[c] > 0 {
				sum[c] /= float64(n[c])
			} else {
				sum[c] = math.NaN()
			}
		}
		joinGaps(sum)
		return sum
	}
	raw = mean(rs, rc)
	if alpha > 0 {
		smooth = mean(ss, sc)
	}
	return raw, smooth
}

// joinGaps interpolates linearly across empty columns between columns with
// data, so sparse data (few points, evaluations) still draws as a line.
func joinGaps(ys []float64) {
	prev := -1
	for i, v := range ys {
		if math.IsNaN(v) {
			continue
		}
		if prev >= 0 && i-prev > 1 {
			a, b := ys[prev], v
			for k := prev + 1; k < i; k++ {
				t := float64(k-prev) / float64(i-prev)
				ys[k] = a + t*(b-a)
			}
		}
		prev = i
	}
}

// seriesRange is the min and max finite value over all series.
func seriesRange(ss []chartSeries) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, v := range s.ys {
			if finite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	return lo, hi, finite(lo) && finite(hi)
}

// plotSeries calls asciigraph on guarded copies and returns exactly h lines
// and the column where data starts.
func plotSeries(ss []chartSeries, lo, hi float64, logY bool, W, h int, th theme) ([]string, int) {
	if hi-lo < 1e-9 {
		lo, hi = lo-0.5, hi+0.5
	}
	return plotSeriesFmt(ss, lo, hi, W, h, th, lossLabels(lo, hi, logY))
}

// lossLabels formats the loss chart's y labels: decimals by span, 7 cells.
func lossLabels(lo, hi float64, logY bool) func(float64) string {
	labelW := 7
	decimals := 2
	switch span := hi - lo; {
	case logY:
		decimals = 3
	case span < 0.5:
		decimals = 3
	case span > 200:
		decimals = 0
	case span > 20:
		decimals = 1
	}
	format := func(v float64) string {
		if logY {
			v = math.Pow(10, v)
		}
		return padLeft(fmt.Sprintf("%.*f", decimals, v), labelW)
	}
	return format
}

// plotSeriesFmt plots with format writing 7-cell y labels (of the plotted,
// possibly log10, values).
func plotSeriesFmt(ss []chartSeries, lo, hi float64, W, h int, th theme, format func(float64) string) ([]string, int) {
	if hi-lo < 1e-9 {
		lo, hi = lo-0.5, hi+0.5
	}
	const labelW = 7
	data := make([][]float64, len(ss))
	opts := []asciigraph.Option{
		asciigraph.Height(max(h-1, 1)), asciigraph.Offset(2),
		asciigraph.LowerBound(lo), asciigraph.UpperBound(hi),
		asciigraph.YAxisValueFormatter(format),
	}
	var colors []asciigraph.AnsiColor
	var chars []asciigraph.CharSet
	for i, s := range ss {
		ys := make([]float64, W)
		for k := range ys {
			ys[k] = math.NaN()
			if k < len(s.ys) && finite(s.ys[k]) {
				ys[k] = math.Min(math.Max(s.ys[k], lo), hi)
			}
		}
		data[i] = ys
		colors = append(colors, s.color)
		chars = append(chars, s.chars)
	}
	if th.color {
		opts = append(opts, asciigraph.SeriesColors(colors...), asciigraph.AxisColor(asciigraph.Gray), asciigraph.LabelColor(asciigraph.Gray))
	}
	opts = append(opts, asciigraph.SeriesChars(chars...))
	out := strings.Split(asciigraph.PlotMany(data, opts...), "\n")
	// asciigraph's row count can be off by one from rounding; the layout
	// needs exactly h.
	for len(out) < h {
		out = append(out, "")
	}
	out = out[:h]
	// Data starts right after the axis character; measure it rather than
	// trust asciigraph's padding arithmetic.
	start := labelW + 2
	if r := []rune(ansi.Strip(out[0])); len(r) > 0 {
		for i, c := range r {
			if c == '┤' || c == '┼' {
				start = i + 1
				break
			}
		}
	}
	return out, start
}

// xAxisLines draws the axis with event markers and the tick labels.
func xAxisLines(vis []chartRun, cs chartState, x0, x1 float64, dataStart, W, w int, th theme) (string, string) {
	axis := []rune(strings.Repeat("─", W))
	labels := make([]string, W)
	minStep := minStepOf(vis, cs)
	for _, cr := range vis {
		for _, e := range cr.r.events {
			l := eventLetter(e.Kind)
			if l == "" || e.Step <= minStep {
				continue
			}
			x, ok := eventX(cr.r, e, cs.axis)
			if !ok || x < x0 || x > x1 {
				continue
			}
			c := int((x-x0)/(x1-x0)*float64(W-1) + 0.5)
			c = min(max(c, 0), W-1)
			if markRank(l) > markRank(labels[c]) {
				labels[c] = l
			}
		}
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", dataStart-1))
	b.WriteString(style(th.dim, "└"))
	run := []rune{}
	flush := func() {
		if len(run) > 0 {
			b.WriteString(style(th.dim, string(run)))
			run = run[:0]
		}
	}
	for c := range axis {
		if labels[c] != "" {
			flush()
			b.WriteString(style(th.warn, labels[c]))
			continue
		}
		run = append(run, axis[c])
	}
	flush()

	// Ticks: evenly spaced labels that do not overlap.
	tick := []rune(strings.Repeat(" ", dataStart+W+1))
	n := max(2, W/14)
	// Steps and tokens are whole numbers: early in a run (steps 0..3) the
	// labels sit at whole values, at most one per value, never "0 0 1 2 2".
	whole := cs.axis != axisWall && x1 > x0
	if whole {
		n = max(2, min(n, int(x1-x0)+1))
	}
	next, last := 0, ""
	for i := 0; i < n; i++ {
		c := int(math.Round(float64(i) * float64(W-1) / float64(n-1)))
		v := x0 + float64(c)/float64(max(W-1, 1))*(x1-x0)
		if whole {
			v = math.Round(v)
			c = int(math.Round((v - x0) / (x1 - x0) * float64(W-1)))
		}
		s := []rune(cs.axis.format(v))
		if string(s) == last {
			continue // a label that says what the one before says
		}
		pos := dataStart + c - len(s)/2
		if i == n-1 {
			pos = dataStart + c - len(s) + 1
		}
		if i == 0 {
			pos = dataStart + c
		}
		if pos < next || pos+len(s) > len(tick) {
			continue
		}
		copy(tick[pos:], s)
		next, last = pos+len(s)+1, string(s)
	}
	ticks := strings.TrimRight(string(tick), " ")
	if name := " " + cs.axis.String(); len([]rune(ticks))+len(name) <= w {
		ticks += name
	}
	return b.String(), style(th.dim, cut(ticks, w))
}

// eventX places an event on the axis via the point of its step.
func eventX(r *runData, e trainer.Event, ax xAxis) (float64, bool) {
	if ax == axisStep {
		return float64(e.Step), true
	}
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i].Step >= e.Step })
	if i < len(r.points) {
		p := r.points[i]
		return ax.xOf(p.Step, p.Tokens, p.Wall), true
	}
	if n := len(r.points); n > 0 {
		p := r.points[n-1]
		return ax.xOf(p.Step, p.Tokens, p.Wall), true
	}
	return 0, false
}

// legendLine names the overlaid runs in their colours (or glyphs).
func legendLine(vis []chartRun, cs chartState, w int, th theme) string {
	var parts []string
	singles, groups := splitBands(vis, cs)
	for _, g := range groups {
		parts = append(parts, groupLegend(g, th))
	}
	for _, cr := range singles {
		m := th.mark(cr.r.color)
		if !th.color {
			m = runGlyphs[cr.r.color%len(runGlyphs)] + cr.label[len(cr.label)-1:]
		}
		parts = append(parts, m+" "+th.run(cr.r.color, cr.r.info.Name))
	}
	key := "─ train  ╌ val"
	if smoothings[cs.smooth] > 0 {
		key += "  (faint: raw)"
	}
	if !th.color {
		key = "glyph=train digit=val"
		if smoothings[cs.smooth] > 0 {
			key += " .=raw"
		}
	}
	if len(groups) > 0 {
		edge := "·"
		if !th.color {
			edge = ":"
		}
		key = cs.band.String() + " (" + edge + " band) · g  " + key
	}
	line := strings.Join(parts, "  ")
	if width(line)+2+len([]rune(key)) <= w {
		line += "  " + style(th.dim, key)
	}
	return clip(line, w)
}

// isSpike tells a loss or grad-norm spike warning (frequent, automatic)
// from news: surgery, refusals, LR changes, forks, divergence.
func isSpike(kind string) bool { return kind == trainer.LossSpike || kind == trainer.GradSpike }

// newsFirst orders events for the events line and panel: news before spike
// warnings, so that a stream of spikes on a fast machine never pushes the
// surgery a person just applied out of sight; within each, newest first,
// and at the same step the weightier mark first.
func newsFirst(a, b trainer.Event) bool {
	if sa, sb := isSpike(a.Kind), isSpike(b.Kind); sa != sb {
		return sb
	}
	if a.Step != b.Step {
		return a.Step > b.Step
	}
	return markRank(eventLetter(a.Kind)) > markRank(eventLetter(b.Kind))
}

// eventsLine lists the marked events that fit: news (surgery, refusals, LR
// changes, forks, divergence) newest first, then spike warnings newest first.
func eventsLine(vis []chartRun, w int, th theme) string {
	type ev struct {
		e    trainer.Event
		name string
	}
	var evs []ev
	for _, cr := range vis {
		for _, e := range cr.r.events {
			if eventLetter(e.Kind) != "" {
				evs = append(evs, ev{e, cr.r.info.Name})
			}
		}
	}
	if len(evs) == 0 {
		return style(th.dim, cut("events: none yet (S surgery, F fork, L lr change, R surgery refused, ! diverged)", w))
	}
	sort.SliceStable(evs, func(i, j int) bool { return newsFirst(evs[i].e, evs[j].e) })
	var parts []string
	used := 0
	for _, x := range evs {
		s := fmt.Sprintf("%s@%d %s: %s", eventLetter(x.e.Kind), x.e.Step, x.name, x.e.Detail)
		if used > 0 && used+3+width(s) > w {
			break
		}
		parts = append(parts, s)
		used += width(s) + 3
	}
	return cut(strings.Join(parts, " · "), w)
}

package tui

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/trainer"
)

// The metrics view: every signal the trainer measures, as charts next to
// the loss, for the stability questions (does a larger LR blow the
// attention logits up? does the gradient norm jump before the loss?). It
// is a mode of the Overview's chart area: m cycles the loss chart, the
// grid of all metrics (where the terminal is large enough) and each metric
// alone; the table, the events panel and the chart keys (x, e, L, z) stay.

// metric is one signal, one chart of the metrics view.
type metric int

const (
	metLoss   metric = iota // training loss of the step
	metVal                  // validation loss (evaluations)
	metGrad                 // global gradient norm before clipping
	metLogit                // largest |attention logit| over layers and heads
	metLR                   // learning rate of the step
	metTokS                 // training tokens per second
	metRecall               // MQAR recall (evaluations; recall tasks only)
	numMetrics
)

var metricNames = [numMetrics]string{"train loss", "val loss", "grad norm", "max logit", "LR", "tok/s", "recall"}

func (k metric) String() string { return metricNames[k] }

// eval reports whether the metric comes from evaluations, not steps.
func (k metric) eval() bool { return k == metVal || k == metRecall }

// point is the metric's value at a training step.
func (k metric) point(p *trainer.Point) float64 {
	switch k {
	case metGrad:
		return p.GradNorm
	case metLogit:
		return p.MaxLogit
	case metLR:
		return p.LR
	case metTokS:
		return p.TokPerSec
	}
	return p.Loss
}

// evalOf is the metric's value at an evaluation.
func (k metric) evalOf(e *trainer.EvalPoint) float64 {
	if k == metRecall {
		return e.Recall
	}
	return e.ValLoss
}

// smoothed reports whether EMA smoothing applies: not to the LR (a
// schedule, not a noisy measurement) nor to sparse evaluations.
func (k metric) smoothed() bool { return !k.eval() && k != metLR }

// plottable is a value a chart can place: finite and not so large that
// the axis arithmetic overflows (a diverged run reaches 1e38 and beyond).
func plottable(v float64) bool { return !math.IsNaN(v) && math.Abs(v) < 1e100 }

// chartView is what the chart area shows.
type chartView int

const (
	viewLoss chartView = iota // the loss chart (train and val overlaid)
	viewGrid                  // every metric at once
	viewOne                   // viewOne + k: metric k alone
)

func (v chartView) metric() metric { return metric(v - viewOne) }

// The grid needs cells of at least this many cells and lines.
const (
	gridCellW = 36
	gridCellH = 8
)

// metricsOf lists the metrics that apply to the runs: recall only when
// some run is a recall task.
func metricsOf(runs []*runData) []metric {
	out := []metric{metLoss, metVal, metGrad, metLogit, metLR, metTokS}
	for _, r := range runs {
		if finite(r.info.Recall) {
			return append(out, metRecall)
		}
		for i := range r.evals {
			if finite(r.evals[i].Recall) {
				return append(out, metRecall)
			}
		}
	}
	return out
}

// views is the cycle m steps through: the loss chart, the grid when it
// fits, then each metric.
func views(ms []metric, gridFits bool) []chartView {
	out := []chartView{viewLoss}
	if gridFits {
		out = append(out, viewGrid)
	}
	for _, k := range ms {
		out = append(out, viewOne+chartView(k))
	}
	return out
}

// chartAreaSize is the chart area of the Overview at the current size
// (mirrors overview's layout).
func (m *Model) chartAreaSize() (w, h int) {
	bodyH := m.h - 1 - min(2, max(m.h-4, 0))
	rows := max(min(len(m.st.order), bodyH/3, 12), 1)
	h = bodyH - (rows + 1)
	w = m.w
	if m.w >= wideW {
		w = m.w - min(64, m.w/3) - 3
	}
	return w, h
}

// gridFits reports whether all n charts fit in a grid in the chart area
// (less the legend and events lines).
func gridFits(n, w, h int) bool {
	cols, rows := gridShape(n, w, h-2)
	return cols*rows >= n && n > 1
}

// metricsKey handles the metrics view's keys on the Overview (after the
// chart keys): m and M cycle the view, d shows the selected run per layer.
func (m *Model) metricsKey(k tea.KeyPressMsg) tea.Cmd {
	km, c := m.keys, &m.chart
	switch {
	case is(k, km.Metric), is(k, km.MetricBack):
		m.layers.on = false
		ms := metricsOf(m.st.list())
		w, h := m.chartAreaSize()
		vs := views(ms, gridFits(len(ms), w, h))
		i := 0
		for j, v := range vs {
			if v == c.view {
				i = j
			}
		}
		if is(k, km.Metric) {
			i = (i + 1) % len(vs)
		} else {
			i = (i + len(vs) - 1) % len(vs)
		}
		c.view = vs[i]
	case is(k, km.Series) && c.view != viewLoss:
		// v picks what the loss chart overlays; here train and val loss
		// have charts of their own, so undo it and say so.
		c.series = (c.series + numSeries - 1) % numSeries
		m.setStatus("v picks train/val on the loss chart; here each has its own chart (m cycles back to the loss chart)", true)
	case is(k, km.Layers):
		return m.toggleLayers()
	}
	return nil
}

// chartArea draws the Overview's chart area: the per-layer detail, the loss
// chart, or the metrics.
func (m *Model) chartArea(w, h int) []string {
	switch {
	case m.layers.on:
		return m.renderLayers(w, h)
	case m.chart.view == viewLoss:
		return renderChart(m.chartRuns(), m.chart, w, h, m.th)
	}
	defer m.mcache.sweep()
	return renderMetrics(m.chartRuns(), metricsOf(m.st.list()), m.chart, w, h, m.th, &m.mcache)
}

// renderMetrics draws the grid (or one metric) into exactly h lines of at
// most w cells: the charts, then a legend line and the events line.
func renderMetrics(runs []chartRun, ms []metric, cs chartState, w, h int, th theme, mc *metricCache) []string {
	var vis []chartRun
	for _, cr := range runs {
		if !cr.r.hidden {
			vis = append(vis, cr)
		}
	}
	show := ms
	if cs.view >= viewOne {
		show = []metric{cs.view.metric()}
	}
	msg := ""
	switch {
	case w < 20 || h < 4:
		return fitLines(nil, h)
	case len(runs) == 0:
		msg = "no runs yet: n starts one, P starts a preset"
	case len(vis) == 0:
		msg = "no runs on the charts: space shows the selected run, a shows all"
	}
	x0, x1, ok := metricXRange(vis, cs)
	if msg == "" && !ok {
		msg = "waiting for the first training step…"
	}
	if msg != "" {
		lines := make([]string, h)
		lines[0] = style(th.bold, "Metrics")
		lines[h/2] = "  " + style(th.dim, cut(msg, w-2))
		return lines
	}

	chartsH := h
	foot := []string{}
	if h >= 12 {
		foot = append(foot, metricsLegend(vis, w, th), eventsLine(vis, w, th))
	} else if h >= 7 {
		foot = append(foot, eventsLine(vis, w, th))
	}
	chartsH -= len(foot)

	cols, rows := gridShape(len(show), w, chartsH)
	more := len(show) - cols*rows
	show = show[:cols*rows]
	cellW := (w - (cols - 1)) / cols
	cellH := chartsH / rows
	out := make([]string, 0, h)
	for r := 0; r < rows; r++ {
		cells := make([][]string, 0, cols)
		for c := 0; c < cols; c++ {
			k := show[r*cols+c]
			ch := cellH
			if r == rows-1 {
				ch = chartsH - cellH*(rows-1)
			}
			note := ""
			if more > 0 && r == 0 && c == cols-1 {
				note = fmt.Sprintf("+%d more: m", more)
			}
			cells = append(cells, renderMetricCell(vis, k, cs, x0, x1, cellW, ch, note, th, mc))
		}
		for i := range cells[0] {
			var b strings.Builder
			for c, cell := range cells {
				l := clip(cell[i], cellW)
				b.WriteString(l)
				if c < len(cells)-1 {
					b.WriteString(strings.Repeat(" ", max(cellW-width(l), 0)) + style(th.dim, "│"))
				}
			}
			out = append(out, b.String())
		}
	}
	out = append(out, foot...)
	return fitLines(out, h)
}

// gridShape picks columns and rows for n charts in w x h: cells at least
// gridCellW x gridCellH, as square in reading terms (a cell twice as wide
// as tall in cells looks square) as possible. When not all n fit, it
// returns the largest grid that does (at least 1 x 1).
func gridShape(n, w, h int) (cols, rows int) {
	if n <= 1 {
		return 1, 1
	}
	found, best, bc, br := false, 0.0, 1, 1
	for c := 1; c <= n; c++ {
		r := (n + c - 1) / c
		cw, ch := (w-(c-1))/c, h/r
		if cw < gridCellW || ch < gridCellH {
			continue
		}
		// Aspect error of the cell (ideal width = 4 x height: a cell is
		// about twice as tall as wide, and curves read best wide) plus a
		// cost for empty cells.
		score := -math.Abs(math.Log(float64(cw)/(4*float64(ch)))) - 0.3*float64(c*r-n)
		if !found || score > best {
			found, best, bc, br = true, score, c, r
		}
	}
	if found {
		return bc, br
	}
	// Not all fit: as many as fit at the minimum size.
	bc, br = max((w+1)/(gridCellW+1), 1), max(h/gridCellH, 1)
	for bc*br > n {
		if bc > 1 {
			bc--
		} else {
			br--
		}
	}
	return bc, br
}

// metricXRange is the x extent of the visible runs' steps and evaluations
// inside the zoom window, shared by every chart of the grid.
func metricXRange(vis []chartRun, cs chartState) (x0, x1 float64, ok bool) {
	minStep := minStepOf(vis, cs)
	x0, x1 = math.Inf(1), math.Inf(-1)
	for _, cr := range vis {
		pts, evs := window(cr.r, minStep)
		if len(pts) > 0 {
			p, q := pts[0], pts[len(pts)-1]
			x0 = math.Min(x0, cs.axis.xOf(p.Step, p.Tokens, p.Wall))
			x1 = math.Max(x1, cs.axis.xOf(q.Step, q.Tokens, q.Wall))
		}
		for _, e := range evs {
			x := cs.axis.xOf(e.Step, e.Tokens, e.Wall)
			x0, x1 = math.Min(x0, x), math.Max(x1, x)
		}
	}
	if !finite(x0) || !finite(x1) {
		return 0, 1, false
	}
	if x1 <= x0 {
		x1 = x0 + 1
	}
	return x0, x1, true
}

// autoLog reports whether metric k should be drawn on a log scale: forced
// by L, or automatically when all its values are positive and span two
// decades or more (logits and gradient norms of an LR sweep).
func autoLog(vis []chartRun, k metric, minStep int, forced bool, mc *metricCache) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, cr := range vis {
		pts, evs := window(cr.r, minStep)
		if !k.eval() && len(pts) == len(cr.r.points) && len(pts) > 0 {
			// The whole run: its cached range.
			p := mc.sums(cr.r, k, false, 0)
			lo, hi = math.Min(lo, p.lo), math.Max(hi, p.hi)
			continue
		}
		if k.eval() {
			for i := range evs {
				if v := k.evalOf(&evs[i]); plottable(v) {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
			continue
		}
		for i := range pts {
			if v := k.point(&pts[i]); plottable(v) {
				if v < lo {
					lo = v
				}
				if v > hi {
					hi = v
				}
			}
		}
	}
	if forced {
		return hi > 0 // some positive value to draw
	}
	return lo > 0 && hi >= 100*lo
}

// metricSeries builds metric k's W-column series for the visible runs, in
// the loss chart's colours and glyphs: per-step metrics like the training
// loss (EMA where it applies, faint raw underneath), evaluation metrics
// like the validation line.
func metricSeries(vis []chartRun, k metric, cs chartState, x0, x1 float64, W int, logY bool, th theme, mc *metricCache) []chartSeries {
	minStep := minStepOf(vis, cs)
	alpha := 0.0
	if k.smoothed() {
		alpha = smoothings[cs.smooth]
	}
	scale := float64(W-1) / (x1 - x0)
	var raws, lines []chartSeries
	for _, cr := range vis {
		ci := cr.r.color
		pts, evs := window(cr.r, minStep)
		color := palette256[ci%len(palette256)]
		if k.eval() {
			if len(evs) == 0 {
				continue
			}
			ys := nanSlice(W)
			for i := range evs {
				v := k.evalOf(&evs[i])
				if !plottable(v) || (logY && v <= 0) {
					continue
				}
				if logY {
					v = math.Log10(v)
				}
				c := int((cs.axis.xOf(evs[i].Step, evs[i].Tokens, evs[i].Wall)-x0)*scale + 0.5)
				ys[min(max(c, 0), W-1)] = v
			}
			joinGaps(ys)
			lines = append(lines, chartSeries{ys: ys, color: color, chars: valCharsFor(cr.label, th)})
			continue
		}
		if len(pts) == 0 {
			continue
		}
		from := len(cr.r.points) - len(pts)
		raw := mc.sums(cr.r, k, logY, 0).columns(cr.r.points, from, cs.axis, x0, scale, W)
		if alpha > 0 {
			raws = append(raws, chartSeries{ys: raw, color: paletteDim[ci%len(paletteDim)], chars: rawChars(th)})
			raw = mc.sums(cr.r, k, logY, alpha).columns(cr.r.points, from, cs.axis, x0, scale, W)
		}
		lines = append(lines, chartSeries{ys: raw, color: color, chars: trainChars(ci, th)})
	}
	return append(raws, lines...)
}

// renderMetricCell draws one metric's chart into exactly h lines of at most
// w cells: a title, the plot, the x axis with the event marks and, when
// there is room, its tick labels.
func renderMetricCell(vis []chartRun, k metric, cs chartState, x0, x1 float64, w, h int, note string, th theme, mc *metricCache) []string {
	lines := make([]string, 0, h)
	minStep := minStepOf(vis, cs)
	logY := autoLog(vis, k, minStep, cs.logY, mc)
	title := style(th.bold, k.String())
	if logY {
		title += style(th.dim, " · log")
	}
	if note != "" && width(title)+2+len(note) <= w {
		title += strings.Repeat(" ", w-width(title)-len(note)) + style(th.dim, note)
	}
	lines = append(lines, clip(title, w))
	axisN := 1
	if h >= 8 {
		axisN = 2
	}
	plotH := h - 1 - axisN
	W := w - 10 // 7-cell labels, a space, the axis, a spare column
	if plotH < 2 || W < 8 {
		return fitLines(lines, h)
	}
	ss := metricSeries(vis, k, cs, x0, x1, W, logY, th, mc)
	lo, hi, ok := seriesRange(ss)
	if !ok {
		why := "no data yet"
		if k == metRecall {
			why = "no recall yet (recall tasks only)"
		}
		for len(lines) < h {
			if len(lines) == 1+plotH/2 {
				lines = append(lines, "  "+style(th.dim, cut(why, w-2)))
				continue
			}
			lines = append(lines, "")
		}
		return lines
	}
	if hi-lo < 1e-12*math.Max(math.Abs(hi), 1) {
		d := math.Max(math.Abs(hi)*0.05, 0.5)
		if logY {
			d = 0.5
		}
		lo, hi = lo-d, hi+d
	}
	plot, dataStart := plotSeriesFmt(ss, lo, hi, W, plotH, th, metricLabels(lo, hi, logY))
	lines = append(lines, plot...)
	axis, ticks := xAxisLines(vis, cs, x0, x1, dataStart, W, w, th)
	lines = append(lines, axis)
	if axisN == 2 {
		lines = append(lines, ticks)
	}
	return fitLines(lines, h)
}

// metricLabels formats y labels in 7 cells for any magnitude: plain
// decimals chosen by the span, exponent form for very large or small
// values (a diverging run's logits reach 1e6 and more).
func metricLabels(lo, hi float64, logY bool) func(float64) string {
	span := hi - lo
	return func(v float64) string {
		if logY {
			v = math.Pow(10, v)
			return padLeft(fmtAxis(v, math.Abs(v)/10), 7)
		}
		return padLeft(fmtAxis(v, span), 7)
	}
}

// fmtAxis writes v in at most 7 cells with enough decimals to tell labels
// span apart.
func fmtAxis(v, span float64) string {
	a := math.Abs(v)
	if a < 1e-12 {
		return "0"
	}
	if a < 1e5 && a >= 1e-3 {
		dec := 0
		if span > 0 {
			dec = min(max(2-int(math.Floor(math.Log10(span))), 0), 5)
		}
		if s := strconv.FormatFloat(v, 'f', dec, 64); len(s) <= 7 {
			return s
		}
	}
	for prec := 1; ; prec-- {
		s := strconv.FormatFloat(v, 'e', prec, 64) // 1.2e+06
		mant, exp, _ := strings.Cut(s, "e")
		e, _ := strconv.Atoi(exp)
		if s = mant + "e" + strconv.Itoa(e); len(s) <= 7 || prec == 0 {
			return s
		}
	}
}

// metricsLegend names the overlaid runs in their colours (or glyphs) and
// says what the axis marks mean.
func metricsLegend(vis []chartRun, w int, th theme) string {
	var parts []string
	for _, cr := range vis {
		m := th.mark(cr.r.color)
		if !th.color {
			m = runGlyphs[cr.r.color%len(runGlyphs)] + cr.label[len(cr.label)-1:]
		}
		parts = append(parts, m+" "+th.run(cr.r.color, cr.r.info.Name))
	}
	key := "marks: ^ loss spike  G grad spike  S surgery  L lr  ! diverged"
	line := strings.Join(parts, "  ")
	if width(line)+2+len(key) <= w {
		line += "  " + style(th.dim, key)
	}
	return clip(line, w)
}

// spikeCounts counts a run's spike episodes from its events (every event
// reaches the UI; training points may be coalesced).
func spikeCounts(r *runData) (loss, grad int) {
	for i := range r.events {
		switch r.events[i].Kind {
		case trainer.LossSpike:
			loss++
		case trainer.GradSpike:
			grad++
		}
	}
	return loss, grad
}

package tui

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/guptarohit/asciigraph"
	"github.com/mealab/mealab/trainer"
)

// Per-layer detail (d on the Overview): the selected run's largest
// attention logit and gradient norm per layer, one line per layer, so a
// person can see which layer blows up first. The lab is asked on demand,
// once a second while the detail shows.

// layerLab is the optional part of a Lab that reports per-layer history;
// *trainer.Lab has it, a lab that does not is told apart at the key press.
type layerLab interface {
	LayerStats(id trainer.RunID) (trainer.LayerStats, error)
}

var _ layerLab = (*trainer.Lab)(nil)

// layersState is the per-layer view's state.
type layersState struct {
	on    bool
	gen   int // poll generation: answers of an older one are dropped
	run   trainer.RunID
	stats trainer.LayerStats
	have  bool
	err   string
}

// layersMsg is the lab's answer to a per-layer poll.
type layersMsg struct {
	gen   int
	run   trainer.RunID
	stats trainer.LayerStats
	err   error
}

// toggleLayers shows or hides the per-layer detail of the selected run.
func (m *Model) toggleLayers() tea.Cmd {
	if m.layers.on {
		m.layers.on = false
		return nil
	}
	r := m.selected()
	if r == nil {
		m.setStatus("no run selected: per-layer detail is of the selected run", true)
		return nil
	}
	if _, ok := m.lab.(layerLab); !ok {
		m.setStatus("this lab does not report per-layer detail", true)
		return nil
	}
	m.layers = layersState{on: true, gen: m.layers.gen + 1}
	return m.pollLayers(0)
}

// pollLayers asks the lab for the selected run's per-layer history after
// delay.
func (m *Model) pollLayers(delay time.Duration) tea.Cmd {
	r := m.selected()
	ll, ok := m.lab.(layerLab)
	if !m.layers.on || r == nil || !ok || m.closed {
		return nil
	}
	id, gen := r.info.ID, m.layers.gen
	ask := func(time.Time) tea.Msg {
		s, err := ll.LayerStats(id)
		return layersMsg{gen: gen, run: id, stats: s, err: err}
	}
	if delay <= 0 {
		return func() tea.Msg { return ask(time.Time{}) }
	}
	return tea.Tick(delay, ask)
}

// onLayers takes an answer and arms the next poll.
func (m *Model) onLayers(msg layersMsg) tea.Cmd {
	if msg.gen != m.layers.gen || !m.layers.on {
		return nil
	}
	l := &m.layers
	l.run, l.err = msg.run, ""
	if msg.err != nil {
		l.err, l.have = msg.err.Error(), false
	} else {
		l.stats, l.have = msg.stats, true
	}
	m.changed = true
	if r := m.selected(); r != nil && r.info.ID != msg.run {
		return m.pollLayers(0) // the selection moved: ask at once
	}
	return m.pollLayers(pollEvery)
}

// renderLayers draws the per-layer detail into exactly h lines: the two
// charts side by side or stacked, and a legend.
func (m *Model) renderLayers(w, h int) []string {
	th := m.th
	l := &m.layers
	r := m.st.runs[l.run]
	name := "the selected run"
	if r != nil {
		name = r.info.Name
	}
	cs := m.chart
	cs.series = seriesBoth
	desc := strings.TrimSuffix(cs.describe(), " · "+seriesBoth.String())
	head := style(th.bold, "Per layer: "+name) + style(th.dim, " · "+desc+" · d closes")
	lines := []string{clip(head, w)}
	msg := ""
	switch {
	case l.err != "":
		msg = l.err
	case !l.have:
		msg = "asking the lab…"
	case r == nil:
		msg = "the run is gone"
	case len(l.stats.Steps) == 0:
		msg = "no steps recorded yet (per-layer history starts when the run trains in this lab)"
	}
	if msg != "" || h < 6 || w < 30 {
		for len(lines) < h {
			if len(lines) == h/2 && msg != "" {
				lines = append(lines, "  "+style(th.dim, cut(msg, w-2)))
				continue
			}
			lines = append(lines, "")
		}
		return fitLines(lines, h)
	}
	cr := chartRun{r: r, label: fmt.Sprint(m.st.index(r.info.ID) + 1)}
	s := l.stats
	xs, lo := layerXs(r, s.Steps, m.chart)
	chartsH := h - 2 // the head line and the legend
	var cells [][]string
	var cw int
	switch {
	case (w-1)/2 >= gridCellW:
		cw = (w - 1) / 2
		cells = [][]string{
			layerCell(cr, "max logit", s.MaxLogit, xs, lo, m.chart, cw, chartsH, th),
			layerCell(cr, "grad norm", s.GradNorm, xs, lo, m.chart, cw, chartsH, th),
		}
	case chartsH/2 >= 5:
		a := layerCell(cr, "max logit", s.MaxLogit, xs, lo, m.chart, w, chartsH/2, th)
		b := layerCell(cr, "grad norm", s.GradNorm, xs, lo, m.chart, w, chartsH-chartsH/2, th)
		lines = append(lines, append(a, b...)...)
	default:
		lines = append(lines, layerCell(cr, "max logit", s.MaxLogit, xs, lo, m.chart, w, chartsH, th)...)
	}
	if cells != nil {
		for i := range cells[0] {
			left := clip(cells[0][i], cw)
			lines = append(lines, left+strings.Repeat(" ", max(cw-width(left), 0))+style(th.dim, "│")+clip(cells[1][i], cw))
		}
	}
	var parts []string
	for i := 0; i < s.Layers; i++ {
		parts = append(parts, layerMark(i, th)+" layer "+fmt.Sprint(i))
	}
	lines = append(lines, clip(strings.Join(parts, "  ")+style(th.dim, "  (the first line to rise is the layer that blows up first)"), w))
	return fitLines(lines, h)
}

// layerXs places the recorded steps on the chart's x axis (through the
// run's points for tokens and time) and returns the first index inside the
// zoom window.
func layerXs(r *runData, steps []int, cs chartState) ([]float64, int) {
	xs := make([]float64, len(steps))
	j := 0
	for i, s := range steps {
		if cs.axis == axisStep {
			xs[i] = float64(s)
			continue
		}
		for j < len(r.points) && r.points[j].Step < s {
			j++
		}
		xs[i] = math.NaN()
		if j < len(r.points) && r.points[j].Step == s {
			p := r.points[j]
			xs[i] = cs.axis.xOf(p.Step, p.Tokens, p.Wall)
		}
	}
	lo := 0
	if n := zooms[cs.zoom]; n > 0 && len(steps) > 0 {
		minStep := steps[len(steps)-1] - n
		lo = sort.Search(len(steps), func(i int) bool { return steps[i] > minStep })
	}
	return xs, lo
}

func layerMark(l int, th theme) string {
	if !th.color {
		return fmt.Sprint(l % 10)
	}
	return th.run(l, "■")
}

// layerCell is one per-layer chart: a line per layer in the palette (digits
// without colour), log y when the values span two decades (or L), EMA as
// the chart's smoothing, the run's events on the axis.
func layerCell(cr chartRun, title string, vals [][]float32, xs []float64, from int, cs chartState, w, h int, th theme) []string {
	lines := []string{style(th.bold, title)}
	W := w - 10
	plotH := h - 3
	if plotH < 2 || W < 8 || from >= len(xs) {
		return fitLines(lines, h)
	}
	x0, x1 := math.Inf(1), math.Inf(-1)
	for _, x := range xs[from:] {
		if finite(x) {
			x0, x1 = math.Min(x0, x), math.Max(x1, x)
		}
	}
	vlo, vhi := math.Inf(1), math.Inf(-1)
	for _, vs := range vals {
		for _, v := range vs[from:] {
			if f := float64(v); plottable(f) {
				vlo, vhi = math.Min(vlo, f), math.Max(vhi, f)
			}
		}
	}
	if !finite(x0) || !finite(vlo) {
		return fitLines(append(lines, "", "  "+style(th.dim, "no data yet")), h)
	}
	if x1 <= x0 {
		x1 = x0 + 1
	}
	logY := (cs.logY && vhi > 0) || (vlo > 0 && vhi >= 100*vlo)
	if logY {
		lines[0] += style(th.dim, " · log")
	}
	alpha := smoothings[cs.smooth]
	scale := float64(W-1) / (x1 - x0)
	var ss []chartSeries
	for l, vs := range vals {
		sum, cnt := make([]float64, W), make([]int32, W)
		ema, corr := 0.0, 1.0
		for i := from; i < len(vs) && i < len(xs); i++ {
			v := float64(vs[i])
			if !plottable(v) || !finite(xs[i]) {
				continue
			}
			if alpha > 0 {
				ema = alpha*ema + (1-alpha)*v
				corr *= alpha
				v = ema / (1 - corr)
			}
			if logY {
				if v <= 0 {
					continue
				}
				v = math.Log10(v)
			}
			c := min(max(int((xs[i]-x0)*scale+0.5), 0), W-1)
			sum[c] += v
			cnt[c]++
		}
		for c := range sum {
			if cnt[c] > 0 {
				sum[c] /= float64(cnt[c])
			} else {
				sum[c] = math.NaN()
			}
		}
		joinGaps(sum)
		chars := asciigraph.DefaultCharSet
		if !th.color {
			chars = asciigraph.CreateCharSet(fmt.Sprint(l % 10))
		}
		ss = append(ss, chartSeries{ys: sum, color: palette256[l%len(palette256)], chars: chars})
	}
	lo, hi, ok := seriesRange(ss)
	if !ok {
		return fitLines(append(lines, "", "  "+style(th.dim, "no data yet")), h)
	}
	if hi-lo < 1e-12*math.Max(math.Abs(hi), 1) {
		lo, hi = lo-0.5, hi+0.5
	}
	plot, dataStart := plotSeriesFmt(ss, lo, hi, W, plotH, th, metricLabels(lo, hi, logY))
	lines = append(lines, plot...)
	axis, ticks := xAxisLines([]chartRun{cr}, cs, x0, x1, dataStart, W, w, th)
	lines = append(lines, axis, ticks)
	for i := range lines {
		if ansi.StringWidth(lines[i]) > w {
			lines[i] = clip(lines[i], w)
		}
	}
	return fitLines(lines, h)
}

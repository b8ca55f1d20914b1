package tui

import (
	"math"
	"sort"

	"github.com/mealab/mealab/trainer"
)

// The metrics grid draws five per-step metrics of every run at once; with
// 8 runs x 20,000 steps that is 800,000 values a frame, too many to average
// afresh at 10 frames a second. So per run and metric the cache keeps
// prefix sums of the values (raw or EMA-smoothed, linear or log10), built
// once and extended as steps arrive: a column's mean is then two lookups,
// and a frame costs O(columns x log steps) per line. The EMA runs from the
// run's first step (so a zoomed view shows the same smoothed values as the
// full one).

// prefixKey names one cached series.
type prefixKey struct {
	r     *runData
	k     metric
	logY  bool
	alpha float64
}

// prefixSums is a series' running sums over the run's points.
type prefixSums struct {
	first     int       // step of the first point, and of the last taken in:
	last      int       // a history that no longer matches them is rebuilt
	n         int       // points taken in
	sum       []float64 // sum[i]: values of points[:i] that count
	cnt       []int32   // cnt[i]: how many of points[:i] count
	ema, corr float64   // EMA state after n points
	lo, hi    float64   // smallest and largest raw plottable value
	used      uint64    // frame it was last used in
}

// metricCache holds the prefix sums of the series drawn lately.
type metricCache struct {
	m     map[prefixKey]*prefixSums
	frame uint64
}

// sums returns the up-to-date prefix sums of r's metric k.
func (mc *metricCache) sums(r *runData, k metric, logY bool, alpha float64) *prefixSums {
	if mc.m == nil {
		mc.m = map[prefixKey]*prefixSums{}
	}
	key := prefixKey{r, k, logY, alpha}
	p := mc.m[key]
	pts := r.points
	if p != nil && (p.n > len(pts) || p.n > 0 && (pts[0].Step != p.first || pts[p.n-1].Step != p.last)) {
		p = nil // the run's history was replaced (a History fetch filled a gap)
	}
	if p == nil {
		p = &prefixSums{sum: make([]float64, 1, len(pts)+1), cnt: make([]int32, 1, len(pts)+1),
			corr: 1, lo: math.Inf(1), hi: math.Inf(-1)}
		mc.m[key] = p
	}
	p.used = mc.frame
	s, c := p.sum[len(p.sum)-1], p.cnt[len(p.cnt)-1]
	for i := p.n; i < len(pts); i++ {
		v := k.point(&pts[i])
		ok := plottable(v)
		if ok {
			p.lo, p.hi = math.Min(p.lo, v), math.Max(p.hi, v)
		}
		if logY && v <= 0 {
			ok = false // as in bucketRun: not on a log scale, not in the EMA
		}
		if ok {
			if alpha > 0 {
				p.ema = alpha*p.ema + (1-alpha)*v
				p.corr *= alpha
				v = p.ema / (1 - p.corr)
			}
			if logY {
				v = math.Log10(v)
			}
		}
		if ok {
			s += v
			c++
		}
		p.sum = append(p.sum, s)
		p.cnt = append(p.cnt, c)
	}
	p.n = len(pts)
	if p.n > 0 {
		p.first, p.last = pts[0].Step, pts[p.n-1].Step
	}
	return p
}

// sweep forgets the series not drawn in the last frame (the settings or
// the runs changed), then starts the next frame.
func (mc *metricCache) sweep() {
	for key, p := range mc.m {
		if p.used != mc.frame {
			delete(mc.m, key)
		}
	}
	mc.frame++
}

// columns averages points[from:] into W columns of the x axis, as
// bucketRun does, NaN where a column has no value, gaps joined.
func (p *prefixSums) columns(pts []trainer.Point, from int, ax xAxis, x0, scale float64, W int) []float64 {
	out := make([]float64, W)
	colOf := func(i int) int {
		q := &pts[i]
		c := int((ax.xOf(q.Step, q.Tokens, q.Wall)-x0)*scale + 0.5)
		return min(max(c, 0), W-1)
	}
	start := from
	n := len(pts)
	for c := 0; c < W; c++ {
		end := start + sort.Search(n-start, func(j int) bool { return colOf(start+j) > c })
		if k := p.cnt[end] - p.cnt[start]; k > 0 {
			out[c] = (p.sum[end] - p.sum[start]) / float64(k)
		} else {
			out[c] = math.NaN()
		}
		start = end
	}
	joinGaps(out)
	return out
}

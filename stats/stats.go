package stats

import (
	"errors"
	"fmt"
	"math"
)

// Mean returns the arithmetic mean of xs (NaN for an empty slice).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Std returns the sample standard deviation (n-1 in the denominator); 0 for
// one value, NaN for none.
func Std(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	if n == 1 {
		return 0
	}
	m := Mean(xs)
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(n-1))
}

// MinMax returns the smallest and largest value of xs (NaN, NaN when empty).
func MinMax(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	lo, hi = xs[0], xs[0]
	for _, x := range xs[1:] {
		lo = math.Min(lo, x)
		hi = math.Max(hi, x)
	}
	return lo, hi
}

// TCDF is the cumulative distribution function of Student's t with df
// degrees of freedom (df > 0, not necessarily whole).
func TCDF(t, df float64) float64 {
	if math.IsInf(df, 1) {
		return 0.5 * math.Erfc(-t/math.Sqrt2)
	}
	x := df / (df + t*t)
	tail := 0.5 * RegIncBeta(df/2, 0.5, x)
	if t > 0 {
		return 1 - tail
	}
	return tail
}

// TQuantile returns the p-quantile of Student's t with df degrees of freedom
// (0 < p < 1), found by bisection on TCDF to 1e-12.
func TQuantile(p, df float64) float64 {
	if p <= 0 || p >= 1 || !(df > 0) {
		return math.NaN()
	}
	if p == 0.5 {
		return 0
	}
	if p < 0.5 {
		return -TQuantile(1-p, df)
	}
	lo, hi := 0.0, 1.0
	for TCDF(hi, df) < p {
		hi *= 2
		if hi > 1e12 {
			return math.Inf(1)
		}
	}
	for i := 0; i < 200 && hi-lo > 1e-12*math.Max(1, hi); i++ {
		mid := (lo + hi) / 2
		if TCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// RegIncBeta is the regularised incomplete beta function I_x(a, b), by the
// continued fraction of Lentz's method (converges for x < (a+1)/(a+b+2);
// the symmetry I_x(a,b) = 1 - I_{1-x}(b,a) covers the rest).
func RegIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	lga, _ := math.Lgamma(a)
	lgb, _ := math.Lgamma(b)
	lgab, _ := math.Lgamma(a + b)
	front := math.Exp(lgab - lga - lgb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

func betaCF(a, b, x float64) float64 {
	const tiny = 1e-300
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 500; m++ {
		fm := float64(m)
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return h
}

// Interval is an estimate of a difference of means (a - b) with a two-sided
// confidence interval.
type Interval struct {
	Diff   float64 // estimated mean difference a - b
	Lo, Hi float64 // confidence interval
	DF     float64 // degrees of freedom of the t distribution used
	N      int     // number of pairs (paired) or min(len(a), len(b)) (Welch)
	Level  float64 // confidence level, e.g. 0.95
	Test   string  // "paired t" or "Welch t"
}

// Excludes0 reports whether the interval lies wholly on one side of zero.
func (iv Interval) Excludes0() bool { return iv.Lo > 0 || iv.Hi < 0 }

// ErrTooFew is returned when a sample is too small for an interval.
var ErrTooFew = errors.New("stats: need at least 2 values per group for an interval")

// Paired returns the level-confidence interval of mean(a_i - b_i) for paired
// samples (a[i] and b[i] share seed i). a and b must have the same length >= 2.
func Paired(a, b []float64, level float64) (Interval, error) {
	if len(a) != len(b) {
		return Interval{}, fmt.Errorf("stats: paired samples differ in length (%d and %d)", len(a), len(b))
	}
	if len(a) < 2 {
		return Interval{}, ErrTooFew
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	n := float64(len(d))
	m, s := Mean(d), Std(d)
	df := n - 1
	h := TQuantile(0.5+level/2, df) * s / math.Sqrt(n)
	return Interval{Diff: m, Lo: m - h, Hi: m + h, DF: df, N: len(d), Level: level, Test: "paired t"}, nil
}

// Welch returns the level-confidence interval of mean(a) - mean(b) for
// independent samples with possibly unequal variances.
func Welch(a, b []float64, level float64) (Interval, error) {
	if len(a) < 2 || len(b) < 2 {
		return Interval{}, ErrTooFew
	}
	na, nb := float64(len(a)), float64(len(b))
	va, vb := Std(a)*Std(a)/na, Std(b)*Std(b)/nb
	se := math.Sqrt(va + vb)
	m := Mean(a) - Mean(b)
	df := math.Inf(1)
	if va+vb > 0 {
		df = (va + vb) * (va + vb) / (va*va/(na-1) + vb*vb/(nb-1))
	}
	h := TQuantile(0.5+level/2, df) * se
	n := len(a)
	if len(b) < n {
		n = len(b)
	}
	return Interval{Diff: m, Lo: m - h, Hi: m + h, DF: df, N: n, Level: level, Test: "Welch t"}, nil
}

// Verdict says in plain words what an interval of a loss difference
// (candidate - baseline; lower loss is better) shows.
func Verdict(candidate, baseline string, iv Interval) string {
	switch {
	case iv.Hi < 0:
		return fmt.Sprintf("%s better", candidate)
	case iv.Lo > 0:
		return fmt.Sprintf("%s better", baseline)
	default:
		return fmt.Sprintf("no difference detectable with %d seeds", iv.N)
	}
}

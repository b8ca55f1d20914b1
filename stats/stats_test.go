package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.10g, want %.10g (tol %g)", what, got, want, tol)
	}
}

// Two-sided 95% critical values from standard t tables.
func TestTQuantileTable(t *testing.T) {
	for _, c := range []struct{ df, want float64 }{
		{1, 12.7062047}, {2, 4.30265273}, {3, 3.18244631}, {4, 2.77644511},
		{9, 2.26215716}, {10, 2.22813885}, {30, 2.04227246}, {math.Inf(1), 1.95996398},
	} {
		near(t, "t(0.975)", TQuantile(0.975, c.df), c.want, 1e-6)
	}
	near(t, "t(0.95, 5)", TQuantile(0.95, 5), 2.01504837, 1e-6)
	near(t, "t(0.025, 4)", TQuantile(0.025, 4), -2.77644511, 1e-6)
	for _, df := range []float64{1, 2.5, 7, 100} {
		for _, p := range []float64{0.6, 0.9, 0.99} {
			near(t, "TCDF(TQuantile)", TCDF(TQuantile(p, df), df), p, 1e-9)
		}
	}
}

func TestRegIncBeta(t *testing.T) {
	// I_x(2,3) = sum_{j=2..4} C(4,j) x^j (1-x)^(4-j): at 1/2, 11/16.
	near(t, "I_0.5(2,3)", RegIncBeta(2, 3, 0.5), 11.0/16, 1e-12)
	// I_x(1,1) = x; I_x(a,1) = x^a.
	near(t, "I_0.3(1,1)", RegIncBeta(1, 1, 0.3), 0.3, 1e-12)
	near(t, "I_0.7(3,1)", RegIncBeta(3, 1, 0.7), 0.343, 1e-12)
	// Symmetry.
	near(t, "symmetry", RegIncBeta(2.5, 4, 0.8), 1-RegIncBeta(4, 2.5, 0.2), 1e-12)
}

func TestMeanStd(t *testing.T) {
	xs := []float64{2, 4, 4, 4, 5, 5, 7, 9}
	near(t, "mean", Mean(xs), 5, 0)
	near(t, "std", Std(xs), math.Sqrt(32.0/7), 1e-12)
	lo, hi := MinMax(xs)
	if lo != 2 || hi != 9 {
		t.Errorf("MinMax = %v %v", lo, hi)
	}
	if Std([]float64{3}) != 0 || !math.IsNaN(Mean(nil)) {
		t.Error("degenerate cases")
	}
}

// Worked by hand: d = (0.5, 0.5, -0.5, 1), mean 0.375, sd sqrt(1.1875/3),
// half-width t(0.975,3) * sd / 2.
func TestPairedByHand(t *testing.T) {
	iv, err := Paired([]float64{1, 2, 3, 4}, []float64{0.5, 1.5, 3.5, 3}, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	h := 3.18244631 * math.Sqrt(1.1875/3) / 2
	near(t, "diff", iv.Diff, 0.375, 1e-12)
	near(t, "lo", iv.Lo, 0.375-h, 1e-7)
	near(t, "hi", iv.Hi, 0.375+h, 1e-7)
	if iv.DF != 3 || iv.N != 4 || iv.Excludes0() {
		t.Errorf("interval %+v", iv)
	}
	if _, err := Paired([]float64{1}, []float64{2}, 0.95); err == nil {
		t.Error("one pair gave an interval")
	}
	if _, err := Paired([]float64{1, 2}, []float64{2}, 0.95); err == nil {
		t.Error("unequal lengths gave an interval")
	}
}

// Worked by hand: a mean 2.5 var 5/3 (n 4), b mean 4 var 4 (n 3);
// se^2 = 5/12 + 4/3 = 1.75; df = 1.75^2 / ((5/12)^2/3 + (4/3)^2/2).
func TestWelchByHand(t *testing.T) {
	iv, err := Welch([]float64{1, 2, 3, 4}, []float64{2, 4, 6}, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	df := 1.75 * 1.75 / ((5.0/12)*(5.0/12)/3 + (4.0/3)*(4.0/3)/2)
	near(t, "df", iv.DF, df, 1e-12)
	h := TQuantile(0.975, df) * math.Sqrt(1.75)
	near(t, "diff", iv.Diff, -1.5, 1e-12)
	near(t, "lo", iv.Lo, -1.5-h, 1e-9)
	if TQuantile(0.975, df) < 3.0 || TQuantile(0.975, df) > 3.19 {
		t.Errorf("t(0.975, %.3f) = %v outside the table's bracket (df 3..4)", df, TQuantile(0.975, df))
	}
}

// The 95% interval covers the true difference about 95% of the time.
func TestCoverage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const trials = 4000
	for _, n := range []int{3, 5, 10} {
		coverP, coverW := 0, 0
		for k := 0; k < trials; k++ {
			a, b := make([]float64, n), make([]float64, n)
			for i := range a {
				shared := r.NormFloat64() * 2 // what paired runs share
				a[i] = 1.0 + shared + 0.3*r.NormFloat64()
				b[i] = 0.8 + shared + 0.3*r.NormFloat64()
			}
			if iv, _ := Paired(a, b, 0.95); iv.Lo <= 0.2 && 0.2 <= iv.Hi {
				coverP++
			}
			x, y := make([]float64, n), make([]float64, n+2)
			for i := range x {
				x[i] = 1 + r.NormFloat64()
			}
			for i := range y {
				y[i] = 0.5 + 3*r.NormFloat64()
			}
			if iv, _ := Welch(x, y, 0.95); iv.Lo <= 0.5 && 0.5 <= iv.Hi {
				coverW++
			}
		}
		for name, c := range map[string]int{"paired": coverP, "welch": coverW} {
			rate := float64(c) / trials
			// Binomial sd at 4000 trials is 0.0034; Welch is approximate.
			if rate < 0.935 || rate > 0.965 {
				t.Errorf("%s n=%d: coverage %.3f, want about 0.95", name, n, rate)
			}
			t.Logf("%s n=%d: coverage %.3f", name, n, rate)
		}
	}
}

func TestVerdict(t *testing.T) {
	if v := Verdict("MEA", "MHA", Interval{Lo: -0.3, Hi: -0.1, N: 5}); v != "MEA better" {
		t.Error(v)
	}
	if v := Verdict("MEA", "MHA", Interval{Lo: 0.1, Hi: 0.3, N: 5}); v != "MHA better" {
		t.Error(v)
	}
	if v := Verdict("MEA", "MHA", Interval{Lo: -0.1, Hi: 0.3, N: 5}); v != "no difference detectable with 5 seeds" {
		t.Error(v)
	}
}

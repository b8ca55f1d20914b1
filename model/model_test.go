package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// copyShared copies every tensor of src whose name also exists in dst.
func copyShared[T Float](dst, src *Model[T]) {
	for _, t := range dst.Layout.Tensors {
		if s, ok := src.Layout.Lookup(t.Name); ok && s.Len == t.Len {
			copy(dst.Params[t.Off:t.Off+t.Len], src.Params[s.Off:s.Off+s.Len])
		}
	}
}

func TestHLCIdentityEqualsMHA(t *testing.T) {
	base := Config{Vocab: 13, Context: 8, Layers: 2, Width: 16, Heads: 4, Seed: 3}
	mha, hlc := base, base
	_ = mha.ApplyVariant("mha", 0)
	_ = hlc.ApplyVariant("hlc", 0)
	a, err := New[float32](mha, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New[float32](hlc, nil)
	if err != nil {
		t.Fatal(err)
	}
	perturb(a, 7)
	copyShared(b, a) // the mixing matrices stay at their identity start
	tokens := []int32{1, 5, 2, 9, 12, 0, 3, 3, 7, 1}
	if _, err := a.Forward(tokens, nil, 2, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Forward(tokens, nil, 2, 5); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 10; n++ {
		la, lb := a.Logits(n), b.Logits(n)
		for i := range la {
			if la[i] != lb[i] {
				t.Fatalf("row %d logit %d: MHA %v, HLC(identity) %v; want bit-identical", n, i, la[i], lb[i])
			}
		}
	}
}

// TestCachedDecodeMatchesForward decodes a sequence token by token with the
// KV cache and compares every step's logits with a full forward pass.
func TestCachedDecodeMatchesForward(t *testing.T) {
	tokens := []int32{3, 1, 4, 1, 5, 9, 2, 6}
	for name, c := range tinyConfigs() {
		t.Run(name+"/float64", func(t *testing.T) { checkDecode[float64](t, c, tokens, 1e-12) })
		// float32: the cache path sums q.k per component head before mixing,
		// the full path mixes keys first, so rounding differs at ~1e-6.
		t.Run(name+"/float32", func(t *testing.T) { checkDecode[float32](t, c, tokens, 2e-5) })
	}
}

// checkDecode builds a perturbed model of config c, or uses the one given.
func checkDecode[T Float](t *testing.T, c Config, tokens []int32, tol float64, given ...*Model[T]) {
	t.Helper()
	var m *Model[T]
	if len(given) > 0 {
		m = given[0]
	} else {
		var err error
		if m, err = New[T](c, nil); err != nil {
			t.Fatal(err)
		}
		perturb(m, 11)
	}
	if _, err := m.Forward(tokens, nil, 1, len(tokens)); err != nil {
		t.Fatal(err)
	}
	full := make([][]T, len(tokens))
	for n := range tokens {
		full[n] = append([]T(nil), m.Logits(n)...)
	}
	kc, err := m.NewCache(len(tokens))
	if err != nil {
		t.Fatal(err)
	}
	for n, tok := range tokens {
		got, err := m.DecodeStep(kc, tok)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			want := float64(full[n][i])
			if d := math.Abs(float64(got[i]) - want); d > tol*math.Max(1, math.Abs(want)) {
				t.Fatalf("position %d logit %d: cached %v, full %v (diff %.3g > %.1g)", n, i, got[i], want, d, tol)
			}
		}
	}
	if _, err := m.DecodeStep(kc, 0); err == nil {
		t.Fatal("decoding into a full cache succeeded; want an error")
	}
}

func TestKVCacheBytes(t *testing.T) {
	for name, c := range tinyConfigs() {
		m, err := New[float32](c, nil)
		if err != nil {
			t.Fatal(err)
		}
		kc, err := m.NewCache(c.Context)
		if err != nil {
			t.Fatal(err)
		}
		// Cached heads summed over the 2 layers.
		cached := map[string]int{"mha": 8, "gqa2": 4, "mqa": 2, "mha+gn": 8, "hlc": 8, "mea": 8, "mea_h2": 4, "mea_h3": 6, "hlc_h1": 2,
			"mea_layers": 6, "gqa_layers": 5}[name]
		want := int64(2 * cached * c.HeadDim() * 4)
		if got := kc.BytesPerToken(); got != want {
			t.Errorf("%s: cache holds %d bytes/token, want 2*layers*cached_heads*d*4 = %d", name, got, want)
		}
		if got := c.KVBytesPerToken(4); got != want {
			t.Errorf("%s: formula says %d bytes/token, want %d", name, got, want)
		}
		if kc.Bytes() != want*int64(c.Context) {
			t.Errorf("%s: cache allocated %d bytes, want %d", name, kc.Bytes(), want*int64(c.Context))
		}
	}
}

// repetitiveBatch cuts B windows of length T+1 from a repeated phrase.
func repetitiveBatch(rng *rand.Rand, B, T_ int) (x, y []int32) {
	const text = "the cat sat on the mat. the dog sat on the log. "
	for b := 0; b < B; b++ {
		off := rng.IntN(len(text))
		for t := 0; t < T_; t++ {
			x = append(x, int32(text[(off+t)%len(text)]-' '))
			y = append(y, int32(text[(off+t+1)%len(text)]-' '))
		}
	}
	return x, y
}

func TestTrainingReducesLoss(t *testing.T) {
	for name, c := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			c.Vocab = 96
			c.Context = 16
			c.Width = 32
			c.MLP = 64
			m, err := New[float32](c, nil)
			if err != nil {
				t.Fatal(err)
			}
			opt := NewAdamW[float32](DefaultAdamW(), m.Layout)
			rng := rand.New(rand.NewPCG(1, 1))
			var first, last float64
			for step := 0; step < 120; step++ {
				x, y := repetitiveBatch(rng, 4, 16)
				loss, err := m.Forward(x, y, 4, 16)
				if err != nil {
					t.Fatal(err)
				}
				if step == 0 {
					first = loss
				}
				last = loss
				m.ZeroGrad()
				m.Backward(1)
				ClipGrads(m.Grads, 1)
				opt.Step(m.Params, m.Grads, 1e-2)
			}
			if !(last < 0.35*first) {
				t.Errorf("%s: loss went from %.3f to %.3f in 120 steps; want below 35%% of the start", name, first, last)
			}
			t.Logf("%-8s loss %.3f -> %.3f", name, first, last)
		})
	}
}

func TestFloat32MatchesFloat64(t *testing.T) {
	c := tinyConfigs()["mea_h2"]
	m32, _ := New[float32](c, nil)
	m64, _ := New[float64](c, nil)
	perturb(m32, 3)
	perturb(m64, 3)
	tokens := []int32{1, 2, 3, 4, 5, 6}
	targets := []int32{2, 3, 4, 5, 6, 7}
	l32, _ := m32.Forward(tokens, targets, 1, 6)
	l64, _ := m64.Forward(tokens, targets, 1, 6)
	if math.Abs(l32-l64) > 1e-5*math.Abs(l64) {
		t.Fatalf("float32 loss %.8f, float64 %.8f", l32, l64)
	}
	m32.Backward(1)
	m64.Backward(1)
	var num, den float64
	for i := range m64.Grads {
		d := float64(m32.Grads[i]) - m64.Grads[i]
		num += d * d
		den += m64.Grads[i] * m64.Grads[i]
	}
	if r := math.Sqrt(num / den); r > 1e-5 {
		t.Fatalf("float32 gradient differs from float64 by %.2e relative (L2); want < 1e-5", r)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{Vocab: 256, Context: 128, Layers: 4, Width: 128, Heads: 4}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Width = 130; c.Heads = 8 }, "width 130 is not divisible by 8 heads; choose a width that is a multiple of 8"},
		{func(c *Config) { c.KVHeads = 3 }, "cannot be split evenly over 3 kv heads"},
		{func(c *Config) { c.HLC = true; c.KVHeads = 5 }, "virtual heads h'=5 exceed the 4 query heads"},
		{func(c *Config) { c.KVHeads = -1 }, "kv heads must be at least 1"},
		{func(c *Config) { c.Layers = 0 }, "layers must be positive"},
		{func(c *Config) { c.Context = MaxContext + 1 }, "longer than the rotary table"},
		{func(c *Config) { c.Width = 12; c.Heads = 4 }, "is odd"},
		{func(c *Config) { c.Vocab = -3 }, "vocab must be positive"},
	} {
		c := ok
		tc.mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
	// HLC allows h' that does not divide H (MEA virtual heads need no groups).
	c := ok
	c.HLC, c.KVHeads = true, 3
	if err := c.Validate(); err != nil {
		t.Errorf("MEA with h'=3 of 4 heads rejected: %v", err)
	}
}

func TestVariantNames(t *testing.T) {
	want := map[string]string{"mea_layers": "MEA kv=4,2", "gqa_layers": "GQA kv=1,4", "mha": "MHA", "gqa2": "GQA G=2", "mqa": "MQA", "mha+gn": "MHA+GN", "hlc": "HLC",
		"mea": "MEA", "mea_h2": "MEA h'=2", "mea_h3": "MEA h'=3", "hlc_h1": "HLC h'=1"}
	for name, c := range tinyConfigs() {
		if got := c.Variant(); got != want[name] {
			t.Errorf("%s: got %q, want %q", name, got, want[name])
		}
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{Peak: 1e-3, Warmup: 10, Total: 110, FloorFrac: 0.1}
	for _, tc := range []struct {
		step int
		want float64
	}{{0, 1e-4}, {9, 1e-3}, {10, 1e-3}, {60, 1e-4 + 0.9e-3*0.5}, {110, 1e-4}, {500, 1e-4}} {
		if got := s.LR(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("LR(%d) = %g, want %g", tc.step, got, tc.want)
		}
	}
}

func TestAdamWStep(t *testing.T) {
	c := tinyConfigs()["mea"]
	m, _ := New[float64](c, nil)
	for i := range m.Grads {
		m.Grads[i] = 0.5
	}
	before := append([]float64(nil), m.Params...)
	opt := NewAdamW[float64](AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}, m.Layout)
	opt.Step(m.Params, m.Grads, 0.01)
	// After one step with bias correction, m_hat = g and v_hat = g^2, so the
	// update is lr * g/(|g|+eps) ~ lr, plus decay lr*wd*p on decayed tensors.
	for _, ti := range m.Layout.Tensors {
		for i := ti.Off; i < ti.Off+ti.Len; i++ {
			want := before[i] - 0.01*0.5/(0.5+1e-8)
			if ti.Decay {
				want -= 0.01 * 0.1 * before[i]
			}
			if math.Abs(m.Params[i]-want) > 1e-12 {
				t.Fatalf("%s[%d]: got %v, want %v", ti.Name, i-ti.Off, m.Params[i], want)
			}
		}
	}
	wlc, _ := m.Layout.Lookup("layers.0.attention.wlc_k")
	if wlc.Decay {
		t.Error("mixing matrices must not be weight-decayed")
	}
}

func TestForwardRejectsBadInput(t *testing.T) {
	m, _ := New[float32](tinyConfigs()["mha"], nil)
	if _, err := m.Forward([]int32{1, 2, 99}, nil, 1, 3); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Errorf("out-of-vocabulary token: got %v", err)
	}
	if _, err := m.Forward(make([]int32, 20), nil, 1, 20); err == nil || !strings.Contains(err.Error(), "context") {
		t.Errorf("too long: got %v", err)
	}
}

func TestGenerate(t *testing.T) {
	m, _ := New[float32](tinyConfigs()["mea_h2"], nil)
	out1, kc, err := m.Generate([]int32{1, 2}, 5, NewSampler(0.8, 5, 42))
	if err != nil {
		t.Fatal(err)
	}
	out2, _, _ := m.Generate([]int32{1, 2}, 5, NewSampler(0.8, 5, 42))
	if len(out1) != 5 || kc.Len != 6 {
		t.Fatalf("generated %d tokens with %d cached; want 5 and 6", len(out1), kc.Len)
	}
	for i := range out1 {
		if out1[i] != out2[i] || out1[i] < 0 || out1[i] >= 11 {
			t.Fatalf("same seed gave %v and %v", out1, out2)
		}
	}
}

func TestAdamWParallelEqualsSerial(t *testing.T) {
	c := tinyConfigs()["mea"]
	a, _ := New[float32](c, nil)
	b, _ := New[float32](c, nil)
	for i := range a.Grads {
		a.Grads[i] = float32(i%17) * 0.01
		b.Grads[i] = a.Grads[i]
	}
	oa := NewAdamW[float32](DefaultAdamW(), a.Layout)
	ob := NewAdamW[float32](DefaultAdamW(), b.Layout)
	ob.Parallel = func(n int, fn func(lo, hi int)) { // uneven chunks that cut tensors
		for lo := 0; lo < n; lo += 1000 {
			fn(lo, min(n, lo+1000))
		}
	}
	for range 3 {
		oa.Step(a.Params, a.Grads, 1e-2)
		ob.Step(b.Params, b.Grads, 1e-2)
	}
	for i := range a.Params {
		if a.Params[i] != b.Params[i] {
			t.Fatalf("param %d: serial %v, parallel %v", i, a.Params[i], b.Params[i])
		}
	}
}

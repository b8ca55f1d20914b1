package sessions

import (
	"encoding/json"
	"math"
	"testing"
)

func TestJSONFloat(t *testing.T) {
	type m struct {
		Loss JSONFloat `json:"loss"`
	}
	for _, v := range []float64{0, -1.5, 1e-300, math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1)} {
		b, err := json.Marshal(m{JSONFloat(v)})
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		var back m
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		got := float64(back.Loss)
		if got != v && !(math.IsNaN(got) && math.IsNaN(v)) {
			t.Errorf("%v -> %s -> %v", v, b, got)
		}
	}
	var f JSONFloat
	if err := json.Unmarshal([]byte(`"x"`), &f); err == nil {
		t.Error(`"x" accepted`)
	}

	// A NaN metric can be appended and read back.
	r := newTestRun(t)
	if err := r.AppendMetric(m{JSONFloat(math.NaN())}); err != nil {
		t.Fatal(err)
	}
	var got m
	if _, err := r.ReadMetrics(func(raw json.RawMessage) error { return json.Unmarshal(raw, &got) }); err != nil || !math.IsNaN(float64(got.Loss)) {
		t.Errorf("read back %v, %v", got.Loss, err)
	}
}

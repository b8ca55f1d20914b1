package model_test

import (
	"testing"

	"github.com/mealab/mealab/model"
)

// BenchmarkLayerSignals is what the per-layer detail costs a training step:
// LayerGradNorms (one read of the gradient slab) against the step it
// follows (forward and backward), on config A of BenchmarkTrainStep and on
// the lr-sweep preset's size. It reports the ratio as overhead-%.
func BenchmarkLayerSignals(b *testing.B) {
	for _, bc := range []struct {
		name                             string
		layers, width, heads, ctx, batch int
	}{{"lr-sweep", 2, 64, 4, 64, 8}, {"A", 4, 128, 4, 128, 16}} {
		c := model.Config{Vocab: 256, Context: bc.ctx, Layers: bc.layers, Width: bc.width, Heads: bc.heads, Seed: 1}
		_ = c.ApplyVariant("mea", 0)
		m, err := model.New[float32](c, fast{})
		if err != nil {
			b.Fatal(err)
		}
		N := bc.batch * bc.ctx
		x, y := make([]int32, N), make([]int32, N)
		for i := range x {
			x[i], y[i] = int32(i*31%256), int32(i*17%256)
		}
		step := func() {
			_, _ = m.Forward(x, y, bc.batch, bc.ctx)
			m.ZeroGrad()
			m.Backward(1)
		}
		var stepSec float64
		b.Run(bc.name+"/step", func(b *testing.B) {
			for b.Loop() {
				step()
			}
			stepSec = b.Elapsed().Seconds() / float64(b.N)
		})
		b.Run(bc.name+"/layer-grad-norms", func(b *testing.B) {
			step()
			var buf []float64
			for b.Loop() {
				buf = m.LayerGradNorms(buf)
			}
			if stepSec > 0 {
				b.ReportMetric(100*b.Elapsed().Seconds()/float64(b.N)/stepSec, "overhead-%")
			}
		})
	}
}

package trainer

import (
	"fmt"
	"math"
)

// Event kinds of the spike detector.
const (
	LossSpike = "loss-spike"
	GradSpike = "grad-spike"
)

// The spike rules. Both compare a step with the steps just before it, so a
// slow drift never counts, and both report an episode once: after a spike
// the next one is reported only when the signal has first come back under
// its threshold.
//
//   - Loss spike at step t: s_t > (1 + SpikeLossRise) * min(s over the
//     SpikeWindow steps before t), where s is the loss smoothed with a
//     bias-corrected EMA of factor SpikeLossEMA. Training loss falls, so its
//     recent minimum is the level a healthy run stays near. The raw loss of
//     one small batch is too noisy for this (on the lr-sweep preset a
//     healthy run's raw loss leaves its 50-step minimum by 20% every few
//     steps); the EMA keeps batch noise to a few percent, while a jump of
//     the loss by half or more for a few steps, or a single step at several
//     times the loss, still crosses the line.
//   - Grad-norm spike at step t: gradnorm_t > SpikeGradFactor * mean(grad
//     norm over the SpikeWindow steps before t), before clipping. A healthy
//     run's gradient norm moves by tens of percent from step to step; a
//     norm several times its recent mean is the jolt that precedes a loss
//     spike.
//
// Neither rule fires before SpikeMinSteps finite steps are in the window,
// and non-finite values are skipped (divergence reports those).
const (
	SpikeWindow     = 50
	SpikeMinSteps   = 10
	SpikeLossRise   = 0.2
	SpikeLossEMA    = 0.9
	SpikeGradFactor = 3.0
)

// spikeRing is the last SpikeWindow finite values of one signal.
type spikeRing struct {
	v    [SpikeWindow]float64
	n, i int
}

func (r *spikeRing) push(x float64) {
	r.v[r.i] = x
	r.i = (r.i + 1) % SpikeWindow
	r.n = min(r.n+1, SpikeWindow)
}

func (r *spikeRing) min() float64 {
	m := math.Inf(1)
	for _, x := range r.v[:r.n] {
		m = math.Min(m, x)
	}
	return m
}

func (r *spikeRing) mean() float64 {
	var s float64
	for _, x := range r.v[:r.n] {
		s += x
	}
	return s / float64(r.n)
}

// spikeDetector applies the spike rules to one run's steps.
type spikeDetector struct {
	loss, grad     spikeRing // smoothed losses, raw grad norms
	ema, corr      float64   // the loss EMA and its bias correction
	inLoss, inGrad bool      // inside a reported episode
	lossN, gradN   int       // episodes reported so far
}

// observe takes one training step and returns the spike events it starts.
func (d *spikeDetector) observe(p Point) []Event {
	var out []Event
	if finite64(p.Loss) {
		if d.corr == 0 {
			d.corr = 1
		}
		d.ema = SpikeLossEMA*d.ema + (1-SpikeLossEMA)*p.Loss
		d.corr *= SpikeLossEMA
		s := d.ema / (1 - d.corr)
		if d.loss.n >= SpikeMinSteps {
			base := d.loss.min()
			over := s > (1+SpikeLossRise)*base
			if over && !d.inLoss {
				d.lossN++
				out = append(out, Event{Run: p.Run, Step: p.Step, Kind: LossSpike,
					Detail: fmt.Sprintf("loss spike: smoothed loss %.3f (this step %.3f) is %.0f%% above its %d-step minimum %.3f", s, p.Loss, 100*(s/base-1), d.loss.n, base)})
			}
			d.inLoss = over
		}
		d.loss.push(s)
	}
	if finite64(p.GradNorm) {
		if d.grad.n >= SpikeMinSteps {
			base := d.grad.mean()
			over := p.GradNorm > SpikeGradFactor*base
			if over && !d.inGrad {
				d.gradN++
				out = append(out, Event{Run: p.Run, Step: p.Step, Kind: GradSpike,
					Detail: fmt.Sprintf("grad-norm spike: %.3g is %.1fx its %d-step mean %.3g", p.GradNorm, p.GradNorm/base, d.grad.n, base)})
			}
			d.inGrad = over
		}
		d.grad.push(p.GradNorm)
	}
	return out
}

// replay rebuilds the detector from a restored run's history, so counts
// and windows continue as if the run had never stopped.
func (d *spikeDetector) replay(pts []Point) {
	*d = spikeDetector{}
	for _, p := range pts {
		d.observe(p)
	}
}

func finite64(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

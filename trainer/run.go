package trainer

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mealab/mealab/model"
)

// RunSpec is everything that defines a run: model, optimiser, schedule, data
// and seeds. It is plain data, kept with the run and written to sessions.
type RunSpec struct {
	Name  string            `json:"name"`
	Model model.Config      `json:"model"`
	Optim model.AdamWConfig `json:"optim"`
	Sched model.Schedule    `json:"schedule"`
	Batch int               `json:"batch"`
	// SeqLen is the training sequence length; 0 means the model's context.
	SeqLen int `json:"seq_len"`
	// Clip is the global gradient-norm limit; 0 turns clipping off, which the
	// LR-stability question needs (clipping absorbs the spikes).
	Clip float64  `json:"clip"`
	Data DataSpec `json:"data"`
	// DataSeed picks the training batches. Runs that share it see the same
	// batches in the same order, so their curves compare fairly.
	DataSeed    uint64 `json:"data_seed"`
	EvalEvery   int    `json:"eval_every"`   // steps between validation passes; 0: never
	EvalBatches int    `json:"eval_batches"` // held-out batches per validation pass
	SampleEvery int    `json:"sample_every"` // steps between generated samples; 0: never
	SampleLen   int    `json:"sample_len"`   // tokens per sample
	Device      string `json:"device"`       // "cpu" (the CUDA build adds "cuda")
	// Ops schedules head surgery at given steps.
	Ops []ScheduledOp `json:"ops,omitempty"`
	// Group names the replica group a seeded run belongs to (the preset run's
	// name; see presets.Replicate), and Replica is its 1-based index in the
	// group. Replica i of every group shares its seeds, so groups compare
	// pairwise. Zero for a run that is not a replica.
	Group   string `json:"group,omitempty"`
	Replica int    `json:"replica,omitempty"`
	// Initial is the model the run started with, kept when head surgery
	// changes Model in place (nil: Model is the initial one), and Applied
	// the surgery done so far, scheduled or by hand, each at the step after
	// which it ran; with them a run can be written back as a preset.
	Initial *model.Config `json:"initial,omitempty"`
	Applied []ScheduledOp `json:"applied,omitempty"`
}

var nanF = math.NaN()

// Normalized fills defaults.
func (s RunSpec) Normalized() RunSpec {
	s.Model = s.Model.Normalized()
	if s.SeqLen == 0 {
		s.SeqLen = s.Model.Context
	}
	if s.Optim == (model.AdamWConfig{}) {
		s.Optim = model.DefaultAdamW()
	}
	if s.EvalBatches == 0 {
		s.EvalBatches = 4
	}
	if s.SampleLen == 0 {
		s.SampleLen = 64
	}
	if s.Device == "" {
		s.Device = "cpu"
	}
	return s
}

// Validate reports problems with s that a person can fix.
func (s RunSpec) Validate() error {
	s = s.Normalized()
	var errs []error
	if err := s.Model.Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.Batch <= 0 {
		errs = append(errs, fmt.Errorf("batch must be positive, got %d", s.Batch))
	}
	if s.SeqLen <= 0 || s.SeqLen > s.Model.Context {
		errs = append(errs, fmt.Errorf("sequence length %d must be between 1 and the context %d", s.SeqLen, s.Model.Context))
	}
	if !(s.Sched.Peak > 0) || math.IsInf(s.Sched.Peak, 0) {
		errs = append(errs, fmt.Errorf("learning rate must be positive, got %g", s.Sched.Peak))
	}
	if s.Sched.Total <= 0 {
		errs = append(errs, fmt.Errorf("steps must be positive, got %d", s.Sched.Total))
	}
	if s.Sched.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warmup must not be negative, got %d", s.Sched.Warmup))
	}
	if s.Sched.FloorFrac < 0 || s.Sched.FloorFrac > 1 {
		errs = append(errs, fmt.Errorf("lr_floor is a fraction of the peak LR between 0 and 1, got %g", s.Sched.FloorFrac))
	}
	if s.Clip < 0 {
		errs = append(errs, fmt.Errorf("clip must be 0 (off) or positive, got %g", s.Clip))
	}
	if s.Device != "cpu" && s.Device != "cuda" {
		errs = append(errs, fmt.Errorf("device %q is not known; use cpu or cuda", s.Device))
	}
	return errors.Join(errs...)
}

// State is where a run is in its life.
type State int

const (
	Running State = iota
	Paused
	Done     // reached its step budget
	Stopped  // stopped by a person
	Diverged // loss became NaN/Inf or blew up; see RunInfo.Reason
)

func (s State) String() string {
	switch s {
	case Running:
		return "running"
	case Paused:
		return "paused"
	case Done:
		return "done"
	case Stopped:
		return "stopped"
	case Diverged:
		return "diverged"
	}
	return "unknown"
}

// Finished reports whether a run will never step again.
func (s State) Finished() bool { return s == Done || s == Stopped || s == Diverged }

// run is one training run owned by a Lab's loop goroutine.
type run struct {
	id     RunID
	spec   RunSpec
	parent RunID
	m      *model.Model[float32]
	opt    *model.AdamW[float32]
	dev    Engine // nil: train on the host model
	stale  bool   // the host copy is behind the device's
	// removed is set by Lab.Remove: the run is out of the lab and must not
	// step again, even in the round that was under way.
	removed bool
	ds      Dataset
	stream  *Stream
	x, y    []int32

	step      int
	tokens    int64
	wall      time.Duration
	state     State
	reason    string
	divAt     int
	firstLoss float64
	lastLoss  float64
	lastVal   float64
	bestVal   float64
	recall    float64
	tokPerSec float64
	spikes    spikeDetector
	layers    layerHist // per-layer signals (layers.go)
}

func newRun(id RunID, spec RunSpec, compute model.Compute, ds Dataset) (*run, error) {
	spec = spec.Normalized()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if ds.Vocab() > spec.Model.Vocab {
		return nil, fmt.Errorf("the data has %d distinct tokens but the model's vocabulary is %d; set vocab to at least %d", ds.Vocab(), spec.Model.Vocab, ds.Vocab())
	}
	if err := checkMemory(spec); err != nil {
		return nil, err
	}
	m, err := model.New[float32](spec.Model, compute)
	if err != nil {
		return nil, err
	}
	n := spec.Batch * spec.SeqLen
	r := &run{
		id: id, spec: spec, m: m, ds: ds,
		opt:    newOpt(spec.Optim, m),
		stream: NewStream(spec.DataSeed),
		x:      make([]int32, n), y: make([]int32, n),
		firstLoss: nanF, lastLoss: nanF, lastVal: nanF, bestVal: nanF, recall: nanF,
	}
	if err := r.attachDevice(); err != nil {
		return nil, err
	}
	return r, nil
}

// attachDevice (re)creates the device copy from the host model, after
// creation, surgery or restore.
func (r *run) attachDevice() error {
	if r.dev != nil {
		_ = r.dev.Close()
		r.dev = nil
	}
	dev, err := newEngine(r.spec.Device, r.m, r.opt)
	if err != nil {
		return err
	}
	r.dev, r.stale = dev, false
	return nil
}

// syncHost brings weights and AdamW state back from the device before the
// host model is read (samples, checkpoints, surgery, the heads view).
func (r *run) syncHost() error {
	if r.dev == nil || !r.stale {
		return nil
	}
	steps, err := r.dev.Download(r.m.Params, r.opt.M, r.opt.V)
	if err != nil {
		return err
	}
	r.opt.Steps, r.stale = steps, false
	return nil
}

// trainStep runs forward, backward, clipping and AdamW once.
func (r *run) trainStep() (Point, error) {
	s := r.spec
	B, T := s.Batch, s.SeqLen
	t0 := time.Now()
	r.stream.Next(r.ds, r.x, r.y, B, T)
	lr := s.Sched.LR(r.step)
	var loss, gn, maxLogit float64
	if r.dev != nil {
		var err error
		if loss, gn, maxLogit, err = r.dev.Step(r.x, r.y, B, T, lr, s.Clip, s.Optim); err != nil {
			return Point{}, err
		}
		r.stale = true
	} else {
		var err error
		if loss, err = r.m.Forward(r.x, r.y, B, T); err != nil {
			return Point{}, err
		}
		r.m.ZeroGrad()
		r.m.Backward(1)
		gn = r.noteLayers()
		r.m.ClipGradsAt(gn, s.Clip)
		if !math.IsNaN(loss) && !math.IsInf(loss, 0) && !math.IsNaN(gn) && !math.IsInf(gn, 0) {
			r.opt.Step(r.m.Params, r.m.Grads, lr)
		}
		maxLogit = r.m.MaxLogit
	}
	dt := time.Since(t0)
	r.step++
	r.tokens += int64(B * T)
	r.wall += dt
	tps := float64(B*T) / dt.Seconds()
	if r.tokPerSec == 0 {
		r.tokPerSec = tps
	} else {
		r.tokPerSec = 0.9*r.tokPerSec + 0.1*tps
	}
	if math.IsNaN(r.firstLoss) {
		r.firstLoss = loss
	}
	r.lastLoss = loss
	return Point{Run: r.id, Step: r.step, Tokens: r.tokens, Wall: r.wall.Seconds(), Loss: loss, LR: lr,
		GradNorm: gn, MaxLogit: maxLogit, TokPerSec: r.tokPerSec}, nil
}

// divergence says why a run should be marked diverged after p, or "".
// NaN/Inf is certain; a loss 1.5x above the first step's (which is near
// ln(vocab) for a fresh model) is a spike no healthy run shows.
func (r *run) divergence(p Point) string {
	switch {
	case math.IsNaN(p.Loss) || math.IsInf(p.Loss, 0):
		return "loss is not a number"
	case math.IsNaN(p.GradNorm) || math.IsInf(p.GradNorm, 0):
		return "gradient is not finite"
	case p.Loss > 1.5*r.firstLoss && r.step > 1:
		return fmt.Sprintf("loss %.3g rose above 1.5x its start %.3g", p.Loss, r.firstLoss)
	}
	return ""
}

// evaluate scores the fixed validation batches.
func (r *run) evaluate() (EvalPoint, error) {
	s := r.spec
	B, T := s.Batch, s.SeqLen
	var sum float64
	var hits, total int
	for i := 0; i < s.EvalBatches; i++ {
		r.ds.Val(i, r.x, r.y, B, T)
		var loss float64
		var err error
		var devLogits []float32
		if r.dev != nil {
			if r.ds.Recall() {
				devLogits = make([]float32, B*T*r.m.Cfg.Vocab)
			}
			loss, err = r.dev.Eval(r.x, r.y, B, T, devLogits)
		} else {
			loss, err = r.m.Forward(r.x, r.y, B, T)
		}
		if err != nil {
			return EvalPoint{}, err
		}
		sum += loss
		if r.ds.Recall() {
			V := r.m.Cfg.Vocab
			for n, tg := range r.y {
				if tg < 0 {
					continue
				}
				total++
				var lg []float32
				if devLogits != nil {
					lg = devLogits[n*V : (n+1)*V]
				} else {
					lg = r.m.Logits(n)
				}
				best := 0
				for v := range lg {
					if lg[v] > lg[best] {
						best = v
					}
				}
				if int32(best) == tg {
					hits++
				}
			}
		}
	}
	ep := EvalPoint{Run: r.id, Step: r.step, Tokens: r.tokens, Wall: r.wall.Seconds(), ValLoss: sum / float64(s.EvalBatches), Recall: math.NaN()}
	if total > 0 {
		ep.Recall = float64(hits) / float64(total)
		r.recall = ep.Recall
	}
	r.lastVal = ep.ValLoss
	if math.IsNaN(r.bestVal) || ep.ValLoss < r.bestVal {
		r.bestVal = ep.ValLoss
	}
	return ep, nil
}

// sample generates text with the KV cache and measures decoding.
func (r *run) sample(seed uint64) (Sample, error) {
	if err := r.syncHost(); err != nil {
		return Sample{}, err
	}
	n := r.spec.SampleLen
	prompt := r.ds.Prompt()
	t0 := time.Now()
	out, kc, err := r.m.Generate(prompt, n, model.NewSampler(0.8, 0, seed))
	if err != nil {
		return Sample{}, err
	}
	dt := time.Since(t0)
	return Sample{
		Run: r.id, Step: r.step,
		Prompt: r.ds.Decode(prompt), Text: r.ds.Decode(out),
		TokPerSec:    float64(len(prompt)+len(out)) / dt.Seconds(),
		CacheBytes:   kc.Bytes(),
		CacheTokens:  kc.Cap,
		FormulaBytes: r.m.Cfg.KVBytesPerToken(4) * int64(kc.Cap),
	}, nil
}

func (r *run) info() RunInfo {
	c := r.m.Cfg
	return RunInfo{
		ID: r.id, Name: r.spec.Name, Parent: r.parent, Variant: c.Variant(),
		Heads: c.Heads, KVHeads: c.KVHeads, CachedHeads: c.CachedHeads(),
		MHA: !c.HLC && !c.GroupNorm && len(c.LayerKV) == 0 && c.KVHeads == c.Heads, LR: r.spec.Sched.Peak, CurLR: r.spec.Sched.LR(r.step),
		Step: r.step, Steps: r.spec.Sched.Total, Tokens: r.tokens, Wall: r.wall.Seconds(),
		State: r.state, DivergedAt: r.divAt, Reason: r.reason,
		Loss: r.lastLoss, ValLoss: r.lastVal, BestVal: r.bestVal, Recall: r.recall,
		TokPerSec: r.tokPerSec, KVBytesPerToken: c.KVBytesPerToken(4),
		LossSpikes: r.spikes.lossN, GradSpikes: r.spikes.gradN,
		Params: r.m.ParamCount(), Spec: r.spec,
	}
}

// checkMemory refuses a run whose parameters, gradients, AdamW moments and
// activations would not fit in the machine's memory.
func checkMemory(s RunSpec) error {
	params := int64(model.NewLayout(s.Model).Size)
	need := params*4*4 + model.ActivationBytes(s.Model, s.Batch, s.SeqLen, 4)
	avail := availableMemory()
	if avail > 0 && need > avail*8/10 {
		return fmt.Errorf("this run needs about %.1f GiB (parameters, gradients, AdamW state and activations) but the machine has %.1f GiB available; reduce width, layers, batch or context",
			float64(need)/(1<<30), float64(avail)/(1<<30))
	}
	return nil
}

// newOpt makes the run's optimiser, updating in parallel on the model's
// backend.
func newOpt(c model.AdamWConfig, m *model.Model[float32]) *model.AdamW[float32] {
	o := model.NewAdamW[float32](c, m.Layout)
	o.Parallel = m.Compute().ParallelFor
	o.UseKernels(m.Compute())
	return o
}

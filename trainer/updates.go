package trainer

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// RunID names a run inside a lab.
type RunID int

// Update is one message on a lab's metric stream: Point, EvalPoint, Event,
// Sample or RunInfo (a run's new state).
type Update interface{ RunOf() RunID }

// Point is one training step.
type Point struct {
	Run       RunID   `json:"run"`
	Step      int     `json:"step"`
	Tokens    int64   `json:"tokens"`
	Wall      float64 `json:"wall"` // seconds this run has spent training
	Loss      float64 `json:"loss"`
	LR        float64 `json:"lr"`
	GradNorm  float64 `json:"grad_norm"` // before clipping
	MaxLogit  float64 `json:"max_logit"` // largest |attention logit|: grows before divergence
	TokPerSec float64 `json:"tok_per_sec"`
}

// EvalPoint is a validation pass over the fixed held-out batches.
type EvalPoint struct {
	Run     RunID   `json:"run"`
	Step    int     `json:"step"`
	Tokens  int64   `json:"tokens"`
	Wall    float64 `json:"wall"`
	ValLoss float64 `json:"val_loss"`
	Recall  float64 `json:"recall"` // MQAR recall accuracy; NaN when not a recall task
}

// Event marks something that happened to a run: surgery, an LR change,
// divergence, a fork, pause and resume.
type Event struct {
	Run    RunID  `json:"run"`
	Step   int    `json:"step"`
	Kind   string `json:"kind"`   // "surgery", "refused", "skipped", "fork", "lr", "diverged", "pause", "resume", "stop", "done", "start", "removed"
	Detail string `json:"detail"` // human-readable
	// Surgery only: KV-cache bytes per token before and after, and the
	// approximation error of the operation (relative Frobenius, max over
	// layers; 0 for function-preserving operations).
	KVBefore  int64   `json:"kv_before,omitempty"`
	KVAfter   int64   `json:"kv_after,omitempty"`
	ApproxErr float64 `json:"approx_err,omitempty"`
	Child     RunID   `json:"child,omitempty"` // fork: the new run
	LossAfter float64 `json:"loss_after,omitempty"`

	// Surgery only: the realised relative error of the effective per-head
	// K and V projections, per layer (model.Report).
	ErrK []float64 `json:"err_k,omitempty"`
	ErrV []float64 `json:"err_v,omitempty"`
}

// Sample is text a run generated with its KV cache.
type Sample struct {
	Run          RunID   `json:"run"`
	Step         int     `json:"step"`
	Prompt       string  `json:"prompt"`
	Text         string  `json:"text"`
	TokPerSec    float64 `json:"tok_per_sec"`   // decoding speed, prompt included
	CacheBytes   int64   `json:"cache_bytes"`   // what the cache allocated
	CacheTokens  int     `json:"cache_tokens"`  // positions it holds
	FormulaBytes int64   `json:"formula_bytes"` // 2*layers*cached_heads*d*4 * positions
}

// RunInfo is a snapshot of one run for tables.
type RunInfo struct {
	ID              RunID   `json:"id"`
	Name            string  `json:"name"`
	Parent          RunID   `json:"parent,omitempty"` // forks: the run it came from
	Variant         string  `json:"variant"`
	Heads           int     `json:"heads"`
	KVHeads         int     `json:"kv_heads"`
	CachedHeads     int     `json:"cached_heads"` // KV heads summed over layers
	MHA             bool    `json:"mha"`          // plain MHA (the KV baseline)
	LR              float64 `json:"lr"`           // peak LR of the schedule
	CurLR           float64 `json:"cur_lr"`       // LR at the current step
	Step            int     `json:"step"`
	Steps           int     `json:"steps"`
	Tokens          int64   `json:"tokens"`
	Wall            float64 `json:"wall"`
	State           State   `json:"state"`
	DivergedAt      int     `json:"diverged_at,omitempty"`
	Reason          string  `json:"reason,omitempty"`
	Loss            float64 `json:"loss"`
	ValLoss         float64 `json:"val_loss"`
	BestVal         float64 `json:"best_val"`
	Recall          float64 `json:"recall"`
	TokPerSec       float64 `json:"tok_per_sec"`
	KVBytesPerToken int64   `json:"kv_bytes_per_token"`
	Params          int     `json:"params"`
	Spec            RunSpec `json:"spec"`

	// Spike episodes so far (see spikes.go for the rules).
	LossSpikes int `json:"loss_spikes"`
	GradSpikes int `json:"grad_spikes"`
}

func (p Point) RunOf() RunID     { return p.Run }
func (p EvalPoint) RunOf() RunID { return p.Run }
func (e Event) RunOf() RunID     { return e.Run }
func (s Sample) RunOf() RunID    { return s.Run }
func (i RunInfo) RunOf() RunID   { return i.ID }

// availableMemory reads MemAvailable from /proc/meminfo; 0 when unknown.
func availableMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

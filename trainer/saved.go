package trainer

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mealab/mealab/model"
)

// Saved is a run rebuilt from a checkpoint to be used rather than trained:
// evaluated with the trainer's own validation code, scored on other text,
// sampled with its KV cache. It always runs on the host (compute), so a run
// trained on a GPU is evaluated on the CPU.
type Saved struct {
	r *run
}

// OpenSaved rebuilds run state st with its dataset. A run trained on a
// text file needs that file (at the path it was trained with) for its
// vocabulary.
func OpenSaved(st RunState, compute model.Compute) (*Saved, error) {
	spec := st.Spec.Normalized()
	spec.Device = "cpu"
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("saved run %s: %w", spec.Name, err)
	}
	ds, err := spec.Data.Open(spec.SeqLen)
	if err != nil {
		return nil, fmt.Errorf("saved run %s: its vocabulary comes from its training data: %w", spec.Name, err)
	}
	r, err := newRun(st.ID, spec, compute, ds)
	if err != nil {
		return nil, err
	}
	if len(st.Params) != len(r.m.Params) {
		return nil, fmt.Errorf("saved run %s has %d parameters but its config needs %d", spec.Name, len(st.Params), len(r.m.Params))
	}
	copy(r.m.Params, st.Params)
	r.step, r.tokens = st.Step, st.Tokens
	return &Saved{r: r}, nil
}

// Step is the step the checkpoint was taken at.
func (s *Saved) Step() int { return s.r.step }

// Config is the run's model config.
func (s *Saved) Config() model.Config { return s.r.m.Cfg }

// Spec is the run's spec (its device set to cpu).
func (s *Saved) Spec() RunSpec { return s.r.spec }

// Dataset is the run's data.
func (s *Saved) Dataset() Dataset { return s.r.ds }

// Validate runs the trainer's validation pass (the same code, batches and
// averaging as training), so on the same machine and thread count it
// equals the validation loss recorded at the checkpoint's step bit for bit.
func (s *Saved) Validate() (EvalPoint, error) { return s.r.evaluate() }

// TokenUnit says what one token of the run's data is: "character" for the
// built-in language and UTF-8 text, "byte" for non-UTF-8 files, "token"
// for MQAR.
func (s *Saved) TokenUnit() string {
	switch d := s.r.ds.(type) {
	case Synthetic:
		return "character"
	case *Text:
		if d.bytes {
			return "byte"
		}
		return "character"
	}
	return "token"
}

// Encode turns text into the run's tokens. Characters the vocabulary does
// not have are an error that lists them.
func (s *Saved) Encode(text string) ([]int32, error) {
	var toks []int32
	missing := map[rune]int{}
	switch d := s.r.ds.(type) {
	case Synthetic:
		for _, c := range text {
			if c < utf8.RuneSelf && synthIndex[c] >= 0 {
				toks = append(toks, synthIndex[c])
			} else {
				missing[c]++
			}
		}
	case *Text:
		if d.bytes {
			for i := 0; i < len(text); i++ {
				toks = append(toks, int32(text[i]))
			}
			return toks, nil
		}
		for _, c := range text {
			if i, ok := slices.BinarySearch(d.runes, c); ok {
				toks = append(toks, int32(i))
			} else {
				missing[c]++
			}
		}
	default:
		return nil, fmt.Errorf("run %s trains on %s, which is not text", s.r.spec.Name, s.r.ds.Name())
	}
	if len(missing) > 0 {
		var cs []rune
		for c := range missing {
			cs = append(cs, c)
		}
		sort.Slice(cs, func(i, j int) bool {
			return missing[cs[i]] > missing[cs[j]] || missing[cs[i]] == missing[cs[j]] && cs[i] < cs[j]
		})
		var parts []string
		for i, c := range cs {
			if i == 12 {
				parts = append(parts, fmt.Sprintf("and %d more", len(cs)-12))
				break
			}
			parts = append(parts, fmt.Sprintf("%q (U+%04X) x%d", c, c, missing[c]))
		}
		return nil, fmt.Errorf("the text has %d distinct characters that run %s's vocabulary (%d tokens, from %s) cannot encode: %s",
			len(cs), s.r.spec.Name, s.r.ds.Vocab(), s.r.ds.Name(), strings.Join(parts, ", "))
	}
	return toks, nil
}

// Loss is the mean cross-entropy (nats per token) of predicting every token
// of toks after the first from the ones before it, in windows of the run's
// sequence length (each window starts with an empty context), and the
// number of tokens scored.
func (s *Saved) Loss(toks []int32) (float64, int, error) {
	T, B := s.r.spec.SeqLen, s.r.spec.Batch
	if len(toks) < 2 {
		return 0, 0, fmt.Errorf("the text has %d tokens; at least 2 are needed to score one prediction", len(toks))
	}
	m := s.r.m
	var sum float64
	var count int
	full := (len(toks) - 1) / T
	x, y := make([]int32, B*T), make([]int32, B*T)
	for w := 0; w < full; w += B {
		n := min(B, full-w)
		for b := 0; b < n; b++ {
			window(toks, (w+b)*T, x[b*T:(b+1)*T], y[b*T:(b+1)*T])
		}
		loss, err := m.Forward(x[:n*T], y[:n*T], n, T)
		if err != nil {
			return 0, 0, err
		}
		sum += loss * float64(n*T)
		count += n * T
	}
	if rest := len(toks) - 1 - full*T; rest > 0 {
		off := full * T
		loss, err := m.Forward(toks[off:off+rest], toks[off+1:off+rest+1], 1, rest)
		if err != nil {
			return 0, 0, err
		}
		sum += loss * float64(rest)
		count += rest
	}
	return sum / float64(count), count, nil
}

// Generation is text a saved run generated, with the decoding speed and
// the KV cache it used.
type Generation struct {
	Prompt, Text string
	Tokens       int           // tokens decoded (prompt included): one DecodeStep each
	Elapsed      time.Duration // decoding time, prompt included
	CacheBytes   int64         // what the cache allocated, counted from its buffers
	CacheTokens  int           // positions it holds
	FormulaBytes int64         // Config.KVBytesPerToken(4) * positions
}

// TokPerSec is the decoding speed.
func (g Generation) TokPerSec() float64 {
	if g.Elapsed <= 0 {
		return math.Inf(1)
	}
	return float64(g.Tokens) / g.Elapsed.Seconds()
}

// Generate feeds prompt through a fresh KV cache and samples n tokens.
func (s *Saved) Generate(prompt []int32, n int, temperature float64, topK int, seed uint64) (Generation, error) {
	m := s.r.m
	t0 := time.Now()
	out, kc, err := m.Generate(prompt, n, model.NewSampler(temperature, topK, seed))
	if err != nil {
		return Generation{}, err
	}
	dt := time.Since(t0)
	return Generation{
		Prompt: s.r.ds.Decode(prompt), Text: s.r.ds.Decode(out),
		Tokens: len(prompt) + len(out), Elapsed: dt,
		CacheBytes: kc.Bytes(), CacheTokens: kc.Cap,
		FormulaBytes: m.Cfg.KVBytesPerToken(4) * int64(kc.Cap),
	}, nil
}

package trainer

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// Dataset is a source of token windows. Training batches come from a Stream
// (its position is part of a run's state); validation batches are fixed by
// the dataset alone, so every run is evaluated on the same tokens.
type Dataset interface {
	// Name is a short label for tables ("synthetic", "mqar", a file name).
	Name() string
	// Vocab is the number of distinct tokens.
	Vocab() int
	// Fill writes B rows of T inputs and next-token targets (a negative
	// target is not scored) drawn with rng.
	Fill(rng *rand.Rand, x, y []int32, B, T int)
	// Val writes validation batch i (0-based) of B rows of T tokens. It must
	// not depend on anything but i, B and T.
	Val(i int, x, y []int32, B, T int)
	// Decode turns tokens into text for samples.
	Decode(tokens []int32) string
	// Prompt is a short start for samples.
	Prompt() []int32
	// Recall reports whether Val's scored targets are recall queries, so
	// the trainer reports recall accuracy.
	Recall() bool
}

// Stream is a run's position in its training data: a seeded PCG whose
// state is saved with checkpoints, so a resumed run sees the same batches.
type Stream struct {
	Seed uint64
	pcg  *rand.PCG
	rng  *rand.Rand
}

// NewStream starts a data stream at the beginning of seed's sequence.
func NewStream(seed uint64) *Stream {
	p := rand.NewPCG(seed, 0x5eed)
	return &Stream{Seed: seed, pcg: p, rng: rand.New(p)}
}

// Next fills a training batch.
func (s *Stream) Next(ds Dataset, x, y []int32, B, T int) { ds.Fill(s.rng, x, y, B, T) }

// MarshalBinary saves the stream position.
func (s *Stream) MarshalBinary() ([]byte, error) { return s.pcg.MarshalBinary() }

// UnmarshalBinary restores a position saved by MarshalBinary.
func (s *Stream) UnmarshalBinary(b []byte) error { return s.pcg.UnmarshalBinary(b) }

// Clone copies the stream at its current position (for forks).
func (s *Stream) Clone() *Stream {
	b, _ := s.MarshalBinary()
	c := NewStream(s.Seed)
	_ = c.UnmarshalBinary(b)
	return c
}

// valRNG is the fixed generator behind validation batch i: it depends only
// on i, so every run, fork and resumed run scores the same held-out tokens.
func valRNG(i int) *rand.Rand {
	return rand.New(rand.NewPCG(0x7a11d, uint64(i)+1))
}

// ---------------------------------------------------------------------------
// Synthetic language.

// Synthetic is the built-in language: small documents of sentences with
// local grammar (filler sentences) and long-range structure (facts stated
// early, queried later, answerable only by attending back). Tokens are
// characters of a fixed 32-symbol alphabet.
type Synthetic struct{}

const synthAlphabet = "abcdefghijklmnopqrstuvwxyz .?,\n'"

var (
	synthNames   = []string{"ada", "bo", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo", "kit", "lu", "max", "ned", "oz", "pip"}
	synthColours = []string{"red", "blue", "green", "gold", "grey", "pink", "black", "white"}
	synthThings  = []string{"key", "cup", "hat", "box", "pen", "map", "coin", "lamp"}
	synthAdjs    = []string{"old", "small", "quiet", "busy", "tall", "warm", "odd", "calm"}
	synthNouns   = []string{"cat", "dog", "town", "boat", "tree", "road", "bird", "fish"}
	synthVerbs   = []string{"sees", "likes", "finds", "follows", "helps", "meets"}
	synthIndex   [256]int32
)

func init() {
	for i := range synthIndex {
		synthIndex[i] = -1
	}
	for i := 0; i < len(synthAlphabet); i++ {
		synthIndex[synthAlphabet[i]] = int32(i)
	}
}

func (Synthetic) Name() string { return "synthetic" }
func (Synthetic) Vocab() int   { return len(synthAlphabet) }
func (Synthetic) Recall() bool { return false }

func (Synthetic) Decode(tokens []int32) string {
	var b strings.Builder
	for _, t := range tokens {
		if t >= 0 && int(t) < len(synthAlphabet) {
			b.WriteByte(synthAlphabet[t])
		}
	}
	return b.String()
}

func (Synthetic) Prompt() []int32 { return encodeSynth("ada has a ") }

func encodeSynth(s string) []int32 {
	out := make([]int32, 0, len(s))
	for i := 0; i < len(s); i++ {
		if t := synthIndex[s[i]]; t >= 0 {
			out = append(out, t)
		}
	}
	return out
}

// document writes sentences until at least n characters exist. Each
// document starts fresh, so every fact a query asks about is in the window.
func synthDocument(rng *rand.Rand, buf []byte, n int) []byte {
	buf = buf[:0]
	type fact struct{ colour, thing string }
	facts := map[int]fact{}
	known := make([]int, 0, 8)
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for len(buf) < n {
		switch r := rng.IntN(10); {
		case r < 4 || len(known) == 0: // state a fact
			who := rng.IntN(len(synthNames))
			f := fact{pick(synthColours), pick(synthThings)}
			if _, ok := facts[who]; !ok {
				known = append(known, who)
			}
			facts[who] = f
			buf = fmt.Appendf(buf, "%s has a %s %s. ", synthNames[who], f.colour, f.thing)
		case r < 7: // ask about an earlier fact: the long-range part
			who := known[rng.IntN(len(known))]
			f := facts[who]
			buf = fmt.Appendf(buf, "what does %s have? a %s %s.\n", synthNames[who], f.colour, f.thing)
		default: // local grammar
			buf = fmt.Appendf(buf, "the %s %s %s the %s. ", pick(synthAdjs), pick(synthNouns), pick(synthVerbs), pick(synthNouns))
		}
	}
	return buf
}

func (s Synthetic) Fill(rng *rand.Rand, x, y []int32, B, T int) {
	var buf []byte
	for b := 0; b < B; b++ {
		buf = synthDocument(rng, buf, T+1)
		for t := 0; t < T; t++ {
			x[b*T+t] = synthIndex[buf[t]]
			y[b*T+t] = synthIndex[buf[t+1]]
		}
	}
}

func (s Synthetic) Val(i int, x, y []int32, B, T int) { s.Fill(valRNG(i), x, y, B, T) }

// ---------------------------------------------------------------------------
// Multi-query associative recall.

// MQAR is multi-query associative recall (Arora et al. 2023, "Zoology"):
// each sequence lists key-value pairs, then queries some keys again; only
// the value after each queried key is scored. Keys use tokens [2, 2+Keys),
// values [2+Keys, 2+Keys+Values); token 0 pads, 1 separates.
type MQAR struct {
	Keys, Values int // vocabulary of keys and values
	Pairs        int // key-value pairs per sequence; 0 picks T/4
}

func (m MQAR) Name() string { return "mqar" }
func (m MQAR) Vocab() int   { return 2 + m.Keys + m.Values }
func (m MQAR) Recall() bool { return true }

func (m MQAR) Decode(tokens []int32) string {
	var b strings.Builder
	for i, t := range tokens {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch {
		case t == 0:
			b.WriteByte('_')
		case t == 1:
			b.WriteByte('|')
		case int(t) < 2+m.Keys:
			fmt.Fprintf(&b, "k%d", t-2)
		default:
			fmt.Fprintf(&b, "v%d", int(t)-2-m.Keys)
		}
	}
	return b.String()
}

func (m MQAR) Prompt() []int32 { return []int32{2, int32(2 + m.Keys), 3, int32(3 + m.Keys), 1, 2} }

func (m MQAR) Fill(rng *rand.Rand, x, y []int32, B, T int) {
	pairs := m.Pairs
	if pairs <= 0 {
		pairs = T / 4
	}
	pairs = max(1, min(pairs, m.Keys, (T-1)/4))
	seq := make([]int32, T+1)
	tgt := make([]int32, T+1)
	keys := make([]int32, m.Keys)
	for b := 0; b < B; b++ {
		for i := range keys {
			keys[i] = int32(i)
		}
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		vals := make([]int32, pairs)
		p := 0
		for i := 0; i < pairs; i++ {
			vals[i] = int32(rng.IntN(m.Values))
			seq[p], seq[p+1] = 2+keys[i], int32(2+m.Keys)+vals[i]
			tgt[p], tgt[p+1] = -1, -1
			p += 2
		}
		seq[p], tgt[p] = 1, -1
		p++
		for p+1 < len(seq) {
			q := rng.IntN(pairs)
			seq[p], tgt[p] = 2+keys[q], -1
			seq[p+1], tgt[p+1] = int32(2+m.Keys)+vals[q], -1
			// The value that follows a queried key is the scored target.
			tgt[p] = seq[p+1]
			p += 2
		}
		for ; p < len(seq); p++ {
			seq[p], tgt[p] = 0, -1
		}
		copy(x[b*T:(b+1)*T], seq[:T])
		copy(y[b*T:(b+1)*T], tgt[:T])
	}
}

func (m MQAR) Val(i int, x, y []int32, B, T int) { m.Fill(valRNG(i), x, y, B, T) }

// ---------------------------------------------------------------------------
// Text files.

// Text is a character-level corpus read from a file: UTF-8 text gets one
// token per distinct character, anything else one per distinct byte. The
// first 90% trains, the last 10% validates.
type Text struct {
	name   string
	train  []int32
	val    []int32
	runes  []rune // token -> character (UTF-8 mode)
	bytes  bool   // byte mode
	prompt []int32
}

// LoadText reads and tokenises a text file. context is the sequence length
// that will be trained, so a file too short for one window is refused now.
func LoadText(path string, context int) (*Text, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read data file: %w", err)
	}
	return ParseText(shortName(path), raw, context)
}

func shortName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// ParseText tokenises raw file contents (see LoadText).
func ParseText(name string, raw []byte, context int) (*Text, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("data file %s is empty; give a text file with at least %d characters", name, context+1)
	}
	ctrl := 0
	for _, c := range raw {
		if c == 0 || (c < 32 && c != '\n' && c != '\r' && c != '\t') {
			ctrl++
		}
	}
	if ctrl*20 > len(raw) {
		return nil, fmt.Errorf("data file %s looks binary (%d of %d bytes are control characters); give a text file", name, ctrl, len(raw))
	}
	t := &Text{name: name}
	var toks []int32
	if utf8.Valid(raw) {
		index := map[rune]int32{}
		for _, r := range string(raw) {
			if _, ok := index[r]; !ok {
				index[r] = 0
			}
		}
		for r := range index {
			t.runes = append(t.runes, r)
		}
		slices.Sort(t.runes)
		for i, r := range t.runes {
			index[r] = int32(i)
		}
		for _, r := range string(raw) {
			toks = append(toks, index[r])
		}
		t.prompt = []int32{toks[0]}
	} else {
		t.bytes = true
		toks = make([]int32, len(raw))
		for i, c := range raw {
			toks[i] = int32(c)
		}
		t.prompt = []int32{toks[0]}
	}
	split := len(toks) * 9 / 10
	t.train, t.val = toks[:split], toks[split:]
	if len(t.train) < context+1 || len(t.val) < context+1 {
		return nil, fmt.Errorf("data file %s has %d tokens: too short for context %d (each of the 90%%/10%% train/validation parts needs at least %d); use a longer file or a shorter context (--set context=N)",
			name, len(toks), context, context+1)
	}
	return t, nil
}

func (t *Text) Name() string { return t.name }
func (t *Text) Recall() bool { return false }

func (t *Text) Vocab() int {
	if t.bytes {
		return 256
	}
	return len(t.runes)
}

func (t *Text) Decode(tokens []int32) string {
	if t.bytes {
		b := make([]byte, len(tokens))
		for i, v := range tokens {
			b[i] = byte(v)
		}
		return string(bytes.ToValidUTF8(b, []byte("?")))
	}
	var b strings.Builder
	for _, v := range tokens {
		if v >= 0 && int(v) < len(t.runes) {
			b.WriteRune(t.runes[v])
		}
	}
	return b.String()
}

func (t *Text) Prompt() []int32 { return t.prompt }

func window(src []int32, off int, x, y []int32) {
	T := len(x)
	copy(x, src[off:off+T])
	copy(y, src[off+1:off+T+1])
}

func (t *Text) Fill(rng *rand.Rand, x, y []int32, B, T int) {
	for b := 0; b < B; b++ {
		off := rng.IntN(len(t.train) - T)
		window(t.train, off, x[b*T:(b+1)*T], y[b*T:(b+1)*T])
	}
}

func (t *Text) Val(i int, x, y []int32, B, T int) {
	rng := valRNG(i)
	for b := 0; b < B; b++ {
		off := rng.IntN(len(t.val) - T)
		window(t.val, off, x[b*T:(b+1)*T], y[b*T:(b+1)*T])
	}
}

// DataSpec says which dataset a run trains on; it is plain data so it can
// live in presets and session files.
type DataSpec struct {
	Kind string `json:"kind"`           // "synthetic" (default), "mqar" or "file"
	Path string `json:"path,omitempty"` // for "file"
	// MQAR sizes: keys and values vocabularies and pairs per sequence.
	Keys   int `json:"keys,omitempty"`
	Values int `json:"values,omitempty"`
	Pairs  int `json:"pairs,omitempty"`
}

// Open builds the dataset for context length T.
func (d DataSpec) Open(T int) (Dataset, error) {
	switch d.Kind {
	case "", "synthetic":
		return Synthetic{}, nil
	case "mqar":
		m := MQAR{Keys: d.Keys, Values: d.Values, Pairs: d.Pairs}
		if m.Keys == 0 {
			m.Keys = 64
		}
		if m.Values == 0 {
			m.Values = 64
		}
		return m, nil
	case "file":
		if d.Path == "" {
			return nil, errors.New("data kind \"file\" needs a path; pass --data FILE")
		}
		return LoadText(d.Path, T)
	}
	return nil, fmt.Errorf("unknown data kind %q; use synthetic, mqar or file", d.Kind)
}

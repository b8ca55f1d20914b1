package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// savedRun opens run of session name: its latest checkpoint, rebuilt for
// use, and what was recorded about it.
func savedRun(dir, name, run string, threads int) (*trainer.Saved, record.Loaded, error) {
	if dir == "" {
		dir = sessions.DefaultDir()
	}
	store, err := sessions.Open(dir)
	if err != nil {
		return nil, record.Loaded{}, err
	}
	sess, err := loadSession(store, name)
	if err != nil {
		return nil, record.Loaded{}, err
	}
	runs, err := record.Load(sess)
	if err != nil {
		return nil, record.Loaded{}, err
	}
	var names []string
	for _, ld := range runs {
		names = append(names, ld.Meta.Name)
		if ld.Meta.Name != run {
			continue
		}
		if ld.State == nil {
			return nil, ld, fmt.Errorf("run %s of session %s has no readable checkpoint: %s", run, name, strings.Join(ld.Warnings, "; "))
		}
		s, err := trainer.OpenSaved(*ld.State, setupCompute(threads))
		return s, ld, err
	}
	return nil, record.Loaded{}, usagef("no run %q in session %s; its runs: %s", run, name, strings.Join(names, ", "))
}

const sampleUsage = `Usage: mealab sample SESSION RUN [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K] [--seed S]

Generates text with the run's latest checkpoint, one token at a time with its
KV cache, and prints the decoding speed and the cache's size: measured (the
bytes the cache allocated) next to the formula 2 x layers x cached heads x
head width x 4 bytes x positions. Prompt and tokens together must fit in the
model's context. The same seed gives the same text.

Flags:
`

func cmdSample(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "sessions `DIR` (default $XDG_DATA_HOME/mealab/sessions)")
	prompt := fs.String("prompt", "", "start the text with `TEXT` (default: the run's data's own prompt)")
	tokens := fs.Int("tokens", 0, "generate `N` tokens (default: as many as the context leaves, at most 200)")
	temp := fs.Float64("temperature", 0.8, "sampling temperature `T` (0: always the likeliest token)")
	topK := fs.Int("top-k", 0, "sample among the `K` likeliest tokens (0: all)")
	seed := fs.Uint64("seed", 1, "random seed `S`")
	threads := fs.Int("threads", 0, "CPU threads (default: all cores)")
	jsonOut := fs.Bool("json", false, "print one JSON object")
	pos, err := interleaved(fs, args, sampleUsage, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("usage: mealab sample SESSION RUN [flags] (mealab sessions show SESSION lists the runs)")
	}
	given := givenFlags(fs)
	switch {
	case given["tokens"] && *tokens <= 0:
		return usagef("--tokens %d: give a positive number of tokens", *tokens)
	case !(*temp >= 0) || math.IsInf(*temp, 0):
		return usagef("--temperature %g: give 0 (greedy) or a positive number", *temp)
	case *topK < 0:
		return usagef("--top-k %d: give 0 (all tokens) or a positive number", *topK)
	case *threads < 0:
		return usagef("--threads %d: give a positive number", *threads)
	case given["prompt"] && *prompt == "":
		return usagef("--prompt is empty; give some text, or leave it out for the run's default prompt")
	}
	s, _, err := savedRun(*dir, pos[0], pos[1], *threads)
	if err != nil {
		return err
	}
	c := s.Config()
	if *topK > c.Vocab {
		return usagef("--top-k %d: run %s has %d tokens in its vocabulary", *topK, pos[1], c.Vocab)
	}
	p := s.Dataset().Prompt()
	if given["prompt"] {
		if p, err = s.Encode(*prompt); err != nil {
			return usagef("--prompt: %v", err)
		}
	}
	if len(p) >= c.Context {
		return usagef("--prompt has %d tokens but run %s's context is %d positions; give a shorter prompt", len(p), pos[1], c.Context)
	}
	room := c.Context - len(p)
	n := min(room, 200)
	if given["tokens"] {
		if *tokens > room {
			return usagef("--tokens %d: run %s's context is %d positions and the prompt takes %d; give --tokens %d or fewer", *tokens, pos[1], c.Context, len(p), room)
		}
		n = *tokens
	}
	g, err := s.Generate(p, n, *temp, *topK, *seed)
	if err != nil {
		return err
	}
	if *jsonOut {
		return json.NewEncoder(stdout).Encode(map[string]any{"session": pos[0], "run": pos[1], "step": s.Step(), "prompt": g.Prompt, "text": g.Text,
			"tokens": g.Tokens, "seconds": g.Elapsed.Seconds(), "tok_per_sec": g.TokPerSec(), "cache_bytes": g.CacheBytes,
			"cache_positions": g.CacheTokens, "formula_bytes": g.FormulaBytes})
	}
	fmt.Fprintf(stdout, "%s%s\n\n", g.Prompt, g.Text)
	fmt.Fprintf(stdout, "run %s at step %d (%s), temperature %g, top-k %d, seed %d\n", pos[1], s.Step(), c.Variant(), *temp, *topK, *seed)
	fmt.Fprintf(stdout, "decode: %d tokens (prompt %d + generated %d) in %.1f ms, %s tok/s\n", g.Tokens, len(p), g.Tokens-len(p), float64(g.Elapsed.Microseconds())/1000, commas(g.TokPerSec()))
	verdict := "="
	if g.CacheBytes != g.FormulaBytes {
		verdict = "!= (MISMATCH)"
	}
	fmt.Fprintf(stdout, "KV cache: measured %s (%d B allocated for %d positions) %s formula 2 x %s x d=%d x 4 B x %d positions = %d B\n",
		fmtBytes(g.CacheBytes), g.CacheBytes, g.CacheTokens, verdict, kvHeadsText(c.Layers, c.KVLabel()), c.HeadDim(), g.CacheTokens, g.FormulaBytes)
	return nil
}

// kvHeadsText writes "2 layers x 4 heads", or "(4+2) heads" when layers
// differ.
func kvHeadsText(layers int, label string) string {
	if strings.Contains(label, ",") {
		return "(" + strings.ReplaceAll(label, ",", "+") + ") heads"
	}
	return fmt.Sprintf("%d layers x %s heads", layers, label)
}

const evalUsage = `Usage: mealab eval SESSION RUN [--data FILE]

Scores the run's latest checkpoint: mean loss (nats per token), bits per
character (loss / ln 2; per byte for non-UTF-8 files) and perplexity (e^loss).
Without --data it runs the trainer's own validation pass on the run's
validation split, so the loss equals the one recorded at that step, bit for
bit (same machine and thread count). With --data FILE it scores the whole file
in windows of the run's sequence length; characters the run's vocabulary
cannot encode are refused and listed.

Flags:
`

func cmdEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "sessions `DIR` (default $XDG_DATA_HOME/mealab/sessions)")
	data := fs.String("data", "", "score the text `FILE` instead of the run's validation split")
	threads := fs.Int("threads", 0, "CPU threads (default: all cores)")
	jsonOut := fs.Bool("json", false, "print one JSON object")
	pos, err := interleaved(fs, args, evalUsage, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("usage: mealab eval SESSION RUN [--data FILE] (mealab sessions show SESSION lists the runs)")
	}
	if *threads < 0 {
		return usagef("--threads %d: give a positive number", *threads)
	}
	if givenFlags(fs)["data"] && *data == "" {
		return usagef("--data is empty; give a text file, or leave it out for the run's validation split")
	}
	var text []byte
	if *data != "" {
		if text, err = os.ReadFile(*data); err != nil {
			return usagef("--data: %v", err)
		}
	}
	s, ld, err := savedRun(*dir, pos[0], pos[1], *threads)
	if err != nil {
		return err
	}
	unit := s.TokenUnit()
	var loss float64
	var scored int
	what := "the run's validation split"
	recorded, hasRecorded := math.NaN(), false
	if *data == "" {
		ep, err := s.Validate()
		if err != nil {
			return err
		}
		loss = ep.ValLoss
		sp := s.Spec()
		scored = sp.EvalBatches * sp.Batch * sp.SeqLen
		what = fmt.Sprintf("the run's validation split (%d batches of %d x %d)", sp.EvalBatches, sp.Batch, sp.SeqLen)
		for _, e := range ld.History.Evals {
			if e.Step == s.Step() {
				recorded, hasRecorded = e.ValLoss, true
			}
		}
	} else {
		if !utf8.Valid(text) && unit == "character" {
			return usagef("--data %s is not UTF-8 text, and run %s reads characters", *data, pos[1])
		}
		toks, err := s.Encode(string(text))
		if err != nil {
			return usagef("--data %s: %v", *data, err)
		}
		if loss, scored, err = s.Loss(toks); err != nil {
			return usagef("--data %s: %v", *data, err)
		}
		what = *data
	}
	bits := loss / math.Ln2
	if *jsonOut {
		out := map[string]any{"session": pos[0], "run": pos[1], "step": s.Step(), "data": what, "tokens": scored, "unit": unit,
			"loss": jsonNum(loss), "bits_per_" + unit: jsonNum(bits), "perplexity": jsonNum(math.Exp(loss))}
		if hasRecorded {
			out["recorded_val_loss"] = jsonNum(recorded)
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "run %s of session %s at step %d (%s), on %s: %d %ss scored\n", pos[1], pos[0], s.Step(), s.Config().Variant(), what, scored, unit)
	fmt.Fprintf(stdout, "loss %.6f nats/%s   %.4f bits per %s   perplexity %.4f\n", loss, unit, bits, unit, math.Exp(loss))
	switch {
	case hasRecorded && math.Float64bits(recorded) == math.Float64bits(loss):
		fmt.Fprintf(stdout, "the validation loss recorded at step %d is %.17g: identical\n", s.Step(), recorded)
	case hasRecorded:
		fmt.Fprintf(stdout, "the validation loss recorded at step %d is %.17g: it differs (another machine or thread count?)\n", s.Step(), recorded)
	case *data == "":
		fmt.Fprintf(stdout, "no validation loss was recorded at step %d to compare with\n", s.Step())
	}
	return nil
}

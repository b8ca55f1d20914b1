package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/mealab/mealab/trainer"
)

// trainLog prints what `mealab train` reports while runs train, as text or
// as JSON lines (--json): a line per run per log interval, evaluations,
// events and samples. Both `train` and `train --only` print through it, so
// their lines are the same.
type trainLog struct {
	enc                 *json.Encoder
	stdout, stderr      io.Writer
	jsonOut, quiet, tty bool
	every               int
	infos               map[trainer.RunID]trainer.RunInfo
	lastVal             map[trainer.RunID]valSeen
	// A line whose step has a validation pass waits for it (it comes next
	// in the stream), so that the val it prints is the one measured at the
	// step shown.
	pending map[trainer.RunID]trainer.Point
	first   map[trainer.RunID]bool // runs whose first step is still to come (watchResumes)
	lab     *trainer.Lab           // for a resumed run's past validations
}

func newTrainLog(enc *json.Encoder, stdout, stderr io.Writer, jsonOut, quiet, tty bool, every int, infos map[trainer.RunID]trainer.RunInfo) *trainLog {
	return &trainLog{enc: enc, stdout: stdout, stderr: stderr, jsonOut: jsonOut, quiet: quiet, tty: tty, every: every,
		infos: infos, lastVal: map[trainer.RunID]valSeen{}, pending: map[trainer.RunID]trainer.Point{}}
}

// watchResumes makes the first step line of each run now in the lab say
// where the run resumed: a run whose first step after the start is K+1
// continued from its checkpoint at step K. Before that line comes a JSON
// {"type":"resume","run":NAME,"step":K,"steps":N} (text: "NAME resumes
// from its checkpoint at step K/N"), and that first line is printed
// whatever the log interval, with the run's last validation before the
// checkpoint (val@K'). Forks made later are not resumes.
func (l *trainLog) watchResumes(lab *trainer.Lab) {
	l.lab = lab
	l.first = map[trainer.RunID]bool{}
	for _, in := range lab.Runs() {
		l.first[in.ID] = true
	}
}

func (l *trainLog) resumed(v trainer.Point) bool {
	if !l.first[v.Run] {
		return false
	}
	delete(l.first, v.Run)
	if v.Step <= 1 {
		return false
	}
	info := l.infos[v.Run]
	if _, ok := l.lastVal[v.Run]; !ok && l.lab != nil {
		if h, ok := l.lab.History(v.Run); ok {
			for _, e := range h.Evals {
				if e.Step < v.Step {
					l.lastVal[v.Run] = valSeen{e.Step, e.ValLoss}
				}
			}
		}
	}
	if l.jsonOut {
		_ = l.enc.Encode(map[string]any{"type": "resume", "run": info.Name, "step": v.Step - 1, "steps": info.Steps})
	} else if !l.quiet {
		clearLine(l.stderr, l.tty)
		fmt.Fprintf(l.stdout, "%-14s resumes from its checkpoint at step %d/%d\n", info.Name, v.Step-1, info.Steps)
	}
	return true
}

func (l *trainLog) printPoint(v trainer.Point) {
	info := l.infos[v.Run]
	val, ok := l.lastVal[v.Run]
	if l.jsonOut {
		m := map[string]any{"type": "step", "run": info.Name, "step": v.Step, "steps": info.Steps, "loss": jsonNum(v.Loss),
			"val_loss": nil, "lr": v.LR, "grad_norm": jsonNum(v.GradNorm), "max_logit": jsonNum(v.MaxLogit),
			"tok_per_sec": v.TokPerSec, "kv_bytes_per_token": info.KVBytesPerToken}
		if ok {
			m["val_loss"], m["val_step"] = jsonNum(val.loss), val.step
		}
		_ = l.enc.Encode(m)
	} else if !l.quiet {
		clearLine(l.stderr, l.tty)
		fmt.Fprintf(l.stdout, "%-14s step %*d/%d  loss %.3f  %s  lr %.1e  gnorm %.3g  logit %.3g  %s tok/s  kv %s/token\n",
			info.Name, digits(info.Steps), v.Step, info.Steps, v.Loss, fmtVal(val, ok, v.Step), v.LR,
			v.GradNorm, v.MaxLogit, commas(v.TokPerSec), fmtBytes(info.KVBytesPerToken))
	}
}

func (l *trainLog) flushPending(id trainer.RunID) {
	if p, ok := l.pending[id]; ok {
		delete(l.pending, id)
		l.printPoint(p)
	}
}

// flush prints the lines still waiting for an evaluation (at the end).
func (l *trainLog) flush() {
	for id := range l.pending {
		l.flushPending(id)
	}
}

// handle takes one update, in the order the lab made them.
func (l *trainLog) handle(u trainer.Update) {
	switch v := u.(type) {
	case trainer.RunInfo:
		l.infos[v.ID] = v
	case trainer.EvalPoint:
		l.lastVal[v.Run] = valSeen{v.Step, v.ValLoss}
		if l.jsonOut {
			_ = l.enc.Encode(map[string]any{"type": "eval", "run": l.infos[v.Run].Name, "step": v.Step, "val_loss": jsonNum(v.ValLoss), "recall": jsonNum(v.Recall)})
		}
		l.flushPending(v.Run)
	case trainer.Point:
		l.flushPending(v.Run)
		info := l.infos[v.Run]
		if !l.resumed(v) && v.Step%l.every != 0 && v.Step != 1 && v.Step != info.Steps {
			return
		}
		if ee := info.Spec.EvalEvery; ee > 0 && (v.Step%ee == 0 || v.Step >= info.Steps) {
			l.pending[v.Run] = v
			return
		}
		l.printPoint(v)
	case trainer.Event:
		l.flushPending(v.Run)
		if v.Kind == "start" || v.Kind == "done" {
			return
		}
		if l.jsonOut {
			ev := map[string]any{"type": "event", "run": l.infos[v.Run].Name, "step": v.Step, "kind": v.Kind, "detail": v.Detail}
			if v.ErrK != nil { // surgery: per-layer K/V errors (finite: model refuses NaN weights)
				ev["err_k"], ev["err_v"] = v.ErrK, v.ErrV
			}
			_ = l.enc.Encode(ev)
		} else if !l.quiet {
			clearLine(l.stderr, l.tty)
			fmt.Fprintf(l.stdout, "%-14s step %d  ** %s: %s\n", l.infos[v.Run].Name, v.Step, v.Kind, v.Detail)
		}
	case trainer.Sample:
		l.flushPending(v.Run)
		if l.jsonOut {
			_ = l.enc.Encode(map[string]any{"type": "sample", "run": l.infos[v.Run].Name, "step": v.Step, "text": v.Prompt + v.Text, "decode_tok_per_sec": v.TokPerSec, "cache_bytes": v.CacheBytes, "formula_bytes": v.FormulaBytes})
		} else if !l.quiet {
			clearLine(l.stderr, l.tty)
			fmt.Fprintf(l.stdout, "%-14s step %d  sample (%s tok/s, cache %s = formula %s): %q\n", l.infos[v.Run].Name, v.Step,
				commas(v.TokPerSec), fmtBytes(v.CacheBytes), fmtBytes(v.FormulaBytes), oneLine(v.Prompt+v.Text))
		}
	}
}

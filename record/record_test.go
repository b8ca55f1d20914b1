package record

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

func spec(name, variant string) trainer.RunSpec {
	c := model.Config{Vocab: 32, Context: 32, Layers: 2, Width: 32, Heads: 4, MLP: 64, Seed: 1}
	_ = c.ApplyVariant(variant, 0)
	return trainer.RunSpec{Name: name, Model: c, Batch: 4, Clip: 1,
		Sched: model.Schedule{Peak: 3e-3, Warmup: 5, Total: 30, FloorFrac: 0.1}, DataSeed: 3, EvalEvery: 10, EvalBatches: 2, SampleEvery: 15, SampleLen: 8}
}

func wait(t *testing.T, l *trainer.Lab) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !l.AllFinished() {
		if time.Now().After(deadline) {
			t.Fatal("runs did not finish")
		}
		select {
		case <-l.Updates():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func newLab(rec *Recorder, every int) *trainer.Lab {
	return trainer.NewLab(trainer.Options{Sink: rec.Record, OnCheckpoint: rec.Checkpoint, CheckpointEvery: every})
}

func TestRecordLoadRoundTrip(t *testing.T) {
	store, err := sessions.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := store.Create("demo")
	if err != nil {
		t.Fatal(err)
	}
	rec := New(sess)
	l := newLab(rec, 10)
	s := spec("mea", "mea")
	s.Ops = []trainer.ScheduledOp{{Step: 12, Op: model.Op{Kind: model.OpCompress, R: 2}, Fork: true}}
	if _, err := l.Add(s); err != nil {
		t.Fatal(err)
	}
	wait(t, l)
	want := map[string]trainer.History{}
	for _, ri := range l.Runs() {
		h, _ := l.History(ri.ID)
		want[ri.Name] = h
	}
	l.Close()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	runs, err := Load(sess)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("loaded %d runs, want the run and its fork", len(runs))
	}
	for _, ld := range runs {
		if len(ld.Warnings) > 0 {
			t.Errorf("%s: warnings %v", ld.Meta.Name, ld.Warnings)
		}
		w := want[ld.Meta.Name]
		if ld.State == nil || ld.State.Step != 30 || ld.State.State != trainer.Done {
			t.Fatalf("%s: final checkpoint %+v", ld.Meta.Name, ld.State)
		}
		if len(ld.History.Points) != len(w.Points) || len(ld.History.Evals) != len(w.Evals) || len(ld.History.Samples) != len(w.Samples) {
			t.Fatalf("%s: loaded %d/%d/%d points/evals/samples, recorded %d/%d/%d", ld.Meta.Name,
				len(ld.History.Points), len(ld.History.Evals), len(ld.History.Samples), len(w.Points), len(w.Evals), len(w.Samples))
		}
		for i := range w.Points {
			if ld.History.Points[i].Loss != w.Points[i].Loss {
				t.Fatalf("%s step %d: loss %v on disk, %v in memory", ld.Meta.Name, i+1, ld.History.Points[i].Loss, w.Points[i].Loss)
			}
		}
		kinds := []string{}
		for _, e := range ld.History.Events {
			kinds = append(kinds, e.Kind)
		}
		if strings.Contains(ld.Meta.Name, ">") && !strings.Contains(strings.Join(kinds, ","), "surgery") {
			t.Errorf("fork %s lost its surgery event: %v", ld.Meta.Name, kinds)
		}
	}
}

func TestResumeThroughDiskIsExact(t *testing.T) {
	// Uninterrupted reference.
	ref := trainer.NewLab(trainer.Options{})
	id, _ := ref.Add(spec("m", "mea"))
	wait(t, ref)
	h, _ := ref.History(id)
	ref.Close()

	dir := t.TempDir()
	store, _ := sessions.Open(dir)
	sess, _ := store.Create("s")
	rec := New(sess)
	l := newLab(rec, 10)
	id, _ = l.Add(spec("m", "mea"))
	// Stop it after step 10's checkpoint by pausing when it gets there.
	for {
		u := <-l.Updates()
		if p, ok := u.(trainer.Point); ok && p.Run == id && p.Step >= 12 {
			break
		}
	}
	l.Close()
	rec.Close()
	// The process "dies": only the disk remains. Reopen.
	sess, err := store.Load("s")
	if err != nil {
		t.Fatal(err)
	}
	rec2 := New(sess)
	l2 := newLab(rec2, 10)
	defer l2.Close()
	warns, err := Resume(sess, l2, rec2, false)
	if err != nil || len(warns) > 0 {
		t.Fatalf("resume: %v %v", err, warns)
	}
	wait(t, l2)
	h2, _ := l2.History(l2.Runs()[0].ID)
	if len(h2.Points) != 30 {
		t.Fatalf("resumed run has %d points, want 30", len(h2.Points))
	}
	for i := range h.Points {
		if h.Points[i].Loss != h2.Points[i].Loss {
			t.Fatalf("step %d: resumed %v, uninterrupted %v", i+1, h2.Points[i].Loss, h.Points[i].Loss)
		}
	}
	rec2.Close()
	// A fresh load now sees one continuous curve without duplicates.
	runs, _ := Load(sess)
	if n := len(runs[0].History.Points); n != 30 {
		t.Fatalf("after resume the metrics file reads as %d points, want 30", n)
	}
}

func TestCorruptCheckpointFallsBack(t *testing.T) {
	store, _ := sessions.Open(t.TempDir())
	sess, _ := store.Create("c")
	rec := New(sess)
	l := newLab(rec, 10)
	l.Add(spec("m", "mha"))
	wait(t, l)
	l.Close()
	rec.Close()
	runDir := filepath.Join(sess.Dir(), "runs")
	ents, _ := os.ReadDir(runDir)
	ck, _ := filepath.Glob(filepath.Join(runDir, ents[0].Name(), "ckpt", "*.safetensors"))
	if len(ck) < 2 {
		t.Fatalf("want at least 2 checkpoints, got %v", ck)
	}
	newest := ck[len(ck)-1]
	b, _ := os.ReadFile(newest)
	b[len(b)-10] ^= 0x40
	os.WriteFile(newest, b, 0o644)
	runs, err := Load(sess)
	if err != nil {
		t.Fatal(err)
	}
	if runs[0].State == nil || runs[0].State.Step >= 30 || len(runs[0].Warnings) == 0 {
		t.Fatalf("want a fallback to an older checkpoint with a warning; got state %+v warnings %v", runs[0].State, runs[0].Warnings)
	}
}

func TestDirName(t *testing.T) {
	for in, want := range map[string]string{"mea>svd2": "r3-mea_to_svd2", "mha@1e-3": "r3-mha_lr1e-3", "a/b": "r3-a_b"} {
		got := dirName(3, in)
		if got != want {
			t.Errorf("dirName(%q) = %q, want %q", in, got, want)
		}
		if err := sessions.ValidateName(got); err != nil {
			t.Errorf("%q: %v", got, err)
		}
	}
}

func TestExtend(t *testing.T) {
	base := trainer.RunState{Step: 150, State: trainer.Done, Reason: "", Spec: trainer.RunSpec{Name: "mha",
		Sched: model.Schedule{Peak: 3e-3, Warmup: 10, Total: 150, FloorFrac: 0.1}}}
	st := base
	note, err := Extend(&st, 300)
	if err != nil || st.Spec.Sched.Total != 300 || st.State != trainer.Running || !strings.Contains(note, "150 to 300") {
		t.Fatalf("done run: %q %v, total %d state %v", note, err, st.Spec.Sched.Total, st.State)
	}
	// The LR at the resume step is the stretched cosine's, not the floor.
	if lr := st.Spec.Sched.LR(150); lr <= base.Spec.Sched.LR(150) || lr >= 3e-3 {
		t.Errorf("lr at step 151 after extending: %g", lr)
	}
	st = base
	if _, err := Extend(&st, 100); !errors.Is(err, ErrShorten) {
		t.Errorf("shortening: %v, want ErrShorten", err)
	}
	st = base
	if note, err := Extend(&st, 150); err != nil || note != "" || st.Spec.Sched.Total != 150 {
		t.Errorf("same budget: %q %v", note, err)
	}
	st = base
	st.State = trainer.Diverged
	if note, err := Extend(&st, 300); err != nil || st.Spec.Sched.Total != 150 || !strings.Contains(note, "not extended") {
		t.Errorf("diverged run: %q %v total %d", note, err, st.Spec.Sched.Total)
	}
}

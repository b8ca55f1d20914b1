package trainer

import (
	"math"
	"strings"
	"testing"

	"github.com/mealab/mealab/model"
)

func TestForkContinuesFromParentState(t *testing.T) {
	for _, opText := range []string{"grow 4", "compress 1"} {
		t.Run(opText, func(t *testing.T) {
			spec := tinySpec("p", "mea", 2)
			spec.Sched.Total = 14
			so, err := ParseScheduledOp("10 " + opText + " fork")
			if err != nil {
				t.Fatal(err)
			}
			spec.Ops = []ScheduledOp{so}
			l := NewLab(Options{})
			defer l.Close()
			pid, err := l.Add(spec)
			if err != nil {
				t.Fatal(err)
			}
			waitFinished(t, l)
			runs := l.Runs()
			if len(runs) != 2 || runs[1].Parent != pid {
				t.Fatalf("want the parent and one fork, got %+v", runs)
			}
			child, _ := l.History(runs[1].ID)
			if len(child.Points) != 4 || child.Points[0].Step != 11 {
				t.Fatalf("fork trained steps %v, want 11..14", child.Points)
			}
			// Replay by hand: 10 steps, the operation, then the loss on batch 11.
			ds, _ := spec.Data.Open(spec.SeqLen)
			r, err := newRun(1, spec.Normalized(), model.Naive{}, ds)
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				if _, err := r.trainStep(); err != nil {
					t.Fatal(err)
				}
			}
			nm, _, _, err := model.Apply(r.m, r.opt, so.Op)
			if err != nil {
				t.Fatal(err)
			}
			r.stream.Next(r.ds, r.x, r.y, spec.Batch, r.spec.SeqLen)
			want, _ := nm.Forward(r.x, r.y, spec.Batch, r.spec.SeqLen)
			if got := child.Points[0].Loss; got != want {
				t.Fatalf("fork's first loss %v, want %v (the parent's state after the operation, on the same batch)", got, want)
			}
			parent, _ := l.History(pid)
			// The same function, computed two ways: the parent (h' < h)
			// mixes component heads per token, the grown fork (h' = h)
			// folds the mixing into its weights, so float32 rounding
			// differs in the last bits.
			if pl := parent.Points[10].Loss; opText == "grow 4" && math.Abs(pl-want) > 1e-6*math.Abs(want) {
				t.Fatalf("growth preserves the function: parent step 11 loss %v, fork %v", parent.Points[10].Loss, want)
			}
			var ev *Event
			for i := range child.Events {
				if child.Events[i].Kind == "surgery" {
					ev = &child.Events[i]
				}
			}
			if ev == nil || ev.Step != 10 || ev.KVBefore == 0 || ev.KVAfter == 0 {
				t.Fatalf("surgery event: %+v", ev)
			}
		})
	}
}

func TestApplyInPlaceAndRestart(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	spec := tinySpec("m", "mha", 0)
	spec.Sched.Total = 100000
	id, _ := l.Add(spec)
	if err := l.Pause(id); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Apply(id, model.Op{Kind: model.OpToGQA, R: 2}, false); err != nil {
		t.Fatal(err)
	}
	r := l.Runs()[0]
	if r.Variant != "GQA G=2" || r.KVBytesPerToken != spec.Model.KVBytesPerToken(4)/2 {
		t.Fatalf("after in-place GQA: %s, %d B/token", r.Variant, r.KVBytesPerToken)
	}
	if _, err := l.Apply(id, model.Op{Kind: model.OpCompress, R: 9}, false); err == nil || !strings.Contains(err.Error(), "compress to") {
		t.Fatalf("impossible compression: %v", err)
	}
	nid, err := l.Restart(id, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, ri := range l.Runs() {
		if ri.ID == nid && (ri.Heads != 2 || ri.Parent != id || ri.Variant != "MHA") {
			t.Fatalf("restart: %+v", ri)
		}
	}
	if _, err := l.Restart(id, 3); err == nil {
		t.Fatal("restart with 3 heads of a width-32 model should fail (32/3 is not whole)")
	}
}

func TestParseScheduledOp(t *testing.T) {
	so, err := ParseScheduledOp("600 compress 2 fork")
	if err != nil || so.Step != 600 || !so.Fork || so.Op.Kind != model.OpCompress || so.Op.R != 2 {
		t.Fatalf("got %+v, %v", so, err)
	}
	if so.String() != "600 compress 2 fork" {
		t.Errorf("round trip: %q", so.String())
	}
	for _, bad := range []string{"compress 2", "0 compress 2", "x grow 2", "10 explode"} {
		if _, err := ParseScheduledOp(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

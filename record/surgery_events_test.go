package record

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// events.jsonl keeps a surgery event's per-layer K and V errors and a
// refused operation's reason.
func TestSurgeryErrorsAndRefusalsReachTheDisk(t *testing.T) {
	store, err := sessions.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := store.Create("ev")
	if err != nil {
		t.Fatal(err)
	}
	rec := New(sess)
	l := newLab(rec, 0)
	s := spec("mha", "mha")
	s.Ops = []trainer.ScheduledOp{{Step: 12, Op: model.Op{Kind: model.OpToGQA, R: 2}, Fork: true}}
	pid, err := l.Add(s)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, l)
	refusal := trainer.Event{Run: pid, Step: 20, Kind: "refused", Detail: "scheduled 20 gqa 2 refused: the reason"}
	rec.Record(refusal)
	l.Close()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	runs, err := Load(sess)
	if err != nil {
		t.Fatal(err)
	}
	var sawErr, sawRefusal bool
	for _, ld := range runs {
		for _, e := range ld.History.Events {
			switch e.Kind {
			case "surgery":
				if len(e.ErrK) != 2 || len(e.ErrV) != 2 || !(e.ErrK[0] > 0) || !(e.ErrV[1] > 0) || !strings.Contains(e.Detail, "rel. err K") {
					t.Errorf("loaded surgery event %+v; want per-layer K and V errors", e)
				}
				sawErr = true
			case "refused":
				sawRefusal = e.Detail == refusal.Detail
			}
		}
	}
	if !sawErr || !sawRefusal {
		t.Fatalf("surgery event with errors loaded: %v, refusal loaded: %v", sawErr, sawRefusal)
	}
	// And the file itself says so, for tools that read it directly.
	matches, _ := filepath.Glob(filepath.Join(sess.Dir(), "runs", "*", "events.jsonl"))
	var all string
	for _, m := range matches {
		b, _ := os.ReadFile(m)
		all += string(b)
	}
	if !strings.Contains(all, `"err_k":[`) || !strings.Contains(all, `"err_v":[`) || !strings.Contains(all, `"kind":"refused"`) {
		t.Errorf("events.jsonl files lack err_k/err_v or the refusal:\n%s", all)
	}
}

package tui

import (
	"strings"
	"testing"

	"github.com/mealab/mealab/trainer"
)

// The surgery dialog asks the model what an operation does, so it refuses
// in the preview exactly what Apply would refuse. On an MEA h'=2 run (the
// fixture's run 3) it used to preview compress 3, grow 1 and mea as fine.
func TestSurgeryPreviewAsksTheModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []string
		want string
	}{
		{"compress 3", []string{"3"}, "compress to 1..2"},
		{"grow 1", []string{"down", "1"}, "grow to 2..4"},
		{"mea +gn", []string{"up", "up"}, "already has head mixing"},
		{"mea", []string{"up", "up", "g"}, "already has head mixing"},
		{"gqa 2", []string{"down", "down", "2"}, "compress it with SVD"},
		{"restart 3", []string{"up", "3"}, "not divisible by 3 heads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fixtureLab(t)
			m := newTestModel(t, f, 80, 24)
			keys(t, m, "j", "j", "s")
			d := dlg[*surgeryDialog](m)
			if d == nil || d.run != 3 {
				t.Fatalf("the surgery dialog is not open on run 3: %+v", m.dlg)
			}
			keys(t, m, tc.keys...)
			if !strings.Contains(d.err, tc.want) {
				t.Errorf("preview error %q, want %q (what the model says)", d.err, tc.want)
			}
			keys(t, m, "enter")
			if len(f.Calls()) != 0 {
				t.Errorf("enter called the lab on a refused plan: %v", f.Calls())
			}
		})
	}
}

// The preview shows the realised K and V error of every layer for an
// operation that approximates the projections, and says in words what one
// that does not changes.
func TestSurgeryPreviewShowsErrors(t *testing.T) {
	m := newTestModel(t, fixtureLab(t), 100, 30)
	keys(t, m, "s") // compress 2 on run 1 (MHA, 2 layers)
	got := frame(t, m)
	if !strings.Contains(got, "rel. err K 0.100/0.200 V 0.050/0.100 (max 0.200)") {
		t.Errorf("compress preview lacks the per-layer errors:\n%s", got)
	}
	keys(t, m, "down", "down", "tab", "1") // gqa 2 layers=1
	got = frame(t, m)
	if !strings.Contains(got, "rel. err K -/0.200 V -/0.100") {
		t.Errorf("gqa on layer 1 preview:\n%s", got)
	}
	keys(t, m, "backspace", "tab", "down") // mea +gn on every layer
	got = frame(t, m)
	if !strings.Contains(got, "K/V projections unchanged; the function changes (per-head GroupNorm added)") {
		t.Errorf("mea +gn preview should say it changes the function but not the projections:\n%s", got)
	}
}

// A new run from the form inherits everything the fields do not show from
// the selected run's spec itself (the form used to write a chosen subset
// of it back out as preset settings, losing e.g. the MLP width), but not
// its scheduled surgery.
func TestFormInheritsTheSelectedSpec(t *testing.T) {
	spec := mustBuild(t, "x", "variant", "mea", "kv", "2", "batch", "7", "data_seed", "9", "beta2", "0.9", "mlp", "96",
		"data", "mqar", "mqar_keys", "16", "at", "300 compress 1 fork")
	d := newFormDialog(&runData{info: trainer.RunInfo{Spec: spec}}, newStore())
	if d.err != "" {
		t.Fatal(d.err)
	}
	got := d.spec
	if got.Batch != 7 || got.DataSeed != 9 || got.Optim.Beta2 != 0.9 || got.Model.MLP != 96 || got.Data != spec.Data ||
		got.Model.Variant() != "MEA h'=2" || len(got.Ops) != 0 || got.Name != "mea-1" {
		t.Errorf("form spec %+v\nfrom %+v", got, spec)
	}
}

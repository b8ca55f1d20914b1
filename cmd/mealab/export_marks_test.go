package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/trainer"
)

// The exported charts mark a refused or skipped scheduled operation as the
// lab's chart does (R there), with the run's name; spikes only as ticks in
// the grid.
func TestExportMarksRefusals(t *testing.T) {
	var ld record.Loaded
	ld.Meta.Name = "mha"
	ld.History.Events = []trainer.Event{
		{Step: 10, Kind: "surgery", Detail: "compress 2"},
		{Step: 20, Kind: "refused", Detail: "scheduled 20 gqa 3 refused: 3 does not divide 4"},
		{Step: 30, Kind: "skipped", Detail: "scheduled 30 compress 1 skipped: the run ended at 25"},
		{Step: 40, Kind: trainer.GradSpike, Detail: "grad-norm spike"},
	}
	for i := range 50 {
		ld.History.Points = append(ld.History.Points, trainer.Point{Step: i + 1, Loss: 3 - float64(i)/25})
	}
	runs := []record.Loaded{ld}
	want := map[float64]string{10: "mha: surgery", 20: "mha: surgery refused", 30: "mha: surgery skipped"}
	for _, ticks := range []bool{false, true} {
		got := map[float64]string{}
		nticks := 0
		for _, m := range chartMarkers(runs, ticks) {
			if m.Tick {
				nticks++
				continue
			}
			got[m.X] = m.Label
		}
		for x, l := range want {
			if got[x] != l {
				t.Errorf("ticks=%v: marker at %v is %q, want %q (all: %v)", ticks, x, got[x], l, got)
			}
		}
		if wantTicks := map[bool]int{false: 0, true: 1}[ticks]; nticks != wantTicks {
			t.Errorf("ticks=%v: %d spike ticks, want %d", ticks, nticks, wantTicks)
		}
	}
	dir := t.TempDir()
	for name, export := range map[string]func(string, string, []record.Loaded) error{"chart.png": exportPNG, "grid.png": exportGridPNG} {
		p := filepath.Join(dir, name)
		if err := export(p, "t", runs); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Fatalf("%s: not written (%v)", name, err)
		}
	}
}

package sessions

import (
	"encoding/csv"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestExportCSV(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.csv")
	rows := [][]string{{"1", "2.5"}, {"2", "has,comma"}, {"3", "quote\"d"}}
	if err := ExportCSV(p, []string{"step", "loss"}, rows); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := append([][]string{{"step", "loss"}}, rows...)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	if err := ExportCSV(p, []string{"a"}, [][]string{{"1", "2"}}); err == nil {
		t.Error("ragged row accepted")
	}
}

func TestExportPNG(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "loss.png")
	var xs, train, val []float64
	for i := 0; i <= 200; i++ {
		xs = append(xs, float64(i))
		train = append(train, 4*math.Exp(-float64(i)/60)+0.1)
		val = append(val, 4.2*math.Exp(-float64(i)/70)+0.15)
	}
	train[50] = math.NaN()
	val[60] = math.Inf(1)
	series := []Series{
		{Name: "train", X: xs, Y: train},
		{Name: "val", X: xs, Y: val, Dashed: true},
		{Name: "all NaN", X: []float64{1}, Y: []float64{math.NaN()}},
	}
	events := []Marker{{X: 80, Label: "lr drop"}, {X: 150, Label: "resumed"}, {X: math.NaN(), Label: "bad"}}
	if err := ExportPNG(p, "tiny-shakespeare", series, events); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() == 0 || b.Dy() == 0 {
		t.Fatalf("empty image %v", b)
	}
	nonWhite, coloured := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				nonWhite++
			}
			// The first Okabe-Ito colour, blue #0072B2, marks the train line.
			if r>>8 < 0x30 && g>>8 > 0x50 && g>>8 < 0x90 && bl>>8 > 0x90 {
				coloured++
			}
		}
	}
	if nonWhite < 1000 || coloured < 100 {
		t.Errorf("%d non-white and %d blue pixels; the chart looks empty", nonWhite, coloured)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("directory holds %v", names)
	}

	// Degenerate inputs still produce a chart.
	for name, s := range map[string][]Series{
		"none":         nil,
		"single point": {{Name: "x", X: []float64{3}, Y: []float64{1}}},
		"flat":         {{Name: "x", X: []float64{1, 2}, Y: []float64{1, 1}}},
	} {
		if err := ExportPNG(filepath.Join(dir, "d.png"), name, s, nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := ExportPNG(filepath.Join(dir, "e.png"), "", []Series{{X: []float64{1}, Y: nil}}, nil); err == nil {
		t.Error("mismatched X and Y accepted")
	}
}

package sessions

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"
)

// TestRenderGrid: panels land in their tiles with the run's colour in each,
// log panels drop non-positive values, hostile values never fail a panel.
func TestRenderGrid(t *testing.T) {
	var xs, a, b []float64
	for i := 1; i <= 100; i++ {
		xs = append(xs, float64(i))
		a = append(a, 3*math.Exp(-float64(i)/30)+0.5)
		b = append(b, math.Pow(10, float64(i)/20))
	}
	b[10], b[11], b[12] = 0, -1, math.Inf(1)
	panels := []Chart{
		{Title: "loss", Series: []Series{{Name: "r1", X: xs, Y: a, Colour: 1}}, Markers: []Marker{{X: 50, Label: "r1: loss-spike"}}},
		{Title: "logit", LogY: true, Series: []Series{{Name: "r1", X: xs, Y: b, Colour: 1}}},
		{Title: "empty", Series: []Series{{Name: "r1", X: []float64{1}, Y: []float64{math.NaN()}, Colour: 1}}},
	}
	data, err := RenderGrid(panels, 2, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	bd := img.Bounds()
	blueIn := func(x0, y0, x1, y1 int) int {
		n := 0
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if r>>8 < 0x30 && g>>8 > 0x50 && g>>8 < 0x90 && bl>>8 > 0x90 {
					n++
				}
			}
		}
		return n
	}
	W, H := bd.Dx(), bd.Dy()
	if W < 1000 || H < W/2 || H > W {
		t.Errorf("image %dx%d: want two panels side by side over two rows", W, H)
	}
	if l, r := blueIn(0, 0, W/2, H/2), blueIn(W/2, 0, W, H/2); l < 100 || r < 100 {
		t.Errorf("blue pixels: %d in the loss panel, %d in the logit panel; want the run's line in both", l, r)
	}
	if _, err := RenderGrid(nil, 2, 0, 0); err == nil || !strings.Contains(err.Error(), "no panels") {
		t.Errorf("no panels: %v", err)
	}
	if _, err := RenderGrid(panels, 0, 0, 0); err == nil {
		t.Error("0 columns accepted")
	}
}

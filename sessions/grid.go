package sessions

import (
	"bytes"
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// RenderGrid draws panels as a grid of charts with cols columns (rows as
// needed), each panelW x panelH (zero: 6 by 3.6 inches), with their axes
// aligned, and returns PNG bytes. Each panel keeps its own title, scale
// and markers; colours follow each series' Colour, so a run has the same
// colour in every panel.
func RenderGrid(panels []Chart, cols int, panelW, panelH vg.Length) ([]byte, error) {
	if len(panels) == 0 {
		return nil, fmt.Errorf("render grid: no panels")
	}
	if cols <= 0 {
		return nil, fmt.Errorf("render grid: %d columns; give at least 1", cols)
	}
	cols = min(cols, len(panels))
	rows := (len(panels) + cols - 1) / cols
	if panelW <= 0 {
		panelW = 6 * vg.Inch
	}
	if panelH <= 0 {
		panelH = 3.6 * vg.Inch
	}
	plots := make([][]*plot.Plot, rows)
	for r := range plots {
		plots[r] = make([]*plot.Plot, cols)
		for c := range plots[r] {
			i := r*cols + c
			if i >= len(panels) {
				continue
			}
			p, err := newPlot(panels[i])
			if err != nil {
				return nil, fmt.Errorf("render grid: panel %q: %w", panels[i].Title, err)
			}
			plots[r][c] = p
		}
	}
	img := vgimg.New(panelW*vg.Length(cols), panelH*vg.Length(rows))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, dc)
	for r := range plots {
		for c, p := range plots[r] {
			if p != nil {
				p.Draw(canvases[r][c])
			}
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render grid: %w", err)
	}
	return buf.Bytes(), nil
}

// ExportGrid draws panels with RenderGrid and writes the PNG to path
// atomically.
func ExportGrid(path string, panels []Chart, cols int) error {
	png, err := RenderGrid(panels, cols, 0, 0)
	if err != nil {
		return fmt.Errorf("export grid %s: %w", path, err)
	}
	return WriteFileAtomic(path, png, 0o644)
}

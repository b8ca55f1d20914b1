package sessions

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ExportCSV writes header (if not empty) and rows as a CSV file, atomically.
// Every row must have as many fields as the header.
func ExportCSV(path string, header []string, rows [][]string) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if len(header) > 0 {
		if err := w.Write(header); err != nil {
			return fmt.Errorf("export csv %s: %w", path, err)
		}
	}
	for i, row := range rows {
		if len(header) > 0 && len(row) != len(header) {
			return fmt.Errorf("export csv %s: row %d has %d fields but the header has %d; pad or trim the row", path, i+1, len(row), len(header))
		}
		if err := w.Write(row); err != nil {
			return fmt.Errorf("export csv %s: row %d: %w", path, i+1, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("export csv %s: %w", path, err)
	}
	return WriteFileAtomic(path, buf.Bytes(), 0o644)
}

// Series is one line on a chart. Points whose X or Y is NaN or infinite are
// dropped, so a diverged run still plots up to the divergence.
type Series struct {
	Name   string
	X, Y   []float64
	Dashed bool
	// Colour picks the palette entry, 1-based, so that a run's train and
	// validation lines can share a colour; 0 means by position.
	Colour int
	// Lo and Hi, when set (one per X), are a band drawn as a translucent
	// area behind the line: a group of seeded runs' min and max, say.
	Lo, Hi []float64
}

// Marker is a labelled vertical line on a chart, such as "lr drop" or
// "resumed".
type Marker struct {
	X     float64
	Label string
}

// Chart describes a line chart for ExportChart.
type Chart struct {
	Title          string
	XLabel, YLabel string
	Series         []Series
	Markers        []Marker
	Width, Height  vg.Length // Zero means 10 by 6 inches, 960 by 576 pixels.
	// LogY draws the y axis on a log scale; values that are not positive
	// are dropped.
	LogY bool
}

// okabeIto is the Okabe-Ito palette, distinguishable with the common forms
// of colour blindness. Yellow is last because it is faint on white.
var okabeIto = []color.NRGBA{
	{0x00, 0x72, 0xB2, 0xFF}, // Blue.
	{0xE6, 0x9F, 0x00, 0xFF}, // Orange.
	{0x00, 0x9E, 0x73, 0xFF}, // Bluish green.
	{0xD5, 0x5E, 0x00, 0xFF}, // Vermillion.
	{0xCC, 0x79, 0xA7, 0xFF}, // Reddish purple.
	{0x56, 0xB4, 0xE9, 0xFF}, // Sky blue.
	{0x00, 0x00, 0x00, 0xFF}, // Black.
	{0xF0, 0xE4, 0x42, 0xFF}, // Yellow.
}

// ExportPNG draws series as a line chart of loss against step, with event
// markers, and writes it to path atomically.
func ExportPNG(path string, title string, series []Series, events []Marker) error {
	return ExportChart(path, Chart{Title: title, XLabel: "step", YLabel: "loss", Series: series, Markers: events})
}

// ExportChart draws c and writes it as a PNG to path atomically.
func ExportChart(path string, c Chart) error {
	png, err := RenderChart(c)
	if err != nil {
		return fmt.Errorf("export chart %s: %w", path, err)
	}
	return WriteFileAtomic(path, png, 0o644)
}

// RenderChart draws c and returns PNG bytes.
func RenderChart(c Chart) ([]byte, error) {
	p, err := newPlot(c)
	if err != nil {
		return nil, err
	}
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 10 * vg.Inch
	}
	if h <= 0 {
		h = 6 * vg.Inch
	}
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return nil, fmt.Errorf("render chart: %w", err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render chart: %w", err)
	}
	return buf.Bytes(), nil
}

// newPlot builds the plot of c (series, markers, ranges) without drawing it.
func newPlot(c Chart) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Legend.Top = true
	p.Legend.XOffs = -vg.Points(10)
	p.Legend.YOffs = -vg.Points(6)
	p.Add(plotter.NewGrid())

	anyPoint := false
	for i, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("series %q has %d x values but %d y values; give one x per y", s.Name, len(s.X), len(s.Y))
		}
		pts := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			if finite(s.X[j]) && finite(s.Y[j]) && (!c.LogY || s.Y[j] > 0) {
				pts = append(pts, plotter.XY{X: s.X[j], Y: s.Y[j]})
			}
		}
		if len(pts) == 0 {
			continue
		}
		anyPoint = true
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", s.Name, err)
		}
		ci := i
		if s.Colour > 0 {
			ci = s.Colour - 1
		}
		if s.Lo != nil || s.Hi != nil {
			band, err := bandPolygon(s)
			if err != nil {
				return nil, err
			}
			if band != nil {
				c := okabeIto[ci%len(okabeIto)]
				c.A = 0x40
				band.Color = c
				band.LineStyle.Width = 0
				p.Add(band)
			}
		}
		line.Color = okabeIto[ci%len(okabeIto)]
		line.Width = vg.Points(1.5)
		// Past the palette, vary the dash pattern so lines stay distinct.
		if s.Dashed || ci >= len(okabeIto) {
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		p.Add(line)
		if s.Name != "" {
			p.Legend.Add(s.Name, line)
		}
	}

	var marks []Marker
	for _, m := range c.Markers {
		if finite(m.X) {
			marks = append(marks, m)
		}
	}
	if len(marks) > 0 {
		mp, err := newMarkerPlotter(marks)
		if err != nil {
			return nil, err
		}
		p.Add(mp)
	}
	if !anyPoint {
		// With no data the axes would have an infinite range; draw an
		// empty chart instead of failing, so exports always produce a file.
		p.Y.Min, p.Y.Max = 0, 1
		if len(marks) == 0 {
			p.X.Min, p.X.Max = 0, 1
		}
	}
	if p.X.Min == p.X.Max {
		p.X.Min, p.X.Max = p.X.Min-0.5, p.X.Max+0.5
	}
	if p.Y.Min == p.Y.Max {
		p.Y.Min, p.Y.Max = p.Y.Min-0.5, p.Y.Max+0.5
	}
	if c.LogY && anyPoint && p.Y.Min > 0 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	return p, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// markerPlotter draws vertical lines spanning the whole plot height with
// rotated labels, which a plain line plotter cannot do because it would
// need to know the final Y range.
type markerPlotter struct {
	marks []Marker
	line  draw.LineStyle
	text  draw.TextStyle
}

func newMarkerPlotter(marks []Marker) (*markerPlotter, error) {
	if len(marks) == 0 {
		return nil, errors.New("no markers")
	}
	grey := color.NRGBA{0x55, 0x55, 0x55, 0xFF}
	return &markerPlotter{
		marks: marks,
		line: draw.LineStyle{
			Color:  grey,
			Width:  vg.Points(1),
			Dashes: []vg.Length{vg.Points(2), vg.Points(2)},
		},
		text: draw.TextStyle{
			Color:    grey,
			Font:     font.From(plot.DefaultFont, 9),
			Rotation: math.Pi / 2,
			XAlign:   draw.XRight,
			YAlign:   draw.YBottom,
			Handler:  plot.DefaultTextHandler,
		},
	}, nil
}

// Plot implements plot.Plotter.
func (m *markerPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, mk := range m.marks {
		x := trX(mk.X)
		if !c.ContainsX(x) {
			continue
		}
		c.StrokeLine2(m.line, x, c.Min.Y, x, c.Max.Y)
		if mk.Label != "" {
			// Rotated a quarter turn, the label reads upwards along the
			// left of the line, ending just below the top edge.
			c.FillText(m.text, vg.Point{X: x - vg.Points(2), Y: c.Max.Y - vg.Points(4)}, mk.Label)
		}
	}
}

// DataRange implements plot.DataRanger so markers outside the data still
// show; the infinite Y bounds leave the Y range to the series.
func (m *markerPlotter) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for _, mk := range m.marks {
		xmin = math.Min(xmin, mk.X)
		xmax = math.Max(xmax, mk.X)
	}
	return xmin, xmax, math.Inf(1), math.Inf(-1)
}

// bandPolygon is the area between s.Lo and s.Hi over s.X (points with a
// non-finite value left out), or nil when fewer than two points remain.
func bandPolygon(s Series) (*plotter.Polygon, error) {
	if len(s.Lo) != len(s.X) || len(s.Hi) != len(s.X) {
		return nil, fmt.Errorf("series %q: the band has %d low and %d high values for %d x values; give one of each per x", s.Name, len(s.Lo), len(s.Hi), len(s.X))
	}
	var up, down plotter.XYs
	for i := range s.X {
		if finite(s.X[i]) && finite(s.Lo[i]) && finite(s.Hi[i]) {
			up = append(up, plotter.XY{X: s.X[i], Y: s.Hi[i]})
			down = append(down, plotter.XY{X: s.X[i], Y: s.Lo[i]})
		}
	}
	if len(up) < 2 {
		return nil, nil
	}
	ring := append(plotter.XYs(nil), up...)
	for i := len(down) - 1; i >= 0; i-- {
		ring = append(ring, down[i])
	}
	return plotter.NewPolygon(ring)
}

package tui

import (
	"strings"
	"testing"
)

// At 120 columns early in a run the step axis said "0 0 1 2 2 3 3".
func TestXAxisTicksDistinct(t *testing.T) {
	th := newTheme(false)
	for _, tc := range []struct {
		axis   xAxis
		x0, x1 float64
		W      int
	}{
		{axisStep, 0, 3, 110}, {axisStep, 1, 7, 110}, {axisStep, 0, 1, 60}, {axisStep, 0, 600, 110},
		{axisStep, 5, 5, 110}, {axisTokens, 0, 1500, 110}, {axisWall, 0, 2.5, 110},
	} {
		_, ticks := xAxisLines(nil, chartState{axis: tc.axis}, tc.x0, tc.x1, 8, tc.W, tc.W+10, th)
		fields := strings.Fields(ticks)
		if len(fields) < 2 {
			t.Errorf("%v %g..%g: ticks %q", tc.axis, tc.x0, tc.x1, ticks)
			continue
		}
		labels := fields
		if labels[len(labels)-1] == tc.axis.String() {
			labels = labels[:len(labels)-1] // the axis's name, when it fits
		}
		seen := map[string]bool{}
		for _, l := range labels {
			if seen[l] {
				t.Errorf("%v %g..%g: label %q repeats: %q", tc.axis, tc.x0, tc.x1, l, ticks)
			}
			seen[l] = true
		}
		if tc.axis == axisStep && tc.x1-tc.x0 == 3 && strings.Join(labels, " ") != "0 1 2 3" {
			t.Errorf("steps 0..3: labels %q, want 0 1 2 3", labels)
		}
	}
	// A label sits over its value: "2" of 0..3 is two thirds along.
	_, ticks := xAxisLines(nil, chartState{axis: axisStep}, 0, 3, 8, 110, 120, th)
	if got, want := strings.Index(ticks, "2"), 8+73; got < want-1 || got > want+1 {
		t.Errorf("label 2 at column %d, want about %d: %q", got, want, ticks)
	}
}

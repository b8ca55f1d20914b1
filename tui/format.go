package tui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/mealab/mealab/numfmt"
)

// finite reports whether f can be drawn or printed as a number.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// fmtLoss writes a loss (numfmt.Loss: three decimals, "-" for none yet).
func fmtLoss(f float64) string { return numfmt.Loss(f) }

// fmtLR writes a learning rate compactly: 3e-3, 2.5e-4.
func fmtLR(lr float64) string {
	if !(lr > 0) || math.IsInf(lr, 0) {
		return "-"
	}
	e := math.Floor(math.Log10(lr))
	m := lr / math.Pow(10, e)
	if math.Abs(m-math.Round(m)) < 1e-6 {
		return fmt.Sprintf("%de%d", int(math.Round(m)), int(e))
	}
	return fmt.Sprintf("%.2ge%d", m, int(e))
}

// fmtRate writes a speed compactly: 950, 12.3k, 1.2M.
func fmtRate(f float64) string {
	switch {
	case !finite(f) || f <= 0:
		return "-"
	case f >= 1e6:
		return fmt.Sprintf("%.1fM", f/1e6)
	case f >= 1e4:
		return fmt.Sprintf("%.0fk", f/1e3)
	case f >= 1e3:
		return fmt.Sprintf("%.1fk", f/1e3)
	}
	return fmt.Sprintf("%.0f", f)
}

// fmtCount writes a count with k/M/G suffixes for axis ticks.
func fmtCount(f float64) string {
	a := math.Abs(f)
	switch {
	case a >= 1e9:
		return trimZeros(fmt.Sprintf("%.1f", f/1e9)) + "G"
	case a >= 1e6:
		return trimZeros(fmt.Sprintf("%.1f", f/1e6)) + "M"
	case a >= 1e3:
		return trimZeros(fmt.Sprintf("%.1f", f/1e3)) + "k"
	}
	return strconv.FormatFloat(math.Round(f), 'f', 0, 64)
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// fmtDuration writes seconds as 45s, 3m20s, 1h05m.
func fmtDuration(sec float64) string {
	if !finite(sec) || sec < 0 {
		return "-"
	}
	s := int(math.Round(sec))
	switch {
	case s >= 3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	if sec < 10 && sec != math.Trunc(sec) {
		return trimZeros(fmt.Sprintf("%.1f", sec)) + "s"
	}
	return fmt.Sprintf("%ds", s)
}

// fmtBytes writes a size (numfmt.Bytes).
func fmtBytes(b int64) string { return numfmt.Bytes(b) }

// fmtInt writes 12480 as "12,480" (numfmt.Int).
func fmtInt(n int64) string { return numfmt.Int(n) }

// width is the number of terminal cells s occupies (ANSI-aware).
func width(s string) int { return lipgloss.Width(s) }

// fit cuts plain (unstyled) text to n cells, marking the cut with an
// ellipsis, and pads it to exactly n cells.
func fit(s string, n int) string {
	if n <= 0 {
		return ""
	}
	w := lipgloss.Width(s)
	if w <= n {
		return s + strings.Repeat(" ", n-w)
	}
	return cut(s, n-1) + "…"
}

// cut cuts plain text to at most n cells without an ellipsis.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n && lipgloss.Width(s) <= n {
		return s
	}
	var b strings.Builder
	w := 0
	for _, r := range s {
		rw := lipgloss.Width(string(r))
		if w+rw > n {
			break
		}
		b.WriteRune(r)
		w += rw
	}
	return b.String()
}

// padLeft right-aligns plain text in n cells.
func padLeft(s string, n int) string {
	w := lipgloss.Width(s)
	if w >= n {
		return cut(s, n)
	}
	return strings.Repeat(" ", n-w) + s
}

// oneLine makes generated text safe for a single terminal line.
func oneLine(s string) string {
	r := strings.NewReplacer("\n", "⏎", "\r", "", "\t", " ")
	return r.Replace(s)
}

// clip cuts styled text to n cells, keeping its escape codes intact.
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= n {
		return s
	}
	return ansi.Truncate(s, n, "…")
}

// padRight pads styled text with spaces to n cells.
func padRight(s string, n int) string {
	if w := lipgloss.Width(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}

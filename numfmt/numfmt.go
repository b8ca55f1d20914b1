// Package numfmt writes the numbers mealab shows people, the same way in
// the terminal UI and on the command line: sizes in bytes, counts with
// thousands separators and losses.
package numfmt

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Bytes writes a size in B, KiB, MiB or GiB (binary units, one decimal).
func Bytes(b int64) string {
	f := float64(b)
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", f/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// Int writes 12480 as "12,480".
func Int(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Round writes f rounded to a whole number with separators (a rate such as
// tokens per second).
func Round(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return Int(int64(math.Round(f)))
}

// Loss writes a loss with three decimals, "-" when there is none yet (NaN)
// and "inf" when it overflowed.
func Loss(f float64) string {
	if math.IsInf(f, 0) {
		return "inf"
	}
	if math.IsNaN(f) {
		return "-"
	}
	return strconv.FormatFloat(f, 'f', 3, 64)
}

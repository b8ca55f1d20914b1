package tui

import "strings"

// colSpec describes a text column. When the space is short, columns with
// the largest prio go first (prio 1 is never dropped); maxW caps a column
// whose values can be long (names).
type colSpec struct {
	title string
	prio  int
	right bool
	maxW  int
}

// layoutColumns fits the columns into w cells: it drops the least important
// ones until the rest fit, then narrows the first capped column, and
// returns the header and the rows as plain text, two spaces between
// columns.
func layoutColumns(specs []colSpec, cells [][]string, w int) (string, []string) {
	n := len(specs)
	widths := make([]int, n)
	for c, s := range specs {
		widths[c] = width(s.title)
	}
	for _, row := range cells {
		for c := range specs {
			widths[c] = max(widths[c], width(row[c]))
		}
	}
	for c, s := range specs {
		if s.maxW > 0 {
			widths[c] = min(widths[c], s.maxW)
		}
	}
	// Two spaces between columns read best; on narrow screens one space
	// keeps more columns.
	gap := 2
	keep := make([]bool, n)
	total := -gap
	for c := range keep {
		keep[c] = true
		total += widths[c] + gap
	}
	if total > w && w < 100 {
		total -= n - 1
		gap = 1
	}
	for total > w {
		worst := -1
		for c, s := range specs {
			if keep[c] && s.prio > 1 && (worst < 0 || s.prio >= specs[worst].prio) {
				worst = c
			}
		}
		if worst < 0 {
			break
		}
		keep[worst] = false
		total -= widths[worst] + gap
	}
	// Still too wide: narrow the capped (name-like) columns, then the last.
	for c, s := range specs {
		if total <= w {
			break
		}
		if keep[c] && s.maxW > 0 {
			d := min(total-w, max(widths[c]-6, 0))
			widths[c] -= d
			total -= d
		}
	}
	if total > w {
		widths[n-1] = max(widths[n-1]-(total-w), 3)
	}
	line := func(vals []string) string {
		var parts []string
		for c, s := range specs {
			if !keep[c] {
				continue
			}
			if s.right {
				parts = append(parts, padLeft(vals[c], widths[c]))
			} else {
				parts = append(parts, fit(vals[c], widths[c]))
			}
		}
		return strings.Join(parts, strings.Repeat(" ", gap))
	}
	titles := make([]string, n)
	for c, s := range specs {
		titles[c] = s.title
	}
	rows := make([]string, len(cells))
	for i, row := range cells {
		rows[i] = line(row)
	}
	return line(titles), rows
}

package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
)

// field is a one-line text input small enough to be deterministic in
// golden files (no blinking cursor). A fresh field holds a suggestion that
// the first typed character replaces.
type field struct {
	val   string
	fresh bool
	allow string // accepted characters; "" accepts any printable text
	max   int
}

func newField(val, allow string, max int) field {
	return field{val: val, fresh: true, allow: allow, max: max}
}

// key edits the field and reports whether the key was text for it.
func (f *field) key(k tea.KeyPressMsg) bool {
	switch k.String() {
	case "backspace":
		if f.fresh {
			f.val, f.fresh = "", false
			return true
		}
		if r := []rune(f.val); len(r) > 0 {
			f.val = string(r[:len(r)-1])
		}
		return true
	case "ctrl+u":
		f.val, f.fresh = "", false
		return true
	}
	t := k.Text
	if t == "" || k.Mod&^tea.ModShift != 0 {
		return false
	}
	for _, r := range t {
		if r < ' ' || (f.allow != "" && !strings.ContainsRune(f.allow, r)) {
			return false
		}
	}
	if f.fresh {
		f.val, f.fresh = "", false
	}
	if f.max > 0 && len([]rune(f.val))+len([]rune(t)) > f.max {
		return true
	}
	f.val += t
	return true
}

// view draws the field; the focused one ends in a cursor bar.
func (f field) view(focused bool, th theme, w int) string {
	v := f.val
	if focused {
		v += "▏"
	}
	s := "[" + fit(v, w) + "]"
	if focused {
		return style(th.bold, s)
	}
	return s
}

const (
	digits    = "0123456789"
	floatChrs = "0123456789.eE-+"
	nameChrs  = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.>@+="
)

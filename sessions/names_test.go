package sessions

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"gpt2-small_run.3", true},
		{"A-Z_0.9", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{".hidden", false},
		{".", false},
		{"..", false},
		{"a..b", false},
		{"../x", false},
		{"a/b", false},
		{`a\b`, false},
		{"/abs", false},
		{"a b", false},
		{"naïve", false},
		{"tab\t", false},
		{"nul\x00", false},
		{"colon:x", false},
		{"trailing.", true},
	}
	for _, tc := range tests {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "use 1-64 characters") {
			t.Errorf("ValidateName(%q) error %q does not say what is allowed", tc.name, err)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/data")
	if got, want := DefaultDir(), filepath.Join("/data", "mealab", "sessions"); got != want {
		t.Errorf("with XDG_DATA_HOME: got %q, want %q", got, want)
	}
	t.Setenv("XDG_DATA_HOME", "relative/ignored")
	t.Setenv("HOME", "/home/u")
	if got, want := DefaultDir(), filepath.Join("/home/u", ".local", "share", "mealab", "sessions"); got != want {
		t.Errorf("with relative XDG_DATA_HOME: got %q, want %q", got, want)
	}
	t.Setenv("XDG_DATA_HOME", "")
	if got, want := DefaultDir(), filepath.Join("/home/u", ".local", "share", "mealab", "sessions"); got != want {
		t.Errorf("without XDG_DATA_HOME: got %q, want %q", got, want)
	}
}

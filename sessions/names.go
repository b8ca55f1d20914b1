package sessions

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MaxNameLen is the longest session or run name accepted by ValidateName.
const MaxNameLen = 64

// ValidateName checks a session or run name. Names become directory names,
// so they are restricted to a portable set that cannot escape the store:
// 1 to 64 ASCII letters, digits, '-', '_' and '.', not starting with '.' and
// never containing "..".
func ValidateName(name string) error {
	const allowed = "use 1-64 characters from A-Z, a-z, 0-9, '-', '_' and '.', not starting with '.' and without \"..\""
	if name == "" {
		return fmt.Errorf("invalid name: the name is empty; %s", allowed)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("invalid name %q: %d characters is too long; %s", name, len(name), allowed)
	}
	if name[0] == '.' {
		return fmt.Errorf("invalid name %q: it starts with '.'; %s", name, allowed)
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("invalid name %q: it contains \"..\"; %s", name, allowed)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		case c == '/' || c == '\\':
			return fmt.Errorf("invalid name %q: path separators are not allowed; %s", name, allowed)
		default:
			return fmt.Errorf("invalid name %q: character %q is not allowed; %s", name, rune(c), allowed)
		}
	}
	return nil
}

// DefaultDir returns where sessions live when the user does not say:
// $XDG_DATA_HOME/mealab/sessions, or ~/.local/share/mealab/sessions when
// XDG_DATA_HOME is unset. A relative XDG_DATA_HOME is ignored, as the XDG
// base directory specification requires. If the home directory is unknown
// the result is the relative path "mealab-sessions".
func DefaultDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "mealab", "sessions")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "mealab-sessions"
	}
	return filepath.Join(home, ".local", "share", "mealab", "sessions")
}

package presets

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mealab/mealab/sessions"
)

// MaxFileSize is the largest preset file read (a preset is a page of text;
// anything bigger is a wrong file).
const MaxFileSize = 256 << 10

// UserDir is where user presets live: $XDG_CONFIG_HOME/mealab/presets, or
// ~/.config/mealab/presets when XDG_CONFIG_HOME is unset (a relative
// XDG_CONFIG_HOME is ignored, as the XDG specification says).
func UserDir() string {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "mealab", "presets")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(".config", "mealab", "presets")
	}
	return filepath.Join(home, ".config", "mealab", "presets")
}

// IsPath says whether a --preset argument names a file rather than a
// preset: it contains a path separator or ends in .preset.
func IsPath(arg string) bool {
	return strings.ContainsRune(arg, '/') || strings.ContainsRune(arg, filepath.Separator) || strings.HasSuffix(arg, ".preset")
}

// Resolve finds the preset a --preset argument names: a path (see IsPath)
// is read from disk; a name is looked up in UserDir, then among the
// built-in presets. note is non-empty when a user preset shadows a built-in
// one of the same name. Files get the same strict parser as built-in
// presets.
func Resolve(arg string) (p *Preset, note string, err error) {
	if arg == "" {
		return nil, "", errors.New("empty preset name; `mealab presets` lists them")
	}
	if IsPath(arg) {
		p, err := ReadFile(arg)
		if p != nil {
			p.Name = arg // sessions remember it; reopening compares it
		}
		return p, "", err
	}
	if err := checkName(arg); err != nil {
		return nil, "", err
	}
	user := filepath.Join(UserDir(), arg+".preset")
	if _, serr := os.Stat(user); serr == nil {
		p, err := ReadFile(user)
		if err != nil {
			return nil, "", err
		}
		p.Name = arg
		if isBuiltin(arg) {
			note = fmt.Sprintf("preset %s is your file %s, which shadows the built-in preset of that name (rename the file to use the built-in one)", arg, user)
		}
		return p, note, nil
	}
	if isBuiltin(arg) {
		p, err := Load(arg)
		return p, "", err
	}
	msg := fmt.Sprintf("no preset %q: not a built-in preset and no file %s", arg, user)
	var all []string
	for _, e := range List() {
		all = append(all, e.Name)
	}
	if s := nearest(arg, all); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	}
	return nil, "", fmt.Errorf("%s (`mealab presets` lists them; a file path needs a / or the .preset ending)", msg)
}

func isBuiltin(name string) bool {
	_, err := files.Open("files/" + name + ".preset")
	return err == nil
}

// checkName keeps preset names to file-name-safe characters.
func checkName(n string) error {
	if n == "" || n[0] == '.' || len(n) > 64 {
		return fmt.Errorf("preset name %q: use 1-64 letters, digits, - _ + . (not starting with .)", n)
	}
	for _, c := range n {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("-_+.", c):
		default:
			return fmt.Errorf("preset name %q: use letters, digits, - _ + . (a path needs a /, e.g. ./%s)", n, n)
		}
	}
	return nil
}

// ReadFile reads and parses a preset file; the preset is named after the
// file (without .preset). Missing files, directories, binary files and
// files over MaxFileSize are refused with a message that says which.
func ReadFile(path string) (*Preset, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("preset file %s does not exist (`mealab presets new NAME` writes a starting file)", path)
	case err != nil:
		return nil, fmt.Errorf("preset file %s: %w", path, err)
	case st.IsDir():
		return nil, fmt.Errorf("preset file %s is a directory; give a .preset file inside it", path)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("preset file %s is not a regular file", path)
	case st.Size() > MaxFileSize:
		return nil, fmt.Errorf("preset file %s is %d bytes; presets are at most %d KiB (is it the right file?)", path, st.Size(), MaxFileSize>>10)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("preset file %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("preset file %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("preset file %s is over %d KiB; presets are at most that", path, MaxFileSize>>10)
	}
	if i := binaryAt(b); i >= 0 {
		return nil, fmt.Errorf("preset file %s is not text (binary data at byte %d); a preset is a text file of key = value lines", path, i)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".preset")
	p, err := Parse(name, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.Origin = path
	return p, nil
}

// binaryAt returns the offset of the first NUL byte or invalid UTF-8, or -1.
func binaryAt(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == 0 || (r == utf8.RuneError && n <= 1) {
			return i
		}
		i += n
	}
	return -1
}

// Entry is one preset `mealab presets` lists.
type Entry struct {
	Name        string
	Origin      string // "built-in" or the file's path
	Description string
	Runs        int   // runs it expands to without overrides (0 when Err)
	Shadows     bool  // a user file hiding the built-in preset of its name
	Shadowed    bool  // a built-in preset hidden by a user file
	Err         error // a user file that does not parse
}

// List returns the user presets (UserDir) and the built-in ones, by name;
// a user file and the built-in preset it shadows are both listed.
func List() []Entry {
	var out []Entry
	user := map[string]bool{}
	if ents, err := os.ReadDir(UserDir()); err == nil {
		for _, e := range ents {
			n, ok := strings.CutSuffix(e.Name(), ".preset")
			if !ok || e.IsDir() || checkName(n) != nil {
				continue
			}
			path := filepath.Join(UserDir(), e.Name())
			en := Entry{Name: n, Origin: path, Shadows: isBuiltin(n)}
			if p, err := ReadFile(path); err != nil {
				en.Err = err
			} else {
				en.Description, en.Runs = p.Description, p.Count()
			}
			user[n] = true
			out = append(out, en)
		}
	}
	for _, n := range Names() {
		p, err := Load(n)
		en := Entry{Name: n, Origin: "built-in", Shadowed: user[n], Err: err}
		if err == nil {
			en.Description, en.Runs = p.Description, p.Count()
		}
		out = append(out, en)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Count is how many runs the preset expands to without overrides: grid
// combinations times each run's seeds.
func (p *Preset) Count() int {
	n := 0
	for _, r := range p.Runs {
		k := 1
		for _, g := range p.axes(r, nil, nil) {
			k *= len(g.Values)
			k = min(k, 1<<30)
		}
		seeds := 1
		for _, s := range append(append([]Setting(nil), p.Defaults...), r.Settings...) {
			if s.Key == "seeds" {
				seeds, _ = strconv.Atoi(s.Value)
			}
		}
		n = min(n+k*max(seeds, 1), 1<<30)
	}
	return n
}

// Starter is the commented file `mealab presets new NAME` writes.
func Starter(name string) string {
	return strings.ReplaceAll(`# NAME: a mealab preset. Run it with  mealab train --preset NAME
# (or open it in the lab with  mealab --preset NAME). Lines are key = value;
# # starts a comment. mealab presets --help lists every key.
description = describe the question this experiment answers

[defaults]          # every run starts from these
layers = 2
width = 64
heads = 4
context = 64
batch = 8
steps = 300
warmup = 20
lr = 3e-3
eval_every = 50
sample_every = 0
# grid lr = 1e-3, 3e-3     # one run per value (and per combination of grids)

[run mha]           # standard multi-head attention
variant = mha

[run mea]           # MEA, one run per number of cached KV heads: mea@kv=4, mea@kv=2
variant = mea
grid kv = 4, 2
# at = 200 compress 1 fork   # head surgery at a step; see the README
`, "NAME", name)
}

// WriteUser writes a new preset file called name into UserDir, atomically,
// refusing to replace an existing one. It returns the file's path.
func WriteUser(name string, text []byte) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if i := binaryAt(text); i >= 0 || len(text) > MaxFileSize {
		return "", fmt.Errorf("preset %s: not a preset text", name)
	}
	if _, err := Parse(name, text); err != nil {
		return "", err
	}
	path := filepath.Join(UserDir(), name+".preset")
	if err := sessions.CreateFileAtomic(path, text, 0o644); err != nil {
		if errors.Is(err, sessions.ErrExists) {
			return "", fmt.Errorf("%s exists; choose another name or edit that file", path)
		}
		return "", err
	}
	return path, nil
}

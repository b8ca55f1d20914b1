package sessions

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestStoreLifecycle(t *testing.T) {
	root := filepath.Join(t.TempDir(), "nested", "store")
	st, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Create("alpha")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create("alpha"); !errors.Is(err, ErrExists) {
		t.Errorf("second Create: %v, want ErrExists", err)
	}
	type meta struct {
		Preset string `json:"preset"`
		Seed   int    `json:"seed"`
	}
	var m meta
	if err := s.Meta(&m); err != nil || m != (meta{}) {
		t.Errorf("Meta before SaveMeta: %+v, %v", m, err)
	}
	if err := s.SaveMeta(meta{"tiny", 42}); err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRun("run-1", struct {
		Config json.RawMessage `json:"config"`
		Note   string          `json:"note"`
	}{json.RawMessage(`{"lr":0.001}`), "first"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AppendMetric(map[string]int{"step": 1}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := s.CreateRun("run-1", nil); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate run: %v", err)
	}
	if _, err := s.CreateRun("run-2", nil); err != nil {
		t.Fatal(err)
	}

	loaded, err := st.Load("alpha")
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Meta(&m); err != nil || m != (meta{"tiny", 42}) {
		t.Errorf("loaded meta %+v, %v", m, err)
	}
	if loaded.Created().IsZero() || loaded.Updated().Before(loaded.Created()) {
		t.Errorf("times: created %v updated %v", loaded.Created(), loaded.Updated())
	}
	runs, err := loaded.Runs()
	if err != nil || !reflect.DeepEqual(runs, []string{"run-1", "run-2"}) {
		t.Errorf("Runs = %v, %v", runs, err)
	}
	r1, err := loaded.OpenRun("run-1")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := r1.Config()
	if err != nil || string(cfg) != `{"lr":0.001}` {
		t.Errorf("Config = %s, %v", cfg, err)
	}
	var rm struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
		Note    string `json:"note"`
	}
	if err := r1.LoadMeta(&rm); err != nil || rm.Note != "first" || rm.Format != RunFormat || rm.Version != RunVersion {
		t.Errorf("LoadMeta = %+v, %v", rm, err)
	}
	if err := r1.SaveMeta(map[string]string{"note": "changed"}); err != nil {
		t.Fatal(err)
	}
	if err := r1.LoadMeta(&rm); err != nil || rm.Note != "changed" {
		t.Errorf("after SaveMeta: %+v, %v", rm, err)
	}
	if _, err := loaded.OpenRun("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenRun missing: %v", err)
	}

	if _, err := st.Create("beta"); err != nil {
		t.Fatal(err)
	}
	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("List = %+v", list)
	}
	byName := map[string]Info{}
	for _, i := range list {
		byName[i.Name] = i
	}
	if a := byName["alpha"]; a.Runs != 2 || a.Bytes == 0 || a.Err != nil || a.LastActivity.IsZero() {
		t.Errorf("alpha info %+v", a)
	}

	if err := st.Remove("alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load("alpha"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after Remove: %v", err)
	}
	if err := st.Remove("alpha"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	if names := listDir(t, st.Dir()); !reflect.DeepEqual(names, []string{"beta"}) {
		t.Errorf("store holds %v", names)
	}
}

func TestRunMetaRules(t *testing.T) {
	st, _ := Open(t.TempDir())
	s, _ := st.Create("s")
	for _, bad := range []any{42, []int{1}, "x", map[string]int{"version": 3}, map[string]int{"format": 1}} {
		if _, err := s.CreateRun("r", bad); err == nil {
			t.Errorf("CreateRun accepted metadata %v", bad)
		}
	}
	if runs, _ := s.Runs(); len(runs) != 0 {
		t.Errorf("rejected runs left directories: %v", runs)
	}
	b, err := encodeRunDoc(struct {
		B int `json:"b"`
		A int `json:"a"`
	}{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"format": "mealab.run",`) || strings.Index(string(b), `"b"`) > strings.Index(string(b), `"a"`) {
		t.Errorf("run.json = %s", b)
	}
}

func TestStoreRejectsEscapes(t *testing.T) {
	parent := t.TempDir()
	st, err := Open(filepath.Join(parent, "store"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Create("ok")
	if err != nil {
		t.Fatal(err)
	}
	bad := []string{"../x", "a/b", "/etc", filepath.Join(parent, "abs"), "..", ".", "", `..\x`}
	for _, name := range bad {
		if _, err := st.Create(name); err == nil {
			t.Errorf("Create(%q) succeeded", name)
		}
		if _, err := st.Load(name); err == nil {
			t.Errorf("Load(%q) succeeded", name)
		}
		if err := st.Remove(name); err == nil {
			t.Errorf("Remove(%q) succeeded", name)
		}
		if _, err := s.CreateRun(name, nil); err == nil {
			t.Errorf("CreateRun(%q) succeeded", name)
		}
		if _, err := s.OpenRun(name); err == nil {
			t.Errorf("OpenRun(%q) succeeded", name)
		}
	}
	if names := listDir(t, parent); !reflect.DeepEqual(names, []string{"store"}) {
		t.Errorf("something was created outside the store: %v", names)
	}

	// A symlink inside the store that points outside is not followed.
	outside := filepath.Join(parent, "outside")
	victim, err := Open(outside)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := victim.Create("secret"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(st.Dir(), "link")); err != nil {
		t.Skip("symlinks unavailable:", err)
	}
	if _, err := st.Load("link"); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("Load through symlink: %v", err)
	}
	if err := st.Remove("link"); err != nil {
		t.Errorf("Remove symlink: %v", err)
	}
	if _, err := victim.Load("secret"); err != nil {
		t.Errorf("removing the link damaged its target: %v", err)
	}
}

func TestStoreListBrokenSession(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"good", "corrupt", "newer", "nojson"} {
		if _, err := st.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(st.Dir(), name, "session.json"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("corrupt", `{"format":"mealab.session","vers`)
	write("newer", `{"format":"mealab.session","version":9,"name":"newer"}`)
	if err := os.Remove(filepath.Join(st.Dir(), "nojson", "session.json")); err != nil {
		t.Fatal(err)
	}
	// Foreign files and temporary files are not sessions.
	os.WriteFile(filepath.Join(st.Dir(), "README"), []byte("hi"), 0o644)
	os.WriteFile(filepath.Join(st.Dir(), ".good.tmp-123"), []byte("hi"), 0o644)

	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	errs := map[string]error{}
	for _, i := range list {
		errs[i.Name] = i.Err
	}
	if len(list) != 4 {
		t.Fatalf("List = %+v", list)
	}
	if errs["good"] != nil {
		t.Errorf("good: %v", errs["good"])
	}
	if e := errs["corrupt"]; e == nil || !strings.Contains(e.Error(), "damaged") {
		t.Errorf("corrupt: %v", e)
	}
	if e := errs["newer"]; e == nil || !strings.Contains(e.Error(), "written by a newer mealab (format v9); upgrade mealab to read it") {
		t.Errorf("newer: %v", e)
	}
	if e := errs["nojson"]; e == nil || !strings.Contains(e.Error(), "missing") {
		t.Errorf("nojson: %v", e)
	}
	// The broken session can still be removed.
	if err := st.Remove("corrupt"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, nil, 0o644)
	if _, err := Open(p); err == nil {
		t.Error("Open on a file succeeded")
	}
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

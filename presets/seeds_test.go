package presets

import (
	"reflect"
	"strings"
	"testing"
)

func TestReplicateSeeds(t *testing.T) {
	p, err := Load("mea-vs-mha")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := p.Expand(Options{})
	if err != nil {
		t.Fatal(err)
	}
	specs := ex.Runs
	reps, err := Replicate(specs, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 4*len(specs) {
		t.Fatalf("%d replicas of %d runs, want %d", len(reps), len(specs), 4*len(specs))
	}
	// Seeds are distinct within a group and the same for replica i across
	// groups; names say the group and index.
	seedOf := map[int]uint64{}
	dataOf := map[int]uint64{}
	for _, g := range specs {
		seen := map[uint64]bool{}
		for _, r := range reps {
			if r.Group != g.Name {
				continue
			}
			if want := g.Name + "@seed=" + string(rune('0'+r.Replica)); r.Name != want {
				t.Errorf("replica name %q, want %q", r.Name, want)
			}
			if seen[r.Model.Seed] {
				t.Errorf("group %s: seed %d used twice", g.Name, r.Model.Seed)
			}
			seen[r.Model.Seed] = true
			if s, ok := seedOf[r.Replica]; ok && (s != r.Model.Seed || dataOf[r.Replica] != r.DataSeed) {
				t.Errorf("replica %d of %s has seeds %d/%d, other groups %d/%d", r.Replica, g.Name, r.Model.Seed, r.DataSeed, s, dataOf[r.Replica])
			}
			seedOf[r.Replica], dataOf[r.Replica] = r.Model.Seed, r.DataSeed
			// Apart from name, seeds and group fields, a replica is its run.
			a, b := r, g
			a.Name, a.Group, a.Replica, a.Model.Seed, a.DataSeed = "", "", 0, 0, 0
			b.Name, b.Model.Seed, b.DataSeed = "", 0, 0
			if !reflect.DeepEqual(a.Model, b.Model) || a.Sched != b.Sched || a.Batch != b.Batch {
				t.Errorf("replica %s differs from its run beyond seeds", r.Name)
			}
		}
		if len(seen) != 4 {
			t.Errorf("group %s has %d distinct seeds, want 4", g.Name, len(seen))
		}
	}
	// Deterministic.
	again, _ := Replicate(specs, 4)
	for i := range reps {
		if reps[i].Name != again[i].Name || reps[i].Model.Seed != again[i].Model.Seed || reps[i].DataSeed != again[i].DataSeed {
			t.Fatalf("replication is not deterministic at %d", i)
		}
	}
	if one, _ := Replicate(specs, 1); len(one) != len(specs) || one[0].Group != "" {
		t.Error("seeds=1 changed the runs")
	}
	for _, bad := range []int{0, -1, MaxSeeds + 1} {
		if _, err := Replicate(specs, bad); err == nil {
			t.Errorf("seeds=%d accepted", bad)
		}
	}
	if _, err := Replicate(reps, 2); err == nil {
		t.Error("replicating replicas accepted")
	}
}

func TestSeedsKey(t *testing.T) {
	p, err := Parse("t", []byte("[defaults]\nseeds = 3\nsteps = 10\nwidth = 32\nheads = 2\nlayers = 1\ncontext = 16\nbatch = 2\n[run mha]\nvariant = mha\n[run mea]\nvariant = mea\nseeds = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	ex, err := p.Expand(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range ex.Runs {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, " "); got != "mha@seed=1 mha@seed=2 mha@seed=3 mea@seed=1 mea@seed=2" {
		t.Fatalf("runs %s", got)
	}
	if ex.Runs[4].Group != "mea" || ex.Runs[4].Replica != 2 || ex.Section[4] != "mea" {
		t.Errorf("replica fields %+v section %q", ex.Runs[4], ex.Section[4])
	}
	// --set seeds=N overrides the file's defaults (not a run's own value).
	ex, err = p.Expand(Options{Overrides: []Setting{{Key: "seeds", Value: "4"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Runs) != 6 {
		t.Errorf("--set seeds=4: %d runs, want 4 + 2", len(ex.Runs))
	}
	// Only picks replicas by name, or a whole group by its section.
	ex, err = p.Expand(Options{Only: []string{"mea"}})
	if err != nil || len(ex.Runs) != 2 {
		t.Errorf("only mea: %v %v", ex, err)
	}
	for _, bad := range []struct{ src, want string }{
		{"[defaults]\nseeds = 0\n[run a]\n", "between 1 and 64"},
		{"[defaults]\nseeds = x\n[run a]\n", "not a whole number"},
		{"[defaults]\ngrid seeds = 1, 2\n[run a]\n", "grid over seeds"},
	} {
		q, err := Parse("t", []byte(bad.src))
		if err == nil {
			_, err = q.Expand(Options{})
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.src, err, bad.want)
		}
	}
	// Seeds count against --max-runs.
	if _, err := p.Expand(Options{MaxRuns: 4}); err == nil || !strings.Contains(err.Error(), "with its seeds") {
		t.Errorf("max-runs with seeds: %v", err)
	}
}

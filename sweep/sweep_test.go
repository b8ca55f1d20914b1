package sweep

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/sessions"
)

var update = flag.Bool("update", false, "rewrite the golden batch scripts")

func plan(t *testing.T, preset string, over ...string) *Plan {
	t.Helper()
	var p *presets.Preset
	var err error
	if strings.HasSuffix(preset, ".preset") {
		src, rerr := os.ReadFile(filepath.Join("testdata", preset))
		if rerr != nil {
			t.Fatal(rerr)
		}
		p, err = presets.Parse(strings.TrimSuffix(preset, ".preset"), src)
	} else {
		p, err = presets.Load(preset)
	}
	if err != nil {
		t.Fatal(err)
	}
	var sets []presets.Setting
	for _, o := range over {
		s, err := presets.ParseSet(o)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, s)
	}
	specs, err := Expand(p, sets)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := NewPlan(p, sets, specs)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func TestArraySpec(t *testing.T) {
	for _, c := range []struct {
		idx   []int
		limit int
		want  string
	}{
		{[]int{0, 1, 2, 3, 4, 5}, 2, "0-5%2"},
		{[]int{3}, 0, "3"},
		{[]int{5, 1, 3, 4, 1}, 0, "1,3-5"},
		{[]int{0, 2, 4, 5, 6, 9}, 3, "0,2,4-6,9%3"},
	} {
		if got := ArraySpec(c.idx, c.limit); got != c.want {
			t.Errorf("ArraySpec(%v, %d) = %q, want %q", c.idx, c.limit, got, c.want)
		}
	}
}

// TestScriptGolden compares generated batch scripts with reviewed copies
// in testdata (go test ./sweep -update rewrites them).
func TestScriptGolden(t *testing.T) {
	when := time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		in   ScriptInput
	}{
		{"grid-all.sbatch", ScriptInput{Plan: plan(t, "grid.preset", "steps=100"), Slurm: Slurm{CPUsPerTask: 2, ArrayLimit: 2, Time: "0:30:00", Mem: "2G", Partition: "cpu"},
			Indices: []int{0, 1}}},
		{"grid-resubmit.sbatch", ScriptInput{Plan: plan(t, "grid.preset", "steps=50", "width=64"), Slurm: Slurm{CPUsPerTask: 1, SbatchArgs: []string{"--account=ml-lab", "--requeue"}},
			Indices: []int{1, 3, 4}}},
	} {
		in := c.in
		in.Session, in.StoreDir, in.LogDir = "grid-1", "/shared/mealab", "/shared/mealab/grid-1/sweep/logs"
		in.Binary, in.Version, in.SHA256, in.Written = "/shared/bin/mealab", "mealab 0.1.0 (abcdef123456, go1.26.8)", strings.Repeat("ab", 32), when
		got := Script(in)
		path := filepath.Join("testdata", c.name)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./sweep -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from the golden copy (go test ./sweep -update, then review the diff):\n%s", c.name, got)
		}
	}
}

// TestScriptQuotesRunNames: a run name with shell-special characters stays
// one argument.
func TestScriptQuotesRunNames(t *testing.T) {
	pl := plan(t, "quick")
	pl.Runs[0].Name = "it's $(x)"
	s := Script(ScriptInput{Plan: pl, Slurm: Slurm{CPUsPerTask: 1}, Indices: []int{0}, Session: "s", StoreDir: "/d", Binary: "/b"})
	if !strings.Contains(s, `--only 'it'\''s $(x)'`) {
		t.Fatalf("run name not quoted:\n%s", s)
	}
}

func TestParseSqueue(t *testing.T) {
	out := "101|100|0|RUNNING|None\n102|100|1|RUNNING|None\n100|100|N/A|PENDING|JobArrayTaskLimit\n\n"
	es, err := ParseSqueue(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []QueueEntry{{"101", "100", 0, "RUNNING", "None"}, {"102", "100", 1, "RUNNING", "None"}, {"100", "100", -1, "PENDING", "JobArrayTaskLimit"}}
	if !reflect.DeepEqual(es, want) {
		t.Fatalf("got %+v", es)
	}
	for _, bad := range []string{"101|100|0|RUNNING", "x|100|0|RUNNING|None", "101|100|0||None", "1|2|3|4|5|6"} {
		if _, err := ParseSqueue(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseSacct(t *testing.T) {
	out := "100_0|COMPLETED|0:0\n100_1|CANCELLED by 0|0:15\n100_2|TIMEOUT|0:0\n100_[3-5%2]|PENDING|0:0\n99|FAILED|1:0\n"
	es, err := ParseSacct(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []AcctEntry{{"100", 0, "COMPLETED", "0:0"}, {"100", 1, "CANCELLED", "0:15"}, {"100", 2, "TIMEOUT", "0:0"}, {"100", -1, "PENDING", "0:0"}, {"99", -1, "FAILED", "1:0"}}
	if !reflect.DeepEqual(es, want) {
		t.Fatalf("got %+v", es)
	}
	for _, bad := range []string{"100_x|FAILED|1:0", "abc|FAILED|1:0", "100_1||0:0", "100_1|FAILED"} {
		if _, err := ParseSacct(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzParseSqueue: never panics, and what it accepts it reads back the
// same after formatting.
func FuzzParseSqueue(f *testing.F) {
	f.Add("101|100|0|RUNNING|None\n100|100|N/A|PENDING|JobArrayTaskLimit\n")
	f.Add("|||\n")
	f.Add("1|1|-5|R|\n")
	f.Fuzz(func(t *testing.T, s string) {
		es, err := ParseSqueue(s)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, e := range es {
			task := "N/A"
			if e.TaskID >= 0 {
				task = fmt.Sprint(e.TaskID)
			}
			fmt.Fprintf(&b, "%s|%s|%s|%s|%s\n", e.JobID, e.ArrayJobID, task, e.State, e.Reason)
		}
		again, err := ParseSqueue(b.String())
		if err != nil || !reflect.DeepEqual(es, again) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, es, b.String(), again, err)
		}
	})
}

// FuzzParseSacct: the same for sacct.
func FuzzParseSacct(f *testing.F) {
	f.Add("100_0|COMPLETED|0:0\n100_1|CANCELLED by 0|0:15\n100_[3-5%2]|PENDING|0:0\n")
	f.Add("1_|X|")
	f.Add("1_-1|X|0")
	f.Fuzz(func(t *testing.T, s string) {
		es, err := ParseSacct(s)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, e := range es {
			id := e.ArrayJobID
			if e.TaskID >= 0 {
				id += fmt.Sprintf("_%d", e.TaskID)
			}
			fmt.Fprintf(&b, "%s|%s|%s\n", id, e.State, e.ExitCode)
		}
		again, err := ParseSacct(b.String())
		if err != nil {
			t.Fatalf("%q -> %+v -> %q: %v", s, es, b.String(), err)
		}
		// Pending ranges come back as plain job lines; compare the rest.
		if len(again) != len(es) {
			t.Fatalf("%q: %d entries, %d after a round trip", s, len(es), len(again))
		}
		for i := range es {
			if es[i].TaskID >= 0 && es[i] != again[i] {
				t.Fatalf("%q: %+v became %+v", s, es[i], again[i])
			}
		}
	})
}

// TestCombine: the run states that the queue, the accounting and the task
// records give together.
func TestCombine(t *testing.T) {
	st, err := sessions.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := st.Create("s")
	if err != nil {
		t.Fatal(err)
	}
	pl := plan(t, "lr-sweep") // 24 runs
	pl.Slurm = &Slurm{CPUsPerTask: 1}
	pl.Jobs = []Job{{ID: "100", Indices: []int{0, 1, 2, 3, 4, 5, 6, 7}}, {ID: "200", Indices: []int{5}}}
	task := func(i int, state string) {
		r, err := sess.CreateRun(pl.Runs[i].Dir, map[string]any{"name": pl.Runs[i].Name})
		if err != nil {
			t.Fatal(err)
		}
		rec := NewTaskRecord()
		rec.State = state
		if err := r.SaveTask(rec); err != nil {
			t.Fatal(err)
		}
	}
	task(0, TaskDone)
	task(1, TaskRunning) // in the queue: running
	task(2, TaskRunning) // not in the queue: killed
	task(3, TaskInterrupted)
	task(4, TaskDone) // done, though Slurm says TIMEOUT after the last step
	task(5, TaskInterrupted)
	task(7, TaskDiverged)
	queue := []QueueEntry{{"101", "100", 1, "RUNNING", "None"}, {"100", "100", -1, "PENDING", "Priority"}, {"201", "200", 5, "RUNNING", "None"}}
	acct := []AcctEntry{{"100", 4, "TIMEOUT", "0:0"}, {"100", 3, "CANCELLED", "0:15"}}
	sts := Combine(sess, pl, queue, acct)
	want := map[int]string{0: Done, 1: Running, 2: Failed, 3: Failed, 4: Done, 5: Running, 6: Queued, 7: Done, 8: NotSubmitted}
	for i, w := range want {
		if sts[i].State != w {
			t.Errorf("run %d (%s): %s (%s), want %s", i, pl.Runs[i].Name, sts[i].State, sts[i].Detail, w)
		}
	}
	if !strings.Contains(sts[3].Detail, "CANCELLED") || !strings.Contains(sts[2].Detail, "killed") {
		t.Errorf("details: %q, %q", sts[3].Detail, sts[2].Detail)
	}
	if got := FailedIndices(sts); !reflect.DeepEqual(got, []int{2, 3}) {
		t.Errorf("failed: %v", got)
	}
}

// TestPlanSelect: names, directory names and #index select runs; an
// unknown name lists the real ones.
func TestPlanSelect(t *testing.T) {
	pl := plan(t, "lr-sweep")
	rs, err := pl.Select([]string{"mea@lr=1e-2,#0", pl.Runs[5].Dir})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%d:%s:%d", r.Index, r.Name, r.ID))
	}
	if fmt.Sprint(got) != "[0:mha@lr=1e-3:1 5:mha@lr=3e-1:6 20:mea@lr=1e-2:21]" {
		t.Errorf("selected %v", got)
	}
	if _, err := pl.Select([]string{"mea@9"}); err == nil || !strings.Contains(err.Error(), "mha@lr=1e-3") {
		t.Errorf("unknown run: %v", err)
	}
	// Plans survive the session.
	st, _ := sessions.Open(t.TempDir())
	sess, _ := st.Create("p")
	if err := pl.Save(sess); err != nil {
		t.Fatal(err)
	}
	back, err := LoadPlan(sess)
	if err != nil || len(back.Runs) != 24 || back.Runs[20].Spec.Sched.Peak != 1e-2 {
		t.Fatalf("loaded plan: %v", err)
	}
}

// TestStatusWithoutQueue: when squeue cannot be asked, the task records
// decide and a running task is not declared dead.
func TestStatusWithoutQueue(t *testing.T) {
	st, _ := sessions.Open(t.TempDir())
	sess, _ := st.Create("s")
	pl := plan(t, "quick")
	pl.Jobs = []Job{{ID: "7", Indices: []int{0, 1}}}
	r, _ := sess.CreateRun(pl.Runs[0].Dir, nil)
	rec := NewTaskRecord()
	_ = r.SaveTask(rec)
	down := Commands{Run: func(name string, args ...string) ([]byte, error) {
		return nil, fmt.Errorf("%s: slurm_load_jobs error: Unable to contact slurm controller", name)
	}}
	sts, acct, qerr := Status(sess, pl, down)
	if qerr == nil || acct {
		t.Fatalf("queue error %v, accounting %v", qerr, acct)
	}
	if sts[0].State != Running || sts[1].State != Failed {
		t.Fatalf("states %s, %s", sts[0].State, sts[1].State)
	}
	// With the queue answering and sacct refusing (no accounting), as on the
	// test machine.
	up := Commands{Run: func(name string, args ...string) ([]byte, error) {
		if name == "sacct" {
			return nil, fmt.Errorf("sacct: Slurm accounting storage is disabled")
		}
		return []byte("8|7|1|PENDING|Resources\n"), nil
	}}
	sts, acct, qerr = Status(sess, pl, up)
	if qerr != nil || acct || sts[0].State != Failed || sts[1].State != Queued || sts[1].Detail != "Resources" {
		t.Fatalf("%v %v %+v %+v", qerr, acct, sts[0], sts[1])
	}
}

// TestLocalStatus: a local sweep's runs are not started, running, or
// failed when their process on this host is gone.
func TestLocalStatus(t *testing.T) {
	st, _ := sessions.Open(t.TempDir())
	sess, _ := st.Create("s")
	pl := plan(t, "quick")
	for i, pid := range []int{os.Getpid(), 1 << 30} {
		r, _ := sess.CreateRun(pl.Runs[i].Dir, nil)
		rec := NewTaskRecord()
		rec.PID = pid
		_ = r.SaveTask(rec)
	}
	pl.Runs = append(pl.Runs, pl.Runs[0])
	pl.Runs[2].Index, pl.Runs[2].Dir = 2, "r3-x"
	sts := Combine(sess, pl, nil, nil)
	if sts[0].State != Running || sts[1].State != Failed || sts[2].State != NotStarted {
		t.Fatalf("states %s, %s (%s), %s", sts[0].State, sts[1].State, sts[1].Detail, sts[2].State)
	}
}

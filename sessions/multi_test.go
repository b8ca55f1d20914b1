package sessions

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary act as a writer process for the
// many-writers test.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SESSIONS_TEST_LOCKER"); dir != "" {
		r := &Run{name: "r", dir: dir}
		if _, err := r.Lock(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Print("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	if os.Getenv("SESSIONS_TEST_WRITER") == "1" {
		if err := writerProcess(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type seqLine struct {
	Seq  int    `json:"seq"`
	Pad  string `json:"pad"`
	Run  string `json:"run"`
	Wall int64  `json:"wall"`
}

// writerProcess: DIR SESSION RUN LINES BUFFERED. Opens the store, creates
// the session if nobody has (racing the other writers), creates its run and
// appends LINES lines of varying length.
func writerProcess(args []string) error {
	dir, session, run := args[0], args[1], args[2]
	lines, _ := strconv.Atoi(args[3])
	buffered := args[4] == "1"
	st, err := Open(dir)
	if err != nil {
		return err
	}
	sess, err := st.Create(session)
	if errors.Is(err, ErrExists) {
		sess, err = st.Load(session)
	}
	if err != nil {
		return err
	}
	r, err := sess.CreateRun(run, map[string]any{"config": map[string]any{"writer": run}})
	if err != nil {
		return err
	}
	if err := r.SaveTask(map[string]any{"state": "running", "pid": os.Getpid()}); err != nil {
		return err
	}
	if buffered {
		_ = r.SetBuffered(true)
	}
	for i := 1; i <= lines; i++ {
		// Lines of very different lengths make torn reads likely if a
		// reader mishandles a line being written.
		pad := strings.Repeat("x", (i*7919)%3000)
		if err := r.AppendMetric(seqLine{Seq: i, Pad: pad, Run: run, Wall: time.Now().UnixNano()}); err != nil {
			return err
		}
		if i%50 == 0 {
			if err := r.Flush(); err != nil {
				return err
			}
		}
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := r.SaveTask(map[string]any{"state": "done", "pid": os.Getpid()}); err != nil {
		return err
	}
	return r.Close()
}

// TestManyWritersOneFollower starts several writer processes on one session
// at once (they even race to create it) while a follower in this process
// lists the runs and tails their metrics throughout. The follower must never
// see a run without run.json, a skipped or damaged line, or a line out of
// order, and must end with every line of every run.
func TestManyWritersOneFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("starts writer processes; skipped with -short")
	}
	dir := t.TempDir()
	const writers, lines = 6, 600
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], dir, "sweep", fmt.Sprintf("r%d-w", w+1), strconv.Itoa(lines), strconv.Itoa(w%2))
			cmd.Env = append(os.Environ(), "SESSIONS_TEST_WRITER=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("writer %d: %v\n%s", w, err, out)
			}
		}(w)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tails := map[string]*Tail{}
	next := map[string]int{}
	polls := 0
	follow := func() {
		sess, err := st.Load("sweep")
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return // nobody created it yet
			}
			t.Fatalf("poll %d: load: %v", polls, err)
		}
		names, err := sess.Runs()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if tails[n] == nil {
				r, err := sess.OpenRun(n)
				if err != nil {
					t.Fatalf("poll %d: run %s listed but does not open: %v", polls, n, err)
				}
				if _, err := r.Config(); err != nil {
					t.Fatalf("poll %d: run %s: %v", polls, n, err)
				}
				tails[n] = r.TailMetrics()
				next[n] = 1
			}
			rep, err := tails[n].Next(func(raw json.RawMessage) error {
				var l seqLine
				if err := json.Unmarshal(raw, &l); err != nil {
					return err
				}
				if l.Seq != next[n] || l.Run != n {
					return fmt.Errorf("got line %d of %s, want %d of %s", l.Seq, l.Run, next[n], n)
				}
				next[n]++
				return nil
			})
			if err != nil || rep.Skipped > 0 || len(rep.Warnings) > 0 {
				t.Fatalf("poll %d: run %s: %v %+v", polls, n, err, rep)
			}
		}
		polls++
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		follow()
	}
	follow() // what was written after the last poll
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(tails) != writers {
		t.Fatalf("follower saw %d runs, want %d", len(tails), writers)
	}
	for n, want := range next {
		if want != lines+1 {
			t.Errorf("run %s: follower read %d lines, want %d", n, want-1, lines)
		}
	}
	// No leftovers from the creation races.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover %s in the store", e.Name())
		}
	}
	sess, _ := st.Load("sweep")
	for n := range tails {
		r, _ := sess.OpenRun(n)
		var task struct {
			State string `json:"state"`
		}
		if ok, err := r.LoadTask(&task); !ok || err != nil || task.State != "done" {
			t.Errorf("run %s task record: %v %v %+v", n, ok, err, task)
		}
	}
	t.Logf("%d writers x %d lines, follower polled %d times", writers, lines, polls)
}

// TestTailWaitsForTheEndOfALine appends a line in pieces: the follower sees
// it only once it is whole.
func TestTailWaitsForTheEndOfALine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.jsonl")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tl := NewTail(p, FormatMetrics)
	var got []string
	collect := func() ReadReport {
		rep, err := tl.Next(func(raw json.RawMessage) error { got = append(got, string(raw)); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	for _, piece := range []string{`{"format":"mealab.me`, `trics","version":1}` + "\n", `{"step":1,"lo`, `ss":2.5}`, "\n", `{"step":2}` + "\n" + `{"st`} {
		if _, err := f.WriteString(piece); err != nil {
			t.Fatal(err)
		}
		if rep := collect(); rep.Skipped != 0 || len(rep.Warnings) != 0 {
			t.Fatalf("after %q: %+v", piece, rep)
		}
	}
	if want := []string{`{"step":1,"loss":2.5}`, `{"step":2}`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// A file replaced by a shorter one is read again from the start.
	if err := os.WriteFile(p, []byte(`{"format":"mealab.metrics","version":1}`+"\n"+`{"step":9}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got = nil
	if rep := collect(); len(rep.Warnings) != 1 || fmt.Sprint(got) != `[{"step":9}]` {
		t.Fatalf("after rewrite: %v %+v", got, rep)
	}
	// A newer format is refused, as everywhere.
	q := filepath.Join(t.TempDir(), "n.jsonl")
	_ = os.WriteFile(q, []byte(`{"format":"mealab.metrics","version":99}`+"\n"), 0o644)
	var nv *NewerVersionError
	if _, err := NewTail(q, FormatMetrics).Next(func(json.RawMessage) error { return nil }); !errors.As(err, &nv) {
		t.Fatalf("newer version: %v", err)
	}
}

// TestConcurrentCreateOneWinner: many goroutines create the same session
// and the same run; exactly one of each succeeds, the rest get ErrExists,
// and nothing is left behind.
func TestConcurrentCreateOneWinner(t *testing.T) {
	dir := t.TempDir()
	st, _ := Open(dir)
	const n = 16
	var wins, exists int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Create("s")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrExists):
				exists++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || exists != n-1 {
		t.Fatalf("session: %d created, %d ErrExists", wins, exists)
	}
	sess, err := st.Load("s")
	if err != nil {
		t.Fatal(err)
	}
	wins, exists = 0, 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := sess.CreateRun("r", map[string]int{"who": i})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrExists):
				exists++
			default:
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 || exists != n-1 {
		t.Fatalf("run: %d created, %d ErrExists", wins, exists)
	}
	for _, d := range []string{dir, sess.Dir(), filepath.Join(sess.Dir(), "runs")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("leftover %s in %s", e.Name(), d)
			}
		}
	}
}

// TestRunLock: a second process cannot lock a run another one holds, and
// the lock is free again once the holder is gone (even killed).
func TestRunLock(t *testing.T) {
	st, _ := Open(t.TempDir())
	sess, _ := st.Create("s")
	r, err := sess.CreateRun("r", nil)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SESSIONS_TEST_LOCKER="+r.Dir())
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "locked" {
		t.Fatalf("locker: %q %v", buf, err)
	}
	if _, err := r.Lock(); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Fatalf("lock held elsewhere: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	release, err := r.Lock()
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	release()
}

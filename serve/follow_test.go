package serve

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mealab/mealab/trainer"
)

func stepOf(u *user, name string) int {
	for _, in := range u.lab.Runs() {
		if in.Name == name {
			return in.Step
		}
	}
	return -1
}

// TestFollowReadOnlyAndTake: alice follows the teacher (followable by
// default) live and read-only, at her own size; T forks the selected run,
// weights and AdamW state, into her lab, where it trains on.
func TestFollowReadOnlyAndTake(t *testing.T) {
	ts := startServer(t, nil)
	teacher := openScreen(t, ts.dial(t, "teacher"), "", 120, 40)
	teacher.waitFor(t, "teacher's lab", 10*time.Second)
	f := openScreen(t, ts.dial(t, "alice"), "follow teacher", 70, 20)
	f.waitFor(t, "following teacher (read-only)", 10*time.Second)
	ts.waitLog(t, "msg=follow user=alice target=teacher", 2*time.Second)
	tu := ts.lookupUser("teacher")
	if n := tu.hub.viewers(); n != 2 {
		t.Fatalf("the teacher's lab has %d viewers, want 2 (teacher and alice)", n)
	}
	// Keys that change a lab are refused, and nothing changed.
	before := tu.lab.Runs()
	f.keys(t, "p")
	f.waitFor(t, "read-only", 5*time.Second)
	f.keys(t, "X")
	f.keys(t, "D")
	time.Sleep(200 * time.Millisecond)
	for i, in := range tu.lab.Runs() {
		if in.State != before[i].State {
			t.Fatalf("a follower changed %s: %v -> %v", in.Name, before[i].State, in.State)
		}
	}
	// Take the selected (first) run.
	f.keys(t, "T")
	ts.waitLog(t, "msg=take user=alice from=teacher run=1 as=teacher.mha", 30*time.Second)
	f.waitFor(t, "took teacher.mha", 5*time.Second)
	au := ts.lookupUser("alice")
	waitUntil(t, "the taken run to train in alice's lab", 20*time.Second, func() bool {
		return stepOf(au, "teacher.mha") > 0
	})
	s0 := stepOf(au, "teacher.mha")
	waitUntil(t, "the taken run to keep training", 20*time.Second, func() bool { return stepOf(au, "teacher.mha") > s0 })
	// b goes back to alice's own lab, which now has the run.
	f.keys(t, "b")
	f.waitFor(t, "alice's lab", 10*time.Second)
	if n := tu.hub.viewers(); n != 1 {
		t.Fatalf("after alice left, the teacher's lab has %d viewers, want 1", n)
	}
}

// TestTakeCopiesState checks the fork itself: weights, AdamW moments, step
// and data position equal the source's at the moment of taking.
func TestTakeCopiesState(t *testing.T) {
	ts := startServer(t, nil)
	from, err := ts.getUser("teacher", false)
	if err != nil {
		t.Fatal(err)
	}
	to, err := ts.getUser("bob", false)
	if err != nil {
		t.Fatal(err)
	}
	id := from.lab.Runs()[0].ID
	waitUntil(t, "a few steps", 20*time.Second, func() bool { return from.lab.Runs()[0].Step >= 3 })
	if err := from.lab.Pause(id); err != nil {
		t.Fatal(err)
	}
	// Make room under bob's limit of 3 unfinished runs.
	for _, in := range to.lab.Runs() {
		_ = to.lab.Stop(in.ID)
	}
	src, err := from.lab.Snapshot(id)
	if err != nil {
		t.Fatal(err)
	}
	name, err := take(from, to, id)
	if err != nil {
		t.Fatal(err)
	}
	var nid trainer.RunID
	for _, in := range to.lab.Runs() {
		if in.Name == name {
			nid = in.ID
		}
	}
	if err := to.lab.Pause(nid); err != nil {
		t.Fatal(err)
	}
	got, err := to.lab.Snapshot(nid)
	if err != nil {
		t.Fatal(err)
	}
	// The copy may have trained a step or more before the pause: compare
	// with the source only if it did not.
	if got.Step == src.Step {
		if !slices.Equal(got.Params, src.Params) || !slices.Equal(got.M, src.M) || !slices.Equal(got.V, src.V) || got.OptSteps != src.OptSteps {
			t.Fatal("the taken run's weights or optimiser state differ from the source's")
		}
	} else if got.Step < src.Step {
		t.Fatalf("the taken run is at step %d, the source was at %d", got.Step, src.Step)
	}
	h, _ := to.lab.History(nid)
	if len(h.Points) < src.Step {
		t.Fatalf("the taken run has %d points of history, want at least %d", len(h.Points), src.Step)
	}
	if _, err := take(from, from, id); err == nil {
		t.Fatal("taking one's own run worked")
	}
}

// TestFollowOptIn: students are not followable until they press O; the
// picker (F) lists only those who share; when the followed person stops
// sharing, followers are sent back to their own lab.
func TestFollowOptIn(t *testing.T) {
	ts := startServer(t, nil)
	alice := openScreen(t, ts.dial(t, "alice"), "", 100, 30)
	alice.waitFor(t, "alice's lab", 10*time.Second)
	bobc := ts.dial(t, "bob")
	if code := openScreen(t, bobc, "follow alice", 80, 24).exit(t, 10*time.Second); code == 0 {
		t.Fatal("bob followed alice before she shared")
	}
	alice.keys(t, "O")
	alice.waitFor(t, "others can follow your lab now", 5*time.Second)
	bob := openScreen(t, bobc, "", 100, 30)
	bob.waitFor(t, "bob's lab", 10*time.Second)
	bob.keys(t, "F")
	bob.waitFor(t, "Follow someone's lab", 5*time.Second)
	bob.waitFor(t, "alice", 5*time.Second)
	bob.keys(t, "\r")
	bob.waitFor(t, "following alice (read-only)", 10*time.Second)
	alice.keys(t, "O")
	ts.waitLog(t, "msg=followable user=alice on=false", 5*time.Second)
	waitUntil(t, "bob back in his lab", 10*time.Second, func() bool {
		txt := bob.text()
		return strings.LastIndex(txt, "bob's lab") > strings.LastIndex(txt, "following alice")
	})
}

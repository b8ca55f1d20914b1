package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
	"github.com/mealab/mealab/tui"
)

// followLab is `mealab --session S --follow`: the lab's screen on a session
// that other processes write (a sweep's tasks), read-only.
func followLab(fs *flag.FlagSet, rf runFlags, fps int, stdout, stderr io.Writer) error {
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "follow", "session", "dir", "fps":
		default:
			bad = append(bad, "--"+f.Name)
		}
	})
	if len(bad) > 0 {
		return usagef("--follow only shows what others train; %s cannot apply (drop it)", strings.Join(bad, ", "))
	}
	if rf.session == "" {
		return usagef("--follow needs --session NAME: the session to follow")
	}
	sess, err := loadNamedSession(rf.session, rf.dir)
	if err != nil {
		return err
	}
	if !isTerminal(stdout) {
		return usagef("the lab needs a terminal; without one use mealab sessions show %s --follow", rf.session)
	}
	f, err := record.Follow(sess, time.Second)
	if err != nil {
		return err
	}
	f.Start()
	defer f.Close()
	idle := trainer.NewLab(trainer.Options{})
	idle.Close()
	title := "session " + sess.Name() + " (following, read-only)"
	var meta record.SessionMeta
	if sess.Meta(&meta) == nil && meta.Preset != "" {
		title = meta.Preset + " · " + title
	}
	return tui.Run(followView{f, closedLab{idle}}, tui.Options{FPS: fps, Title: title, NoColor: os.Getenv("NO_COLOR") != "",
		SaveHint: "this lab follows a session that other processes write; they save it"})
}

// followView is what the lab's screen shows when following: the
// follower's data, and for any lab method the follower lacks, a closed
// empty lab's answer (an error), so the view keeps working as the screen's
// Lab interface grows.
type followView struct {
	*record.Follower
	closedLab
}

// closedLab puts the lab's methods one level deeper than the follower's,
// so the follower's win.
type closedLab struct{ *trainer.Lab }

func loadNamedSession(name, dir string) (*sessions.Session, error) {
	if err := sessions.ValidateName(name); err != nil {
		return nil, usagef("--session: %v", err)
	}
	store, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	return loadSession(store, name)
}

// showFollow is `mealab sessions show S --follow`: the runs so far, then a
// line for every new run, evaluation and state change as other processes
// write them, until Ctrl-C (or ctx ends).
func showFollow(ctx context.Context, sess *sessions.Session, every time.Duration, w io.Writer) error {
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	f, err := record.Follow(sess, every)
	if err != nil {
		return err
	}
	defer f.Close()
	infos := f.Runs()
	fmt.Fprintf(w, "following session %s in %s: %d runs so far (Ctrl-C stops)\n", sess.Name(), sess.Dir(), len(infos))
	names := map[trainer.RunID]string{}
	state := map[trainer.RunID]trainer.State{}
	for _, in := range infos {
		names[in.ID], state[in.ID] = in.Name, in.State
		fmt.Fprintf(w, "  %-16s %-8s step %d/%d  loss %s  val %s\n", in.Name, in.State, in.Step, in.Steps, fmtLoss(in.Loss), fmtLoss(in.ValLoss))
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ups, err := f.Poll()
		if err != nil {
			return err
		}
		stamp := time.Now().Format("15:04:05")
		for _, u := range ups {
			switch v := u.(type) {
			case trainer.RunInfo:
				if _, ok := names[v.ID]; !ok {
					names[v.ID] = v.Name
					fmt.Fprintf(w, "%s  %-16s new run (%s, %d steps)\n", stamp, v.Name, v.Variant, v.Steps)
				}
				if s, ok := state[v.ID]; !ok || s != v.State {
					state[v.ID] = v.State
					fmt.Fprintf(w, "%s  %-16s %s at step %d/%d  loss %s  val %s\n", stamp, v.Name, v.State, v.Step, v.Steps, fmtLoss(v.Loss), fmtLoss(v.ValLoss))
				}
			case trainer.EvalPoint:
				fmt.Fprintf(w, "%s  %-16s step %d  val %s\n", stamp, names[v.Run], v.Step, fmtLoss(v.ValLoss))
			case trainer.Event:
				if v.Kind != "start" && v.Kind != "done" {
					fmt.Fprintf(w, "%s  %-16s step %d  ** %s: %s\n", stamp, names[v.Run], v.Step, v.Kind, v.Detail)
				}
			}
		}
		for _, x := range f.Warnings() {
			fmt.Fprintf(w, "warning: %s\n", x)
		}
	}
}

package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"

	"github.com/mealab/mealab/sessions"
)

// Run states in a status.
const (
	Queued       = "queued"
	Running      = "running"
	Done         = "done"
	Failed       = "failed"
	NotSubmitted = "not submitted" // a Slurm sweep's run in no job yet
	NotStarted   = "not started"   // a local sweep's run not begun yet
)

// RunStatus is what is known about one run of a sweep.
type RunStatus struct {
	Run      Run
	State    string // Queued, Running, Done, Failed, NotSubmitted
	Slurm    string // "123_4 RUNNING" from squeue, or the sacct state and exit code
	Task     *TaskRecord
	Step     int     // last step recorded in metrics.jsonl
	Loss     float64 // its training loss (NaN if none)
	Val      float64 // last validation loss (NaN if none)
	Detail   string
	Warnings []string
}

// Status combines, per run: the queue (squeue), the accounting (sacct,
// where the cluster has it) and what the task recorded in its run directory.
// Accounting is false when sacct gave nothing, so the task records decided.
//
// When squeue cannot be asked (no Slurm commands here, the controller does
// not answer), the status comes from the task records alone and queueErr
// says why; a run a task says is running is then shown running.
func Status(sess *sessions.Session, pl *Plan, c Commands) (out []RunStatus, accounting bool, queueErr error) {
	var queue []QueueEntry
	if len(pl.Jobs) > 0 {
		queue, queueErr = c.Queue(sess.Name())
	}
	var ids []string
	for _, j := range pl.Jobs {
		ids = append(ids, j.ID)
	}
	acct, accounting := c.Accounting(ids)
	out = combine(sess, pl, queue, acct, queueErr == nil)
	return out, accounting, queueErr
}

// latestJob is the last job that covers index i.
func (pl *Plan) latestJob(i int) *Job {
	for j := len(pl.Jobs) - 1; j >= 0; j-- {
		for _, x := range pl.Jobs[j].Indices {
			if x == i {
				return &pl.Jobs[j]
			}
		}
	}
	return nil
}

// Combine is Status on given squeue and sacct entries.
func Combine(sess *sessions.Session, pl *Plan, queue []QueueEntry, acct []AcctEntry) []RunStatus {
	return combine(sess, pl, queue, acct, true)
}

func combine(sess *sessions.Session, pl *Plan, queue []QueueEntry, acct []AcctEntry, queueKnown bool) []RunStatus {
	var out []RunStatus
	for _, r := range pl.Runs {
		st := RunStatus{Run: r, Loss: math.NaN(), Val: math.NaN()}
		progress(sess, &st)
		rec, ok, err := LoadTask(sess, r.Dir)
		if err != nil {
			st.Warnings = append(st.Warnings, err.Error())
		}
		if ok {
			st.Task = &rec
		}
		job := pl.latestJob(r.Index)
		var q *QueueEntry
		var a *AcctEntry
		if job != nil {
			for i := range queue {
				if queue[i].ArrayJobID == job.ID && queue[i].TaskID == r.Index {
					q = &queue[i]
				}
			}
			for i := range acct {
				if acct[i].ArrayJobID == job.ID && acct[i].TaskID == r.Index {
					a = &acct[i]
				}
			}
			if q == nil && a == nil && !ok {
				// A pending range ("123_[2-5%2]", without squeue -r) names no
				// task ids: it holds the job's tasks that never started.
				for i := range queue {
					if queue[i].ArrayJobID == job.ID && queue[i].TaskID < 0 && queue[i].State == "PENDING" {
						q = &queue[i]
					}
				}
			}
		}
		switch {
		case q != nil:
			st.Slurm = fmt.Sprintf("%s_%d %s", job.ID, r.Index, q.State)
			switch q.State {
			case "PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "RESV_DEL_HOLD":
				st.State = Queued
				if q.Reason != "" && q.Reason != "None" {
					st.Detail = q.Reason
				}
			default:
				st.State = Running
			}
		case ok:
			switch rec.State {
			case TaskDone:
				st.State = Done
			case TaskDiverged:
				st.State, st.Detail = Done, "diverged: "+rec.Detail
			case TaskRunning:
				if job == nil {
					st.State = Running // a local sweep
					if gone(rec) {
						st.State, st.Detail = Failed, fmt.Sprintf("process %d on %s is gone without saying why (killed?)", rec.PID, rec.Host)
					}
				} else if !queueKnown {
					st.State, st.Detail = Running, "by its task record (the queue could not be read)"
				} else {
					st.State, st.Detail = Failed, fmt.Sprintf("the task on %s (pid %d) ended without saying why (killed?)", rec.Host, rec.PID)
				}
			default:
				st.State, st.Detail = Failed, rec.State
				if rec.Detail != "" {
					st.Detail += ": " + rec.Detail
				}
			}
		case job == nil && pl.Slurm == nil:
			st.State = NotStarted
		case job == nil:
			st.State = NotSubmitted
		default:
			st.State, st.Detail = Failed, "the task left no record (see its log in sweep/logs)"
		}
		if a != nil {
			if st.Slurm == "" {
				st.Slurm = fmt.Sprintf("%s_%d %s exit %s", job.ID, r.Index, a.State, a.ExitCode)
			}
			if q == nil && a.State != "COMPLETED" && a.State != "RUNNING" && a.State != "PENDING" && st.State == Done {
				// The run finished but the task did not end well (a
				// failure after the last checkpoint): report Slurm's word.
				st.Detail = strings.TrimSpace(st.Detail + " (Slurm: " + a.State + ")")
			}
			if q == nil && st.State != Done && a.State != "COMPLETED" {
				st.State = Failed
				st.Detail = strings.TrimSpace(a.State + " exit " + a.ExitCode + "; " + st.Detail)
			}
		}
		out = append(out, st)
	}
	return out
}

// gone reports whether the process of a task record on this host has
// ended (records from other hosts cannot be checked).
func gone(rec TaskRecord) bool {
	host, _ := os.Hostname()
	if rec.Host != host || rec.PID <= 0 {
		return false
	}
	p, err := os.FindProcess(rec.PID)
	if err != nil {
		return true
	}
	return p.Signal(syscall.Signal(0)) != nil && !errors.Is(p.Signal(syscall.Signal(0)), os.ErrPermission)
}

// progress reads the run's last step and losses from its metrics.
func progress(sess *sessions.Session, st *RunStatus) {
	r, err := sess.OpenRun(st.Run.Dir)
	if err != nil {
		return
	}
	var m struct {
		Type    string             `json:"type"`
		Step    int                `json:"step"`
		Loss    sessions.JSONFloat `json:"loss"`
		ValLoss sessions.JSONFloat `json:"val_loss"`
	}
	_, _ = r.ReadMetrics(func(raw json.RawMessage) error {
		m.Loss, m.ValLoss = sessions.JSONFloat(math.NaN()), sessions.JSONFloat(math.NaN())
		if json.Unmarshal(raw, &m) != nil {
			return nil
		}
		switch m.Type {
		case "step":
			st.Step, st.Loss = m.Step, float64(m.Loss)
		case "eval":
			st.Val = float64(m.ValLoss)
		}
		return nil
	})
}

// Failed returns the array indices whose runs failed.
func FailedIndices(sts []RunStatus) []int {
	var out []int
	for _, s := range sts {
		if s.State == Failed {
			out = append(out, s.Run.Index)
		}
	}
	return out
}

// Package sweep runs a preset's grid of runs as a sweep: on this machine in
// one lock-step lab with a bounded number of runs at a time, or on a Slurm
// cluster as an array job with one run per array task, every task recording
// into one session on the cluster's shared filesystem.
//
// A sweep is a Plan stored in its session (sweep/plan.json): the preset
// text, the overrides and the expanded run specs with their ids, so a task
// needs nothing but `mealab train --session S --only RUN`. Slurm does the
// placement, retries and accounting; this package writes the batch script
// (WriteScript), submits it (Submit), reads squeue and sacct (ParseSqueue,
// ParseSacct) and combines them with what each task recorded in its run
// directory (task.json, see TaskRecord) into a per-run status (Status).
//
// The session layout and the many-writers rules are package sessions'.
package sweep

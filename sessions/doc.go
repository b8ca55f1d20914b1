// Package sessions is the only mealab package that writes files. It keeps
// training sessions on disk, writes and reads safetensors checkpoints, and
// exports CSV tables and PNG charts.
//
// It imports no other mealab package, so its types are generic: metadata is
// anything that encodes to JSON, and tensors are named byte buffers.
//
// # Layout
//
// A Store is a directory, by default DefaultDir(), holding one directory per
// session:
//
//	<store>/
//	  <session>/
//	    session.json                      {"format":"mealab.session","version":1,
//	                                       "name":...,"created":...,"updated":...,
//	                                       "meta":<free-form JSON>}
//	    runs/
//	      <run>/
//	        run.json                      {"format":"mealab.run","version":1,
//	                                       "config":..., <free-form fields>}
//	        metrics.jsonl                 JSON lines, see below
//	        events.jsonl
//	        samples.jsonl
//	        task.json                     {"format":"mealab.task","version":1,...}
//	        writer.lock                   "pid N on HOST" of the writer (Run.Lock)
//	                                      (only runs written by a sweep task)
//	        ckpt/
//	          step-00000123.safetensors   one file per saved step
//	    removed/
//	      <run>.<unix-nanoseconds>/       a removed run: its files as they were,
//	        removed.json                  plus {"format":"mealab.removed","version":1,
//	                                       "run":...,"removed":...,"record":<free-form JSON>}
//	    sweep/                            files of a sweep (AuxDir, WriteAux):
//	                                      batch scripts, plan, scheduler logs
//
// Session and run names pass ValidateName, so they are plain directory
// names that cannot reach outside the store. Names starting with '.' are
// reserved for temporary files (".<name>.tmp-*", left by interrupted atomic
// writes) and for sessions being removed (".trash-*").
//
// # Removed runs
//
// Session.RemoveRun takes a run out for good in two steps: it writes
// removed.json into runs/<run>/ (atomically), then renames the directory
// to removed/<run>.<unix-nanoseconds>/. Readers list and open only
// directories under runs/ without removed.json, so a crash between the two
// steps still leaves the run removed (creating a run of that name finishes
// the move). Nothing is deleted: the files stay under removed/ for a person
// to inspect or move back. Sessions written before removals existed have
// no removed/ directory and read as before; the session format stays at
// version 1 because readers that predate removed/ do not look there, so
// they too never bring a removed run back (only a removal a crash left half
// done is visible to them).
//
// # Writes
//
// Whole files (session.json, run.json, checkpoints, exports) are replaced
// atomically with WriteFileAtomic: write a temporary file in the same
// directory, fsync, rename, fsync the directory. A crash leaves the old file
// or the new one, never a mix.
//
// JSON-lines files are appended through O_APPEND descriptors with one
// write per line (or per batch of whole lines in buffered mode, which hands
// lines to the operating system at least every two seconds). A crash tears
// at most the last line; readers skip it and say so in a ReadReport. When a
// writer reopens a file whose last line is torn, it first adds a newline so
// the damage stays confined to that line.
//
// # Many writers
//
// Several processes may write one session at once (the tasks of a Slurm
// array job on a shared filesystem, each training one run), and others may
// follow it live. The rules that make this safe, with no lock shared
// between runs:
//
//   - Each run directory has one writer, which holds Run.Lock (an flock on
//     writer.lock, dropped by the kernel when the process dies) so that a
//     second process refuses instead of interleaving its lines. A process
//     writes only inside its own run's directory; creating a run writes
//     nothing else (session.json
//     is written only when the session is created and by SaveMeta). The
//     session's run list is discovered from the directories under runs/,
//     so no file is shared between writers.
//   - Sessions and runs appear complete or not at all: each is assembled in
//     a hidden temporary directory (".<name>.tmp-*") and renamed into place.
//     Of several processes creating the same session or run at once, one
//     wins and the others get ErrExists (then Load or OpenRun). rename is
//     atomic on local filesystems and on NFS (at the server).
//   - Readers tolerate writers: a half-written line is never handed out by
//     Tail (it waits for the newline) and is skipped with a note by
//     ReadJSONL; whole files are replaced atomically.
//   - task.json is the owning process's own record (state, host, job id,
//     exit status), replaced atomically by that process only, so a sweep's
//     status can be read without a scheduler's accounting database.
//
// These are additions that older mealab versions read correctly (they skip
// hidden directories and ignore task.json, writer.lock and sweep/), so the format
// versions below did not change.
//
// # Format versions
//
// Every file names its format and version, and readers refuse versions
// newer than they know with an error telling the user to upgrade, while
// reading older and equal versions:
//
//   - session.json: "format":"mealab.session", "version":1.
//   - run.json: "format":"mealab.run", "version":1; callers may not use
//     these two keys for their own fields.
//   - removed.json: "format":"mealab.removed", "version":1.
//   - task.json: "format":"mealab.task", "version":1, reserved the same
//     way as in run.json.
//   - JSON lines: the first line is a header such as
//     {"format":"mealab.metrics","version":1} ("mealab.events",
//     "mealab.samples" for the other two files). Each later line is one
//     JSON value written by the caller.
//   - Checkpoints: standard safetensors files (an 8-byte little-endian
//     header length, a JSON header padded with spaces to 8-byte alignment,
//     then the tensor data) whose "__metadata__" holds
//     "format":"mealab.checkpoint", "format_version":"1", "mealab.step" and
//     "mealab.crc32". The checksum is CRC-32 (IEEE) over each tensor's data
//     in order of tensor name, as 8 lowercase hex digits, so any change to
//     the data section is detected, while a tool that rewrites the tensors
//     in another order keeps the checksum valid. Files without the checksum
//     (for example from Python) are read without that check.
//
// Python's safetensors reads these checkpoints directly. Hugging Face
// transformers additionally expects "format":"pt" in the metadata; write
// such exports with WriteSafetensors and your own metadata.
package sessions

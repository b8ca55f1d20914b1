package serve

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/sessions"
)

// Config is everything `mealab serve` takes from its flags.
type Config struct {
	Addr           string // host:port to listen on
	AuthorizedKeys string // OpenSSH authorized_keys: who may come in, and their names
	DataDir        string // host key and users/<name>/sessions live here
	Open           bool   // let unknown keys in as guests
	Teacher        string // the person with the admin view (default "teacher")
	TeacherWeight  float64
	Preset         string            // what a new lab starts with (default "quick")
	Overrides      []presets.Setting // --set for that preset
	DataFile       string            // the one text file runs may train on (--data), or ""
	PauseOnLeave   bool              // pause a person's runs when their last connection ends

	MaxConns         int           // connections at once; more are closed at once
	IdleTimeout      time.Duration // no key press for this long: disconnected
	WriteTimeout     time.Duration // a viewer that reads nothing for this long: disconnected
	HandshakeTimeout time.Duration
	FPS              int // frames per second per viewer at most
	Frames           int // frames per second for new data, all viewers together (default 40; -1: no budget)
	Slots            int // training steps at once (scheduler)
	CheckpointEvery  int

	Limits Limits
	// GuestLimits apply to guests (default: Limits).
	GuestLimits *Limits

	Compute model.Compute
	Log     *slog.Logger
}

// Limits bound what one person may use; 0 means no limit.
type Limits struct {
	Runs      int   // runs not finished (running or paused)
	Params    int   // parameters per run
	Context   int   // model context (memory grows with it)
	Batch     int   // sequences per step
	DiskBytes int64 // size of the person's sessions directory
}

// DefaultLimits suit thirty people on a small machine.
func DefaultLimits() Limits {
	return Limits{Runs: 3, Params: 2_000_000, Context: 256, Batch: 32, DiskBytes: 200 << 20}
}

// withDefaults fills unset fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = ":2222"
	}
	if c.AuthorizedKeys == "" && !c.Open {
		return c, errors.New("--authorized-keys FILE is needed (an OpenSSH authorized_keys file; the comment after each key names its person), or --open for guests only")
	}
	if c.DataDir == "" {
		c.DataDir = filepath.Join(filepath.Dir(sessions.DefaultDir()), "serve")
	}
	if c.Teacher == "" {
		c.Teacher = "teacher"
	}
	if err := sessions.ValidateName(c.Teacher); err != nil {
		return c, fmt.Errorf("--teacher: %w", err)
	}
	if c.TeacherWeight == 0 {
		c.TeacherWeight = 1
	}
	if !(c.TeacherWeight > 0) || c.TeacherWeight > 100 {
		return c, fmt.Errorf("--teacher-weight %g: choose between 0.01 and 100", c.TeacherWeight)
	}
	if c.Preset == "" {
		c.Preset = "quick"
	}
	if c.MaxConns == 0 {
		c.MaxConns = 64
	}
	if c.MaxConns < 1 {
		return c, fmt.Errorf("--max-conns %d: must be at least 1", c.MaxConns)
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 20 * time.Second
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.IdleTimeout < 0 || c.WriteTimeout < 0 || c.HandshakeTimeout < 0 {
		return c, errors.New("timeouts must be positive durations such as 30m or 20s")
	}
	if c.FPS == 0 {
		c.FPS = 4
	}
	if c.FPS < 1 || c.FPS > 30 {
		return c, fmt.Errorf("--fps %d: choose between 1 and 30", c.FPS)
	}
	if c.Frames == 0 {
		c.Frames = 40
	}
	if c.Slots <= 0 {
		c.Slots = 1
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 50
	}
	if c.GuestLimits == nil {
		l := c.Limits
		c.GuestLimits = &l
	}
	if c.Compute == nil {
		c.Compute = model.Naive{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

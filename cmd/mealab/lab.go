package main

import (
	"errors"
	"io"
)

func cmdLab(args []string, stdout, stderr io.Writer) error {
	return errors.New("the TUI is not wired in yet")
}

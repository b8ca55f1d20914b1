// Package serve is mealab's classroom server (`mealab serve`): an SSH
// server on charm.land/wish/v2 that gives every person their own lab, in
// the same terminal UI as the local program (package tui), recording into
// their own sessions directory.
//
// People are their public keys: an OpenSSH authorized_keys file names them
// (the key's comment), and the login name a client sends is ignored, so no
// one can reach another person's lab by typing a name. With Open, unknown
// keys come in as guests whose labs are forgotten when they leave. There is
// no shell, no exec of commands other than the few the server knows
// (`follow NAME`, `admin`), no forwarding of ports or agents and no SFTP:
// every such request is refused and logged.
//
// One Scheduler shares the machine among all labs: every training step
// asks it for a slot (trainer.Options.Gate), and slots go to the person with
// the least weighted step time, so a person gets a fair share whatever the
// number of their runs. A lab's update stream is read once by a hub that
// feeds any number of viewers (the owner's connections and followers), each
// with its own coalescing queue, so a slow viewer never holds the lab or
// the others back; a viewer that stops reading for WriteTimeout is cut off.
package serve

package serve

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mealab/mealab/sessions"
	gossh "golang.org/x/crypto/ssh"
)

// keyring is the authorized_keys file: public key -> person. It is read
// again when the file changes, so a teacher can add a student while the
// server runs.
type keyring struct {
	path string

	mu    sync.Mutex
	mtime time.Time
	size  int64
	names map[string]string // key.Marshal() -> name
}

// parseAuthorizedKeys reads an OpenSSH authorized_keys file. The comment
// after a key names its person (for "alice@laptop", alice); a key without
// one is named key-<first 8 hex digits of its SHA-256>. Names must be valid
// session names, since they become directory names.
func parseAuthorizedKeys(data []byte) (map[string]string, error) {
	names := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		key, comment, _, _, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v; each line is an OpenSSH public key (ssh-ed25519 AAAA... name)", n, err)
		}
		name := strings.Fields(comment + " ")
		var who string
		if len(name) > 0 {
			who, _, _ = strings.Cut(name[0], "@")
		}
		if who == "" {
			sum := sha256.Sum256(key.Marshal())
			who = "key-" + hex.EncodeToString(sum[:4])
		}
		if err := sessions.ValidateName(who); err != nil {
			return nil, fmt.Errorf("line %d: the comment names the person: %v", n, err)
		}
		if strings.HasPrefix(who, guestPrefix) {
			return nil, fmt.Errorf("line %d: names starting with %q are kept for guests; choose another", n, guestPrefix)
		}
		names[string(key.Marshal())] = who
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return names, nil
}

func newKeyring(path string) (*keyring, error) {
	k := &keyring{path: path}
	if err := k.reload(true); err != nil {
		return nil, err
	}
	return k, nil
}

// reload reads the file again if it changed. At start an error is fatal;
// later the last good version stays in force (and the error is returned
// for the log).
func (k *keyring) reload(first bool) error {
	st, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("authorized keys: %w", err)
	}
	k.mu.Lock()
	same := !first && st.ModTime().Equal(k.mtime) && st.Size() == k.size
	k.mu.Unlock()
	if same {
		return nil
	}
	data, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("authorized keys: %w", err)
	}
	names, err := parseAuthorizedKeys(data)
	if err != nil {
		return fmt.Errorf("authorized keys %s: %w", k.path, err)
	}
	k.mu.Lock()
	k.names, k.mtime, k.size = names, st.ModTime(), st.Size()
	k.mu.Unlock()
	return nil
}

// lookup returns the person a key belongs to.
func (k *keyring) lookup(key gossh.PublicKey) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	name, ok := k.names[string(key.Marshal())]
	return name, ok
}

// guestPrefix starts every guest's name; the keys file may not use it.
const guestPrefix = "guest-"

// guestName names an unknown key's person from its fingerprint, so the same
// guest key gets the same name while it is connected.
func guestName(key gossh.PublicKey) string {
	sum := sha256.Sum256(key.Marshal())
	return guestPrefix + hex.EncodeToString(sum[:5])
}

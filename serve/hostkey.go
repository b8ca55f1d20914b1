package serve

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/mealab/mealab/sessions"
	gossh "golang.org/x/crypto/ssh"
)

// loadHostKey reads the server's ed25519 host key from path, creating it
// (mode 0600) on first start, so students' known_hosts stay valid across
// restarts. created reports a new key.
func loadHostKey(path string) (signer gossh.Signer, created bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, fmt.Errorf("host key: %w", err)
		}
		block, err := gossh.MarshalPrivateKey(priv, "mealab serve host key")
		if err != nil {
			return nil, false, fmt.Errorf("host key: %w", err)
		}
		data = pem.EncodeToMemory(block)
		if err := sessions.WriteFileAtomic(path, data, 0o600); err != nil {
			return nil, false, fmt.Errorf("host key: %w", err)
		}
		created = true
	} else if err != nil {
		return nil, false, fmt.Errorf("host key: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("host key %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	signer, err = gossh.ParsePrivateKey(data)
	if err != nil {
		return nil, false, fmt.Errorf("host key %s: %w; remove it to make a new one (students will see a changed host key)", path, err)
	}
	return signer, created, nil
}

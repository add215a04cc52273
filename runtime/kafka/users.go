package kafka

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/xdg-go/scram"
)

// Bounds of the credentials file.
const (
	// maxCredential bounds a user name and a password, in bytes.
	maxCredential = 255
	// maxUsers bounds the users of one file.
	maxUsers = 10000
	// scramIterations is the PBKDF2 count of credentials derived at load
	// (Kafka's and RFC 7677's 4096).
	scramIterations = 4096
	// minIterations and maxIterations bound a verifier given in the file:
	// fewer is weak, more lets a file make every login slow.
	minIterations, maxIterations = 4096, 1 << 20
	scramSaltLen                 = 16
)

// ErrNoUsers is returned for a credentials file without a user.
var ErrNoUsers = errors.New("no users")

// Users are the credentials a listener accepts. Only SCRAM-SHA-256 stored
// credentials are kept (salt, iterations, StoredKey, ServerKey): PLAIN
// checks a password by deriving the same StoredKey, so the cleartext is not
// held after load.
type Users struct {
	creds map[string]scram.StoredCredentials
	// decoy answers for a user that does not exist, so a SCRAM exchange
	// and a PLAIN check fail the same way, at the same cost, for an
	// unknown user and a wrong password.
	decoyKey []byte
}

// NewUsers derives credentials from user → password.
func NewUsers(passwords map[string]string) (*Users, error) {
	u := newUsers()
	for user, pass := range passwords {
		if err := u.add(user, pass); err != nil {
			return nil, err
		}
	}
	if len(u.creds) == 0 {
		return nil, ErrNoUsers
	}
	return u, nil
}

func newUsers() *Users {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Users{creds: map[string]scram.StoredCredentials{}, decoyKey: key}
}

// Len is the number of users.
func (u *Users) Len() int {
	if u == nil {
		return 0
	}
	return len(u.creds)
}

// ParseUsers reads a credentials file: one user a line, user:password or
// user:SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (base64,
// PostgreSQL's verifier format), so a file need not hold cleartext.
// Blank lines and lines starting with # are skipped.
func ParseUsers(r io.Reader) (*Users, error) {
	u := newUsers()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4096)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		user, secret, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: not user:password", line)
		}
		if _, dup := u.creds[user]; dup {
			return nil, fmt.Errorf("line %d: user %q twice", line, user)
		}
		if len(u.creds) == maxUsers {
			return nil, fmt.Errorf("line %d: more than %d users", line, maxUsers)
		}
		var err error
		if strings.HasPrefix(secret, verifierPrefix) {
			err = u.addVerifier(user, secret)
		} else {
			err = u.add(user, secret)
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than 4096 bytes", line+1)
		}
		return nil, err
	}
	if len(u.creds) == 0 {
		return nil, ErrNoUsers
	}
	return u, nil
}

// ReadUsersFile reads a credentials file (ParseUsers). A file that others
// than its owner may read is accepted with a warning: Kubernetes mounts
// secrets 0644 unless told otherwise.
func ReadUsersFile(path string, logger *slog.Logger) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kafka users: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 && logger != nil {
		logger.Warn("the Kafka users file may be read by others than its owner; chmod 600 it", "file", path, "mode", st.Mode().Perm().String())
	}
	u, err := ParseUsers(io.LimitReader(f, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("kafka users %s: %w", path, err)
	}
	return u, nil
}

func checkUser(user string) error {
	if user == "" || len(user) > maxCredential {
		return fmt.Errorf("a user name has 1..%d bytes", maxCredential)
	}
	for _, r := range user {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' || r == unicode.ReplacementChar {
			return fmt.Errorf("user %q: no spaces, control characters or ':'", user)
		}
	}
	return nil
}

func (u *Users) add(user, pass string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if pass == "" || len(pass) > maxCredential {
		return fmt.Errorf("user %q: a password has 1..%d bytes", user, maxCredential)
	}
	salt := make([]byte, scramSaltLen)
	_, _ = rand.Read(salt)
	cred, err := derive(pass, salt, scramIterations)
	if err != nil {
		return fmt.Errorf("user %q: %w", user, err)
	}
	u.creds[user] = cred
	return nil
}

const verifierPrefix = "SCRAM-SHA-256$"

// addVerifier takes SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>.
func (u *Users) addVerifier(user, v string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	bad := fmt.Errorf("user %q: a verifier is SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (base64)", user)
	head, keys, ok := strings.Cut(strings.TrimPrefix(v, verifierPrefix), "$")
	if !ok {
		return bad
	}
	iterStr, saltB64, ok1 := strings.Cut(head, ":")
	storedB64, serverB64, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return bad
	}
	iters, err := strconv.Atoi(iterStr)
	if err != nil {
		return bad
	}
	if iters < minIterations || iters > maxIterations {
		return fmt.Errorf("user %q: iterations %d outside %d..%d", user, iters, minIterations, maxIterations)
	}
	salt, err1 := base64.StdEncoding.DecodeString(saltB64)
	stored, err2 := base64.StdEncoding.DecodeString(storedB64)
	server, err3 := base64.StdEncoding.DecodeString(serverB64)
	if err1 != nil || err2 != nil || err3 != nil || len(salt) == 0 || len(salt) > 64 ||
		len(stored) != sha256.Size || len(server) != sha256.Size {
		return bad
	}
	u.creds[user] = scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: iters}, StoredKey: stored, ServerKey: server}
	return nil
}

// Verifier derives the file line's secret for a password, so a file can
// hold it instead of the cleartext.
func Verifier(pass string) (string, error) {
	if pass == "" || len(pass) > maxCredential {
		return "", fmt.Errorf("a password has 1..%d bytes", maxCredential)
	}
	salt := make([]byte, scramSaltLen)
	_, _ = rand.Read(salt)
	c, err := derive(pass, salt, scramIterations)
	if err != nil {
		return "", err
	}
	enc := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("%s%d:%s$%s:%s", verifierPrefix, c.Iters, enc(salt), enc(c.StoredKey), enc(c.ServerKey)), nil
}

// derive computes SCRAM-SHA-256 stored credentials. The password is taken
// as given (no SASLprep), as Kafka and franz-go do.
func derive(pass string, salt []byte, iters int) (scram.StoredCredentials, error) {
	cl, err := scram.SHA256.NewClientUnprepped("", pass, "")
	if err != nil {
		return scram.StoredCredentials{}, err
	}
	return cl.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iters})
}

// lookup returns user's credentials, or a decoy that no proof matches.
func (u *Users) lookup(user string) (scram.StoredCredentials, bool) {
	if c, ok := u.creds[user]; ok {
		return c, true
	}
	mac := hmac.New(sha256.New, u.decoyKey)
	mac.Write([]byte(user))
	sum := mac.Sum(nil)
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(sum[:scramSaltLen]), Iters: scramIterations},
		StoredKey:  bytes.Repeat([]byte{0}, sha256.Size), // no client key hashes to all zeros
		ServerKey:  sum,
	}, false
}

// checkPassword reports whether pass is user's password (PLAIN): the
// StoredKey derived from it matches, compared in constant time. An unknown
// user costs the same derivation.
func (u *Users) checkPassword(user, pass string) bool {
	c, known := u.lookup(user)
	salted, err := pbkdf2.Key(sha256.New, pass, []byte(c.Salt), c.Iters, sha256.Size)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, salted)
	mac.Write([]byte("Client Key"))
	stored := sha256.Sum256(mac.Sum(nil))
	return hmac.Equal(stored[:], c.StoredKey) && known
}

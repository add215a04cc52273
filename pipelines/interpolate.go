package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// interpolator expands ${VAR}, ${VAR:-default} and ${file:/path} in strings.
type interpolator struct {
	env      func(string) (string, bool)
	readFile func(string) ([]byte, error)
}

// interpError is an expansion mistake at a byte offset of the string.
type interpError struct {
	offset int
	msg    string
}

// expand returns s with every ${...} replaced, except ${name} for a name in
// keep: a connector's own placeholder. substituted says whether any value
// came from the environment or a file: such values are never echoed in
// messages, since they may be secrets.
func (ip *interpolator) expand(s string, keep []string) (res string, substituted bool, errs []interpError) {
	if !strings.Contains(s, "${") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			errs = append(errs, interpError{i, "unclosed ${ (write $${ for a literal ${)"})
			b.WriteString(s[i:])
			break
		}
		if expr := s[i+2 : i+end]; contains(keep, expr) {
			b.WriteString(s[i : i+end+1])
			i += end + 1
			continue
		}
		v, err := ip.lookup(s[i+2 : i+end])
		if err != "" {
			errs = append(errs, interpError{i, err})
		}
		b.WriteString(v)
		substituted = true
		i += end + 1
	}
	return b.String(), substituted, errs
}

// lookup resolves the inside of one ${...}; a non-empty second result is the
// mistake.
func (ip *interpolator) lookup(expr string) (string, string) {
	if path, ok := strings.CutPrefix(expr, "file:"); ok {
		return ip.file(path)
	}
	name, def, hasDef := strings.Cut(expr, ":-")
	if !validVarName(name) {
		return "", fmt.Sprintf("invalid variable name %q in ${%s}: use letters, digits and _ (or ${file:/path} for a secret file)", name, expr)
	}
	if hasDef && strings.Contains(def, "${") {
		return "", fmt.Sprintf("${%s}: a default cannot contain another ${...}", expr)
	}
	var v string
	var set bool
	if ip.env != nil {
		v, set = ip.env(name)
	}
	switch {
	case set && v != "":
		return v, ""
	case hasDef:
		return def, ""
	case set:
		return "", ""
	}
	return "", fmt.Sprintf("environment variable %s is not set (set it, or give a default: ${%s:-default})", name, name)
}

func (ip *interpolator) file(path string) (string, string) {
	if path == "" {
		return "", "${file:} needs a path, like ${file:/run/secrets/db_password}"
	}
	if ip.readFile == nil {
		return "", fmt.Sprintf("${file:%s}: secret files are not allowed here", path)
	}
	data, err := ip.readFile(path)
	if err != nil {
		return "", fmt.Sprintf("${file:%s}: cannot read the secret file: %v", path, errReason(err))
	}
	s := strings.TrimSuffix(string(data), "\n")
	return strings.TrimSuffix(s, "\r"), ""
}

// errReason drops the path os errors repeat, keeping the reason.
func errReason(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ReadFilesNear returns a reader for ${file:...} secrets that resolves
// relative paths against dir (the pipeline file's folder). It reads any path
// the file names: use it for files the operator wrote, not for pipelines
// uploaded over the API (see ReadFilesIn).
func ReadFilesNear(dir string) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		return readSmall(path, os.Open)
	}
}

// ReadFilesIn returns a reader for ${file:...} secrets confined to root:
// absolute paths are taken relative to root and nothing outside it (through
// .. or symlinks) can be read. Use it for pipelines from untrusted callers.
func ReadFilesIn(root string) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		r, err := os.OpenRoot(root)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		rel := strings.TrimLeft(filepath.ToSlash(path), "/")
		if rel == "" {
			rel = "."
		}
		return readSmall(filepath.FromSlash(rel), r.Open)
	}
}

// maxSecretSize bounds a secret file: a secret is a password or a key, and a
// path to a huge file is a mistake that should not eat memory.
const maxSecretSize = 1 << 20

func readSmall(path string, open func(string) (*os.File, error)) ([]byte, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if st.Size() > maxSecretSize {
		return nil, fmt.Errorf("larger than %d bytes", maxSecretSize)
	}
	buf := make([]byte, st.Size())
	n, err := f.ReadAt(buf, 0)
	if err != nil && n < len(buf) {
		return nil, err
	}
	return buf[:n], nil
}

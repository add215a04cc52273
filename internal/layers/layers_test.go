package layers

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const mod = "github.com/braidhq/braid/"

// rule says which of Braid's own packages a package may import directly.
type rule struct {
	pkg   string   // package path below the module, or a prefix ending in "/"
	allow []string // allowed imports (paths below the module; a trailing "/" allows a subtree)
}

var rules = []rule{
	{"runtime/natsd", nil},
	{"runtime/log", []string{"runtime/natsd"}},
	{"runtime/log/", []string{"runtime/natsd", "runtime/log"}},
	{"runtime/kafka", []string{"runtime/log"}},
	{"runtime/kafka/", []string{"runtime/kafka", "runtime/log", "runtime/natsd"}},
	{"runtime/transform", []string{"connectors/sdk", "schema"}},
	{"runtime/worker", []string{"connectors/sdk", "runtime/log", "runtime/natsd", "runtime/transform", "schema", "schema/"}},
	{"connectors/sdk", []string{"schema"}},
	{"connectors/sdk/", []string{"connectors/sdk", "schema"}},
	// The plugin host and serve side: the SDK, and the generated protocol.
	{"connectors/plugin", []string{"connectors/sdk", "schema", "proto/"}},
	{"proto/", nil},
	{"pipelines", []string{"connectors/sdk"}},
	{"schema", nil},
	// The web console is built only on the REST API's handler.
	{"runtime/api/ui", nil},
	{"schema/", []string{"schema", "schema/"}},
}

// connectorAllow applies to every connectors/<name> package except the SDK,
// the builtin list and the plugin host; connectors/internal/... holds code
// several connectors share (the CDC sources' Debezium envelope).
var connectorAllow = []string{"connectors/sdk", "schema", "schema/", "connectors/internal/"}

func allowed(imp string, allow []string) bool {
	for _, a := range allow {
		if imp == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(imp, a)) {
			return true
		}
	}
	return false
}

func ruleFor(pkg string) ([]string, bool) {
	for _, r := range rules {
		if pkg == r.pkg || (strings.HasSuffix(r.pkg, "/") && strings.HasPrefix(pkg, r.pkg)) {
			return r.allow, true
		}
	}
	if strings.HasPrefix(pkg, "connectors/") && !strings.HasPrefix(pkg, "connectors/builtin") &&
		!strings.HasPrefix(pkg, "connectors/plugin") {
		name := strings.SplitN(strings.TrimPrefix(pkg, "connectors/"), "/", 2)[0]
		// A connector's own subpackages may import each other.
		allow := append(append([]string{}, connectorAllow...), "connectors/"+name, "connectors/"+name+"/")
		if strings.HasPrefix(pkg, "connectors/internal/") && strings.HasSuffix(pkg, "test") {
			// A suite several connectors' tests share builds on the SDK's.
			allow = append(allow, "connectors/sdk/sdktest")
		}
		return allow, true
	}
	return nil, false
}

func TestImportRules(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		allow, ok := ruleFor(pkg)
		if !ok {
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			imp = strings.TrimPrefix(imp, mod)
			if !allowed(imp, allow) {
				t.Errorf("%s imports %s, which docs/architecture.md does not allow", pkg, imp)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d packages checked; is go list seeing the module?", checked)
	}
}

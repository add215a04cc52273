package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// kcat returns the kcat binary, which `make test` installs
// (scripts/services.sh); without it the test fails and says so.
func kcat(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is needed by this test: run scripts/services.sh (it installs Debian's kcat): %v", err)
	}
	return path
}

// runKcat runs kcat with stdin and returns its standard output; a failure
// or a run past the deadline fails the test with kcat's standard error.
func runKcat(t *testing.T, ctx context.Context, bin, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v (ctx: %v)\nstderr:\n%s", strings.Join(args, " "), err, ctx.Err(), stderr.String())
	}
	if strings.Contains(stderr.String(), "ERROR") || strings.Contains(stderr.String(), "Delivery failed") {
		t.Fatalf("kcat %s reported errors:\n%s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String()
}

// TestKcat produces keyed lines with kcat (librdkafka) under every codec
// and with an idempotent acks=all producer, then consumes them with kcat
// and checks every line came back exactly once, in order per partition.
func TestKcat(t *testing.T) {
	bin := kcat(t)
	l := testLog(t)
	s := testServer(t, l)
	cases := []struct {
		name string
		args []string
	}{
		{"none", nil},
		{"gzip", []string{"-z", "gzip"}},
		{"snappy", []string{"-z", "snappy"}},
		{"lz4", []string{"-z", "lz4"}},
		{"zstd", []string{"-z", "zstd"}},
		{"idempotent", []string{"-z", "zstd", "-X", "enable.idempotence=true", "-X", "acks=all", "-H", "h1=v1", "-H", "h2=v2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const n, parts = 400, 3
			topic := newTopic(t, l, parts)
			ctx := ctxT(t, 2*time.Minute)
			var in strings.Builder
			for i := range n {
				// Values of varied size and content, compressible and not.
				fmt.Fprintf(&in, "key%d:v%d %s\n", i%13, i, strings.Repeat("é-"+strconv.Itoa(i*7919), i%20))
			}
			args := append([]string{"-b", s.Addr(), "-P", "-t", topic, "-K:", "-X", "linger.ms=20"}, c.args...)
			inits := testutil.ToFloat64(s.m.requests.WithLabelValues("InitProducerID"))
			runKcat(t, ctx, bin, in.String(), args...)
			if c.name == "idempotent" && testutil.ToFloat64(s.m.requests.WithLabelValues("InitProducerID")) == inits {
				t.Fatal("kcat with enable.idempotence=true sent no InitProducerID")
			}

			out := runKcat(t, ctx, bin, "", "-C", "-b", s.Addr(), "-t", topic, "-o", "beginning", "-e", "-q",
				"-f", "%k:%s:%p:%o:%h\n")
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != n {
				t.Fatalf("consumed %d lines, want %d:\n%s", len(lines), n, out)
			}
			want := strings.Split(strings.TrimSuffix(in.String(), "\n"), "\n")
			seen := map[int]bool{}
			keyPart := map[string]int{}
			next := map[int]int64{}
			lastIdx := map[int]int{}
			for _, line := range lines {
				// key:value:partition:offset:headers; the value holds no ':'.
				f := strings.Split(line, ":")
				if len(f) != 5 {
					t.Fatalf("line %q: %d fields", line, len(f))
				}
				key, value := f[0], f[1]
				p, _ := strconv.Atoi(f[2])
				off, _ := strconv.ParseInt(f[3], 10, 64)
				var i int
				if _, err := fmt.Sscanf(value, "v%d", &i); err != nil || i < 0 || i >= n {
					t.Fatalf("line %q: value not produced", line)
				}
				if key+":"+value != want[i] {
					t.Fatalf("record %d came back as %q, produced %q", i, key+":"+value, want[i])
				}
				if seen[i] {
					t.Fatalf("record %d twice", i)
				}
				seen[i] = true
				if off != next[p] {
					t.Fatalf("partition %d: offset %d, want %d", p, off, next[p])
				}
				next[p]++
				// One producer: its records keep their order per partition.
				if prev, ok := lastIdx[p]; ok && i < prev {
					t.Fatalf("partition %d: record %d after %d", p, i, prev)
				}
				lastIdx[p] = i
				if kp, ok := keyPart[key]; ok && kp != p {
					t.Fatalf("key %q in partitions %d and %d", key, kp, p)
				}
				keyPart[key] = p
				wantH := ""
				if c.name == "idempotent" {
					wantH = "h1=v1,h2=v2"
				}
				if f[4] != wantH {
					t.Fatalf("record %d: headers %q, want %q", i, f[4], wantH)
				}
			}
			ti, err := l.Topic(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			var stored int64
			for _, p := range ti.Partitions {
				stored += p.EndOffset
				if p.EndOffset != next[int(p.Partition)] {
					t.Fatalf("partition %d: log end offset %d, kcat read %d", p.Partition, p.EndOffset, next[int(p.Partition)])
				}
			}
			if stored != n {
				t.Fatalf("the log holds %d records, want %d", stored, n)
			}
		})
	}
}

// TestKcatMetadata lists the broker and a topic's partitions with kcat -L.
func TestKcatMetadata(t *testing.T) {
	bin := kcat(t)
	l := testLog(t)
	s := testServer(t, l)
	topic := newTopic(t, l, 4)
	ctx := ctxT(t, time.Minute)

	out := runKcat(t, ctx, bin, "", "-L", "-b", s.Addr(), "-t", topic)
	if !strings.Contains(out, fmt.Sprintf("topic %q with 4 partitions:", topic)) {
		t.Fatalf("kcat -L does not list topic %s with 4 partitions:\n%s", topic, out)
	}
	for p := range 4 {
		if !strings.Contains(out, fmt.Sprintf("partition %d, leader 0,", p)) {
			t.Fatalf("kcat -L does not list partition %d led by broker 0:\n%s", p, out)
		}
	}

	// The JSON form, across every topic.
	other := newTopic(t, l, 1)
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Error      string `json:"error"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	out = runKcat(t, ctx, bin, "", "-L", "-J", "-b", s.Addr())
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 0 || md.Brokers[0].Name != s.Addr() {
		t.Fatalf("brokers %+v, want one: 0 at %s", md.Brokers, s.Addr())
	}
	found := map[string]int{}
	for _, tp := range md.Topics {
		if tp.Error != "" {
			t.Fatalf("topic %s: %s", tp.Topic, tp.Error)
		}
		found[tp.Topic] = len(tp.Partitions)
	}
	if found[topic] != 4 || found[other] != 1 {
		t.Fatalf("topics %v, want %s with 4 partitions and %s with 1", found, topic, other)
	}
}

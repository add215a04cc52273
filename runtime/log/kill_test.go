package log_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/braidhq/braid/internal/natstest"
	"github.com/braidhq/braid/runtime/log"
	"github.com/braidhq/braid/runtime/log/logtest"
	"github.com/braidhq/braid/runtime/natsd"
)

// Producers killed with SIGKILL mid-stream (separate processes, several at
// once, with messages in flight) never leave a partition with a repeated,
// skipped or backward offset: each partition holds exactly 0..n-1, each
// producer's records are in its order, and a producer that ran to the end
// has every record stored once.
func TestDenseOffsetsProducersKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocesses: not in -short")
	}
	for _, target := range []string{"Cluster", "External"} {
		t.Run(target, func(t *testing.T) {
			url := externalURL
			if target == "Cluster" {
				url = natstest.Start(t, 3).URLs()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			conn, err := natsd.Start(ctx, natsd.Config{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeConn(t, conn) })
			l := openLog(t, conn)
			defer l.Close()
			topic := "killed_" + strconv.FormatInt(time.Now().UnixNano(), 36)
			if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 3}); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = l.DeleteTopic(context.WithoutCancel(ctx), topic) }()

			run := func(id string, count int) *exec.Cmd {
				cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKilledProducer$")
				cmd.Env = append(os.Environ(), "BRAID_KILL_URL="+url, "BRAID_KILL_TOPIC="+topic,
					"BRAID_KILL_ID="+id, "BRAID_KILL_COUNT="+strconv.Itoa(count))
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				return cmd
			}
			// Three producers at once, each killed twice at a random moment.
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
			for round := range 2 {
				var cmds []*exec.Cmd
				for i := range 3 {
					cmds = append(cmds, run(fmt.Sprintf("k%d.%d", i, round), -1))
				}
				time.Sleep(time.Duration(700+rng.IntN(800)) * time.Millisecond)
				for _, cmd := range cmds {
					_ = cmd.Process.Kill() // SIGKILL
					_ = cmd.Wait()
				}
			}
			const last = 5000
			final := run("final", last)
			if err := final.Wait(); err != nil {
				t.Fatalf("the last producer: %v", err)
			}

			finals := 0
			prev := map[string]int{} // per partition and producer: the last record number
			logtest.CheckDense(t, l, topic, func(rec log.Record) {
				id, nstr, _ := strings.Cut(string(rec.Value), "/")
				n, _ := strconv.Atoi(nstr)
				key := fmt.Sprintf("%d/%s", rec.Partition, id)
				if p, ok := prev[key]; ok && n <= p {
					t.Fatalf("partition %d offset %d: %s record %d after %d", rec.Partition, rec.Offset, id, n, p)
				}
				prev[key] = n
				if id == "final" {
					finals++
				}
			})
			if finals != last {
				t.Fatalf("the producer that ran to the end has %d records stored, want %d", finals, last)
			}
		})
	}
}

// TestHelperKilledProducer is the producer process of
// TestDenseOffsetsProducersKilled: it publishes batches of random sizes with
// several in flight until it is killed, or count records when count ≥ 0.
func TestHelperKilledProducer(t *testing.T) {
	url := os.Getenv("BRAID_KILL_URL")
	if url == "" {
		t.Skip("the producer process of TestDenseOffsetsProducersKilled")
	}
	ctx := context.Background()
	conn, err := natsd.Start(ctx, natsd.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t, conn)
	topic, id := os.Getenv("BRAID_KILL_TOPIC"), os.Getenv("BRAID_KILL_ID")
	count, _ := strconv.Atoi(os.Getenv("BRAID_KILL_COUNT"))
	p := l.Producer(log.ProducerOptions{MaxInFlight: 16})
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var pend []*log.Pending
	for n := 0; count < 0 || n < count; {
		size := 1 + rng.IntN(200)
		if count >= 0 {
			size = min(size, count-n)
		}
		recs := make([]log.Record, size)
		for j := range recs {
			recs[j] = log.Record{Partition: -1, Value: fmt.Appendf(nil, "%s/%d", id, n+j)}
		}
		n += size
		pd, err := p.Publish(ctx, log.Batch{Topic: topic, Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		pend = append(pend, pd)
		if len(pend) >= 64 {
			if _, err := pend[0].Wait(ctx); err != nil {
				t.Fatal(err)
			}
			pend = pend[1:]
		}
	}
	for _, pd := range pend {
		if _, err := pd.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	_ = conn.Close(ctx)
}

package parquet

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
)

// span is one finished file.
type span struct {
	name        string // path relative to the dataset root
	first, last int64
}

var partName = regexp.MustCompile(`^part-p(\d+)-(\d+)-(\d+)\.parquet$`)

func fileName(dir string, partition int32, first, last int64) string {
	return path.Join(dir, fmt.Sprintf("part-p%d-%015d-%015d.parquet", partition, first, last))
}

func tempName(dir string, partition int32, first int64) string {
	return path.Join(dir, fmt.Sprintf(".part-p%d-%015d.parquet.tmp", partition, first))
}

// parseTemp reads the topic partition of an unfinished file's path
// (topic=T/.../.part-p<P>-<first>.parquet.tmp).
func parseTemp(p string) (sdk.TopicPartition, bool) {
	top, _, _ := strings.Cut(p, "/")
	topic, ok := strings.CutPrefix(top, "topic=")
	base := path.Base(p)
	rest, ok2 := strings.CutPrefix(base, ".part-p")
	if !ok || !ok2 {
		return sdk.TopicPartition{}, false
	}
	num, _, _ := strings.Cut(rest, "-")
	part, err := strconv.ParseInt(num, 10, 32)
	if err != nil {
		return sdk.TopicPartition{}, false
	}
	return sdk.TopicPartition{Topic: topic, Partition: int32(part)}, true
}

// parseName reads topic, partition and offsets from a finished file's path
// relative to the root (topic=<t>/.../part-p<n>-<first>-<last>.parquet).
func parseName(rel string) (sdk.TopicPartition, span, bool) {
	top, _, _ := strings.Cut(rel, "/")
	topic, ok := strings.CutPrefix(top, "topic=")
	m := partName.FindStringSubmatch(path.Base(rel))
	if !ok || m == nil {
		return sdk.TopicPartition{}, span{}, false
	}
	p, err1 := strconv.ParseInt(m[1], 10, 32)
	first, err2 := strconv.ParseInt(m[2], 10, 64)
	last, err3 := strconv.ParseInt(m[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return sdk.TopicPartition{}, span{}, false
	}
	return sdk.TopicPartition{Topic: topic, Partition: int32(p)}, span{name: rel, first: first, last: last}, true
}

// checkTopic refuses topic names that would not stay one directory name.
func checkTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("record has no topic")
	case strings.ContainsAny(topic, `/\`+"\x00"), strings.HasPrefix(topic, "."), strings.Contains(topic, ".."):
		return fmt.Errorf("topic %q cannot be used in a directory name (path separators or dots would leave the dataset)", topic)
	}
	return nil
}

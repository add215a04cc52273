package fileformat

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/braidhq/braid/connectors/sdk"
)

// Span is one finished file: a topic partition and the offsets it holds.
type Span struct {
	Name        string
	First, Last int64
}

var (
	finalName  = regexp.MustCompile(`^(.+)-p(\d+)-(\d+)-(\d+)\.(jsonl|csv|txt)$`)
	tempNameRE = regexp.MustCompile(`^\.(.+)-p(\d+)-(\d+)\.(jsonl|csv|txt)\.tmp$`)
)

// FileName is the name of a finished file holding offsets first to last.
func FileName(tp sdk.TopicPartition, first, last int64, ext string) string {
	return fmt.Sprintf("%s-p%d-%015d-%015d.%s", tp.Topic, tp.Partition, first, last, ext)
}

// TempName is the hidden name a file has while it is written.
func TempName(tp sdk.TopicPartition, first int64, ext string) string {
	return fmt.Sprintf(".%s-p%d-%015d.%s.tmp", tp.Topic, tp.Partition, first, ext)
}

// ParseTemp reads the topic partition an unfinished file belongs to.
func ParseTemp(name string) (sdk.TopicPartition, bool) {
	m := tempNameRE.FindStringSubmatch(name)
	if m == nil {
		return sdk.TopicPartition{}, false
	}
	p, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return sdk.TopicPartition{}, false
	}
	return sdk.TopicPartition{Topic: m[1], Partition: int32(p)}, true
}

// ParseName reads topic, partition and offset range from a finished file's name.
func ParseName(name string) (sdk.TopicPartition, Span, bool) {
	m := finalName.FindStringSubmatch(name)
	if m == nil {
		return sdk.TopicPartition{}, Span{}, false
	}
	p, err1 := strconv.ParseInt(m[2], 10, 32)
	first, err2 := strconv.ParseInt(m[3], 10, 64)
	last, err3 := strconv.ParseInt(m[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return sdk.TopicPartition{}, Span{}, false
	}
	return sdk.TopicPartition{Topic: m[1], Partition: int32(p)}, Span{Name: name, First: first, Last: last}, true
}

// CheckTopic refuses topic names that would not stay one plain file name.
func CheckTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("record has no topic")
	case strings.ContainsAny(topic, `/\`+"\x00"), strings.HasPrefix(topic, "."), strings.Contains(topic, ".."):
		return fmt.Errorf("topic %q cannot be used in a file name (path separators or dots would leave the directory)", topic)
	}
	return nil
}

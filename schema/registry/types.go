package registry

import (
	"fmt"
	"strings"
)

// Format is a schema language, named as Confluent names it.
type Format string

// The schema formats the registry understands.
const (
	Avro     Format = "AVRO"
	Protobuf Format = "PROTOBUF"
	JSON     Format = "JSON"
)

// Formats lists the supported formats in Confluent's order.
func Formats() []Format { return []Format{JSON, Protobuf, Avro} }

// ParseFormat reads a schemaType; empty means AVRO, as in Confluent.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToUpper(s)); f {
	case "":
		return Avro, nil
	case Avro, Protobuf, JSON:
		return f, nil
	}
	return "", fmt.Errorf("unknown schema type %q (want AVRO, PROTOBUF or JSON)", s)
}

// Level is a compatibility level.
type Level string

// Compatibility levels with Confluent's semantics: BACKWARD means consumers
// using the new schema can read data written with the previous one, FORWARD
// the reverse, FULL both; the _TRANSITIVE forms check every earlier version,
// not only the latest.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// DefaultLevel is the global level until someone sets another.
const DefaultLevel = Backward

// ParseLevel validates a compatibility level name.
func ParseLevel(s string) (Level, error) {
	switch l := Level(strings.ToUpper(s)); l {
	case None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive:
		return l, nil
	}
	return "", newErr(CodeInvalidCompatibilityLevel,
		"Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
}

func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}

func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}

func (l Level) transitive() bool {
	return l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive
}

// Mode controls what writes a subject (or the registry) accepts.
type Mode string

// READWRITE is normal operation; READONLY refuses registrations and deletes;
// IMPORT accepts schemas with given ids and versions (migrations) and skips
// compatibility checks.
const (
	ReadWrite Mode = "READWRITE"
	ReadOnly  Mode = "READONLY"
	Import    Mode = "IMPORT"
)

// ParseMode validates a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToUpper(s)); m {
	case ReadWrite, ReadOnly, Import:
		return m, nil
	}
	return "", newErr(CodeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, IMPORT.")
}

// Reference names another registered schema that a schema imports: an Avro
// named type, a Protobuf import path or a JSON Schema $ref URL.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Schema is a schema as clients submit it and the registry returns it.
type Schema struct {
	Schema     string      `json:"schema"`
	Type       Format      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
}

// format returns the schema's format, AVRO when unset.
func (s Schema) format() Format {
	if s.Type == "" {
		return Avro
	}
	return s.Type
}

// Version is one version of a subject.
type Version struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	Schema
	Deleted bool `json:"-"`
}

// SubjectVersion names a version of a subject.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

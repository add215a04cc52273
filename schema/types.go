package schema

import (
	"fmt"
	"strings"
)

// Type is the logical type of a field.
type Type string

// The logical types a field can have.
const (
	Boolean   Type = "boolean"
	Int32     Type = "int32"
	Int64     Type = "int64"
	Float32   Type = "float32"
	Float64   Type = "float64"
	String    Type = "string"
	Bytes     Type = "bytes"
	DecimalT  Type = "decimal"   // exact; value is a Decimal
	Date      Type = "date"      // value is time.Time at midnight UTC
	Time      Type = "time"      // time of day; value is a string "15:04:05.999999"
	Timestamp Type = "timestamp" // value is time.Time
	JSON      Type = "json"      // arbitrary JSON document; value is any
	Array     Type = "array"
	Map       Type = "map"
	Struct    Type = "struct"
)

// Decimal is an exact decimal number kept as its canonical string ("-12.50").
type Decimal string

// Field describes one named value in a structured record.
type Field struct {
	Name      string  `json:"name"`
	Type      Type    `json:"type"`
	Optional  bool    `json:"optional,omitempty"`
	Precision int     `json:"precision,omitempty"` // decimal digits in total
	Scale     int     `json:"scale,omitempty"`     // decimal digits after the point
	Length    int     `json:"length,omitempty"`    // max length for strings/bytes, 0 = unbounded
	Items     *Field  `json:"items,omitempty"`     // element type of Array and value type of Map
	Fields    []Field `json:"fields,omitempty"`    // members of Struct
	Doc       string  `json:"doc,omitempty"`
}

// Schema describes the structured value of a record.
type Schema struct {
	Name   string   `json:"name,omitempty"`
	Fields []Field  `json:"fields"`
	Key    []string `json:"key,omitempty"` // primary-key field names, in order
	Ref    *Ref     `json:"ref,omitempty"` // where the schema is registered, when it is
}

// Ref points at a schema in the registry.
type Ref struct {
	Subject string `json:"subject,omitempty"`
	Version int    `json:"version,omitempty"`
	ID      int    `json:"id,omitempty"`
	Format  string `json:"format,omitempty"` // AVRO, PROTOBUF, JSON
}

// Field returns the field with the given name, or nil.
func (s *Schema) Field(name string) *Field {
	if s == nil {
		return nil
	}
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// Validate reports the first structural mistake in the schema.
func (s *Schema) Validate() error {
	seen := map[string]bool{}
	for i, f := range s.Fields {
		if f.Name == "" {
			return fmt.Errorf("schema %q: field %d has no name", s.Name, i)
		}
		if seen[f.Name] {
			return fmt.Errorf("schema %q: field %q appears twice", s.Name, f.Name)
		}
		seen[f.Name] = true
		if !f.Type.Valid() {
			return fmt.Errorf("schema %q: field %q has unknown type %q", s.Name, f.Name, f.Type)
		}
	}
	for _, k := range s.Key {
		if !seen[k] {
			return fmt.Errorf("schema %q: key field %q is not a field", s.Name, k)
		}
	}
	return nil
}

// Valid reports whether t is one of the known types.
func (t Type) Valid() bool {
	switch t {
	case Boolean, Int32, Int64, Float32, Float64, String, Bytes, DecimalT, Date, Time,
		Timestamp, JSON, Array, Map, Struct:
		return true
	}
	return false
}

// String renders the field type the way docs and errors show it.
func (f Field) String() string {
	var b strings.Builder
	b.WriteString(string(f.Type))
	if f.Type == DecimalT {
		fmt.Fprintf(&b, "(%d,%d)", f.Precision, f.Scale)
	}
	if f.Optional {
		b.WriteString("?")
	}
	return b.String()
}

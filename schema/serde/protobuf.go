package serde

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/braidhq/braid/schema"
	"github.com/braidhq/braid/schema/registry"
	"github.com/braidhq/braid/schema/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type protoFormat struct{}

func (protoFormat) name() string                    { return "protobuf" }
func (protoFormat) registryFormat() registry.Format { return registry.Protobuf }

const timestampName = "google.protobuf.Timestamp"

func (protoFormat) fromStructured(s *schema.Schema) (registry.Schema, error) {
	if err := s.Validate(); err != nil {
		return registry.Schema{}, err
	}
	var b strings.Builder
	b.WriteString("syntax = \"proto3\";\npackage braid;\n\nimport \"google/protobuf/timestamp.proto\";\n\n")
	if err := protoMessage(&b, avroName(s.Name), s.Fields, ""); err != nil {
		return registry.Schema{}, err
	}
	return registry.Schema{Schema: b.String(), Type: registry.Protobuf}, nil
}

func protoMessage(b *strings.Builder, name string, fields []schema.Field, indent string) error {
	fmt.Fprintf(b, "%smessage %s {\n", indent, name)
	for i, f := range fields {
		label := ""
		typ, err := protoType(b, f, indent+"  ")
		if err != nil {
			return fmt.Errorf("field %q: %w", f.Name, err)
		}
		switch {
		case f.Type == schema.Array:
			label = "repeated "
		case f.Optional && f.Type != schema.Map && f.Type != schema.Struct && f.Type != schema.Timestamp:
			label = "optional "
		}
		fmt.Fprintf(b, "%s  %s%s %s = %d;\n", indent, label, typ, avroName(f.Name), i+1)
	}
	fmt.Fprintf(b, "%s}\n", indent)
	return nil
}

// protoType names a field's type, writing nested messages into b.
func protoType(b *strings.Builder, f schema.Field, indent string) (string, error) {
	switch f.Type {
	case schema.Boolean:
		return "bool", nil
	case schema.Int32:
		return "int32", nil
	case schema.Int64:
		return "int64", nil
	case schema.Float32:
		return "float", nil
	case schema.Float64:
		return "double", nil
	case schema.String, schema.DecimalT, schema.Date, schema.Time, schema.JSON:
		return "string", nil // decimals, dates and times as text; JSON as its text
	case schema.Bytes:
		return "bytes", nil
	case schema.Timestamp:
		return timestampName, nil
	case schema.Array, schema.Map:
		if f.Items == nil || f.Items.Type == schema.Array || f.Items.Type == schema.Map {
			return "", fmt.Errorf("protobuf cannot nest %s items of %v directly", f.Type, f.Items)
		}
		item, err := protoType(b, schema.Field{Name: f.Name + "_item", Type: f.Items.Type, Fields: f.Items.Fields}, indent)
		if err != nil || f.Type == schema.Array {
			return item, err
		}
		return "map<string, " + item + ">", nil
	case schema.Struct:
		name := "M_" + avroName(f.Name)
		return name, protoMessage(b, name, f.Fields, indent)
	}
	return "", fmt.Errorf("type %q has no protobuf form", f.Type)
}

func (protoFormat) compile(p registry.Parsed) (codec, error) {
	fd, ok := registry.ProtoFile(p)
	if !ok {
		return nil, fmt.Errorf("not a Protobuf schema")
	}
	if fd.Messages().Len() == 0 {
		return nil, fmt.Errorf("protobuf schema %s declares no message", fd.Path())
	}
	md := fd.Messages().Get(0)
	st := &schema.Schema{Name: string(md.FullName()), Fields: protoFields(md, map[protoreflect.FullName]bool{})}
	return &protoCodec{file: fd, md: md, st: st}, nil
}

type protoCodec struct {
	file protoreflect.FileDescriptor
	md   protoreflect.MessageDescriptor // the one encoded: the file's first
	st   *schema.Schema
}

func (c *protoCodec) structured() *schema.Schema {
	cp := *c.st
	return &cp
}

func (c *protoCodec) recordName() string { return string(c.md.FullName()) }

// message finds the message that Confluent's indexes point at.
func (c *protoCodec) message(idx []int) (protoreflect.MessageDescriptor, error) {
	msgs := c.file.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range idx {
		if i >= msgs.Len() {
			return nil, fmt.Errorf("message index %v is not in %s", idx, c.file.Path())
		}
		md = msgs.Get(i)
		msgs = md.Messages()
	}
	return md, nil
}

func (c *protoCodec) decode(payload []byte) (map[string]any, error) {
	idx, rest, err := wire.ParseMessageIndexes(payload)
	if err != nil {
		return nil, err
	}
	md, err := c.message(idx)
	if err != nil {
		return nil, err
	}
	msg := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(rest, msg); err != nil {
		return nil, err
	}
	return protoToMap(msg), nil
}

func (c *protoCodec) encode(dst []byte, v map[string]any) ([]byte, error) {
	msg := dynamicpb.NewMessage(c.md)
	if err := mapToProto(msg, v); err != nil {
		return nil, err
	}
	dst = wire.AppendMessageIndexes(dst, []int{0})
	return proto.MarshalOptions{Deterministic: true}.MarshalAppend(dst, msg)
}

func protoToMap(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.HasPresence() && !m.Has(fd) {
			out[string(fd.Name())] = nil
			continue
		}
		out[string(fd.Name())] = protoValue(fd, m.Get(fd))
	}
	return out
}

func protoValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch {
	case fd.IsMap():
		out := map[string]any{}
		v.Map().Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
			out[k.String()] = protoScalar(fd.MapValue(), e)
			return true
		})
		return out
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range out {
			out[i] = protoScalar(fd, l.Get(i))
		}
		return out
	}
	return protoScalar(fd, v)
}

func protoScalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return int64(v.Uint())
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float()
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.BytesKind:
		return v.Bytes()
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int64(v.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if fd.Message().FullName() == timestampName {
			m := v.Message()
			f := m.Descriptor().Fields()
			return time.Unix(m.Get(f.ByName("seconds")).Int(), m.Get(f.ByName("nanos")).Int()).UTC()
		}
		return protoToMap(v.Message())
	}
	return nil
}

func mapToProto(m protoreflect.Message, v map[string]any) error {
	fields := m.Descriptor().Fields()
	for k, x := range v {
		fd := fields.ByName(protoreflect.Name(k))
		if fd == nil {
			fd = fields.ByJSONName(k)
		}
		if fd == nil {
			return fmt.Errorf("field %q is not in message %s", k, m.Descriptor().FullName())
		}
		if x == nil {
			continue
		}
		if err := setProto(m, fd, x); err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
	}
	return nil
}

func setProto(m protoreflect.Message, fd protoreflect.FieldDescriptor, x any) error {
	switch {
	case fd.IsMap():
		src, ok := x.(map[string]any)
		if !ok {
			return fmt.Errorf("want an object, got %T", x)
		}
		mp := m.Mutable(fd).Map()
		for k, e := range src {
			key, err := protoMapKey(fd.MapKey(), k)
			if err != nil {
				return err
			}
			val, err := protoFrom(mp.NewValue, fd.MapValue(), e)
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			mp.Set(key, val)
		}
	case fd.IsList():
		src, ok := x.([]any)
		if !ok {
			return fmt.Errorf("want an array, got %T", x)
		}
		l := m.Mutable(fd).List()
		for i, e := range src {
			val, err := protoFrom(l.NewElement, fd, e)
			if err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
			l.Append(val)
		}
	default:
		val, err := protoFrom(func() protoreflect.Value { return m.NewField(fd) }, fd, x)
		if err != nil {
			return err
		}
		m.Set(fd, val)
	}
	return nil
}

func protoMapKey(fd protoreflect.FieldDescriptor, k string) (protoreflect.MapKey, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(k).MapKey(), nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(k)
		return protoreflect.ValueOfBool(b).MapKey(), err
	}
	n, err := strconv.ParseInt(k, 10, 64)
	if err != nil {
		return protoreflect.MapKey{}, fmt.Errorf("map key %q: want an integer", k)
	}
	return protoFromInt(fd, n).MapKey(), nil
}

func protoFromInt(fd protoreflect.FieldDescriptor, n int64) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	}
	return protoreflect.ValueOfInt64(n)
}

// protoFrom converts one Braid value to a protobuf value of fd's kind.
func protoFrom(newMsg func() protoreflect.Value, fd protoreflect.FieldDescriptor, x any) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		b, ok := x.(bool)
		if !ok {
			return protoreflect.Value{}, fmt.Errorf("want a boolean, got %T", x)
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.FloatKind:
		f, err := toFloat64(x)
		return protoreflect.ValueOfFloat32(float32(f)), err
	case protoreflect.DoubleKind:
		f, err := toFloat64(x)
		return protoreflect.ValueOfFloat64(f), err
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprint(toJSONValue(x))), nil
	case protoreflect.BytesKind:
		switch b := x.(type) {
		case []byte:
			return protoreflect.ValueOfBytes(b), nil
		case string:
			d, err := base64.StdEncoding.DecodeString(b)
			return protoreflect.ValueOfBytes(d), err
		}
		return protoreflect.Value{}, fmt.Errorf("want bytes, got %T", x)
	case protoreflect.EnumKind:
		if s, ok := x.(string); ok {
			ev := fd.Enum().Values().ByName(protoreflect.Name(s))
			if ev == nil {
				return protoreflect.Value{}, fmt.Errorf("%q is not a value of enum %s", s, fd.Enum().FullName())
			}
			return protoreflect.ValueOfEnum(ev.Number()), nil
		}
		n, err := toInt64(x)
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), err
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return protoMessageFrom(newMsg, fd, x)
	}
	n, err := toInt64(x)
	return protoFromInt(fd, n), err
}

func protoMessageFrom(newMsg func() protoreflect.Value, fd protoreflect.FieldDescriptor, x any) (protoreflect.Value, error) {
	v := newMsg()
	if fd.Message().FullName() == timestampName {
		t, ok := x.(time.Time)
		if !ok {
			return protoreflect.Value{}, fmt.Errorf("want a timestamp, got %T", x)
		}
		ts := timestamppb.New(t)
		f := v.Message().Descriptor().Fields()
		v.Message().Set(f.ByName("seconds"), protoreflect.ValueOfInt64(ts.Seconds))
		v.Message().Set(f.ByName("nanos"), protoreflect.ValueOfInt32(ts.Nanos))
		return v, nil
	}
	sub, ok := x.(map[string]any)
	if !ok {
		return protoreflect.Value{}, fmt.Errorf("want an object, got %T", x)
	}
	return v, mapToProto(v.Message(), sub)
}

// protoFields maps a message onto Braid fields, in field-number order.
func protoFields(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) []schema.Field {
	seen[md.FullName()] = true
	defer delete(seen, md.FullName())
	fields := md.Fields()
	out := make([]schema.Field, 0, fields.Len())
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		f := protoField(fd, seen)
		f.Name = string(fd.Name())
		switch {
		case fd.IsMap():
			item := protoField(fd.MapValue(), seen)
			f = schema.Field{Name: f.Name, Type: schema.Map, Items: &item}
		case fd.IsList():
			item := f
			item.Name, item.Optional = "item", false
			f = schema.Field{Name: f.Name, Type: schema.Array, Items: &item}
		}
		f.Optional = fd.HasPresence()
		out = append(out, f)
	}
	return out
}

func protoField(fd protoreflect.FieldDescriptor, seen map[protoreflect.FullName]bool) schema.Field {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return schema.Field{Type: schema.Boolean}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return schema.Field{Type: schema.Int32}
	case protoreflect.FloatKind:
		return schema.Field{Type: schema.Float32}
	case protoreflect.DoubleKind:
		return schema.Field{Type: schema.Float64}
	case protoreflect.StringKind, protoreflect.EnumKind:
		return schema.Field{Type: schema.String}
	case protoreflect.BytesKind:
		return schema.Field{Type: schema.Bytes}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		md := fd.Message()
		if md.FullName() == timestampName {
			return schema.Field{Type: schema.Timestamp}
		}
		if seen[md.FullName()] {
			return schema.Field{Type: schema.JSON}
		}
		return schema.Field{Type: schema.Struct, Fields: protoFields(md, seen)}
	}
	return schema.Field{Type: schema.Int64}
}

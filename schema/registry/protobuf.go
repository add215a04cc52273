package registry

import (
	"context"
	"fmt"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

type protoSchema struct {
	file      protoreflect.FileDescriptor
	canonical string
}

func (p *protoSchema) Format() Format    { return Protobuf }
func (p *protoSchema) Canonical() string { return p.canonical }

// ProtoFile returns the file descriptor of a parsed Protobuf schema.
func ProtoFile(p Parsed) (protoreflect.FileDescriptor, bool) {
	ps, ok := p.(*protoSchema)
	if !ok {
		return nil, false
	}
	return ps.file, true
}

// protoMainFile names the schema being parsed among its imports.
const protoMainFile = "schema.proto"

func parseProtobuf(text string, refs []resolvedRef) (*protoSchema, error) {
	files := map[string]string{}
	for _, r := range refs {
		if r.Schema.format() != Protobuf {
			return nil, fmt.Errorf("reference %q is %s, not PROTOBUF", r.Name, r.Schema.format())
		}
		files[r.Name] = r.Schema.Schema
	}
	main := protoMainFile
	for files[main] != "" {
		main = "_" + main
	}
	files[main] = text
	comp := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(files),
		}),
	}
	// Compiling is CPU-bound and bounded by the schema's size; nothing to cancel.
	out, err := comp.Compile(context.Background(), main)
	if err != nil {
		return nil, err
	}
	fd := out[0]
	fdp := protodesc.ToFileDescriptorProto(fd)
	fdp.SourceCodeInfo = nil
	fdp.Name = proto.String(protoMainFile)
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
	if err != nil {
		return nil, fmt.Errorf("normalise protobuf schema: %w", err)
	}
	return &protoSchema{file: fd, canonical: string(b)}, nil
}

// protoCompatible applies Confluent's Protobuf rules to the change from the
// writer's schema (original) to the reader's (update). It compares the
// messages a file declares, by name, and never follows a field into its
// message type, so recursive messages need no memo: the work is bounded by
// the declarations.
func protoCompatible(r, w *protoSchema, b *budget) []string {
	var reasons []string
	fail := func(rule, path, format string, args ...any) {
		reasons = append(reasons, fmt.Sprintf("%s at %s: %s", rule, path, fmt.Sprintf(format, args...)))
	}
	if r.file.Package() != w.file.Package() {
		fail("PACKAGE_CHANGED", "#/", "package changed from %q to %q", w.file.Package(), r.file.Package())
	}
	if r.file.Syntax() != w.file.Syntax() {
		fail("SYNTAX_VERSION_CHANGED", "#/", "syntax changed from %s to %s", w.file.Syntax(), r.file.Syntax())
	}
	var walk func(rm, wm protoreflect.MessageDescriptors)
	walk = func(rms, wms protoreflect.MessageDescriptors) {
		for i := 0; i < wms.Len(); i++ {
			wm := wms.Get(i)
			if !b.spend(1 + wm.Fields().Len()) {
				return
			}
			rm := rms.ByName(wm.Name())
			if rm == nil {
				fail("MESSAGE_REMOVED", "#/"+string(wm.FullName()), "message %s was removed", wm.FullName())
				continue
			}
			reasons = append(reasons, protoMessageCompatible(rm, wm)...)
			walk(rm.Messages(), wm.Messages())
		}
	}
	walk(r.file.Messages(), w.file.Messages())
	return reasons
}

func protoMessageCompatible(r, w protoreflect.MessageDescriptor) []string {
	var reasons []string
	fail := func(rule string, f protoreflect.FieldDescriptor, format string, args ...any) {
		reasons = append(reasons, fmt.Sprintf("%s at #/%s/%d: %s", rule, r.FullName(), f.Number(),
			fmt.Sprintf(format, args...)))
	}
	moved := map[protoreflect.Name]int{} // new oneof -> fields moved into it
	wfs, rfs := w.Fields(), r.Fields()
	for i := 0; i < wfs.Len(); i++ {
		wf := wfs.Get(i)
		rf := rfs.ByNumber(wf.Number())
		if rf == nil {
			switch {
			case wf.Cardinality() == protoreflect.Required:
				fail("REQUIRED_FIELD_REMOVED", wf, "required field %q was removed", wf.Name())
			case wf.ContainingOneof() != nil && !wf.ContainingOneof().IsSynthetic():
				fail("ONEOF_FIELD_REMOVED", wf, "field %q was removed from oneof %q", wf.Name(), wf.ContainingOneof().Name())
			}
			continue
		}
		if rule, msg := protoFieldKind(rf, wf); rule != "" {
			fail(rule, wf, "field %q: %s", wf.Name(), msg)
		}
		ro, wo := realOneof(rf), realOneof(wf)
		if ro != nil && wo == nil {
			if w.Oneofs().ByName(ro.Name()) != nil {
				fail("FIELD_MOVED_TO_EXISTING_ONEOF", wf, "field %q moved into existing oneof %q", wf.Name(), ro.Name())
			} else {
				moved[ro.Name()]++
			}
		}
	}
	for name, n := range moved {
		if n > 1 {
			reasons = append(reasons, fmt.Sprintf("MULTIPLE_FIELDS_MOVED_TO_ONEOF at #/%s: %d fields moved into new oneof %q",
				r.FullName(), n, name))
		}
	}
	for i := 0; i < rfs.Len(); i++ {
		rf := rfs.Get(i)
		if rf.Cardinality() == protoreflect.Required && wfs.ByNumber(rf.Number()) == nil {
			fail("REQUIRED_FIELD_ADDED", rf, "required field %q was added", rf.Name())
		}
	}
	return reasons
}

func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o
	}
	return nil
}

// protoScalarGroup groups the scalar kinds that share a wire encoding and so
// read each other's data, as Confluent's rules do.
func protoScalarGroup(k protoreflect.Kind) int {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Uint64Kind,
		protoreflect.BoolKind:
		return 1
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return 2
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return 3
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return 4
	case protoreflect.StringKind, protoreflect.BytesKind:
		return 5
	case protoreflect.FloatKind:
		return 6
	case protoreflect.DoubleKind:
		return 7
	}
	return 0
}

func protoFieldKind(r, w protoreflect.FieldDescriptor) (rule, msg string) {
	if r.IsMap() != w.IsMap() {
		return "FIELD_KIND_CHANGED", "changed between map and non-map"
	}
	rk, wk := r.Kind(), w.Kind()
	named := func(k protoreflect.Kind) bool {
		return k == protoreflect.MessageKind || k == protoreflect.GroupKind || k == protoreflect.EnumKind
	}
	switch {
	case named(rk) != named(wk):
		return "FIELD_KIND_CHANGED", fmt.Sprintf("kind changed from %s to %s", wk, rk)
	case rk == protoreflect.EnumKind && wk == protoreflect.EnumKind:
		if r.Enum().FullName() != w.Enum().FullName() {
			return "FIELD_NAMED_TYPE_CHANGED", fmt.Sprintf("type changed from %s to %s", w.Enum().FullName(), r.Enum().FullName())
		}
	case named(rk):
		if rk != wk {
			return "FIELD_KIND_CHANGED", fmt.Sprintf("kind changed from %s to %s", wk, rk)
		}
		if r.Message().FullName() != w.Message().FullName() {
			return "FIELD_NAMED_TYPE_CHANGED", fmt.Sprintf("type changed from %s to %s", w.Message().FullName(), r.Message().FullName())
		}
	case protoScalarGroup(rk) != protoScalarGroup(wk):
		return "FIELD_SCALAR_KIND_CHANGED", fmt.Sprintf("scalar kind changed from %s to %s", wk, rk)
	}
	return "", ""
}

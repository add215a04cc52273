package file

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/braidhq/braid/connectors/internal/fileformat"
	"github.com/braidhq/braid/connectors/sdk"
)

// Formats of the source and the sink.
const (
	formatLines = fileformat.Lines
	formatCSV   = fileformat.CSV
	formatJSONL = fileformat.JSONL
	formatRaw   = fileformat.Raw
)

// checkGlob refuses a path that is not a valid glob before a task starts.
func checkGlob(v any) error {
	if _, err := filepath.Match(v.(string), ""); err != nil {
		return fmt.Errorf("bad glob %q: %v", v, err)
	}
	return nil
}

func oneByte(v any) error {
	if len(v.(string)) != 1 {
		return errors.New("must be exactly one character")
	}
	return nil
}

var sourceSpec = sdk.Spec{
	Name:    "file",
	Kind:    sdk.KindSource,
	Summary: "Reads lines, CSV or JSON lines from files, once or following them as they grow.",
	Doc: "Each line (CSV: each record) becomes one record. With `follow`, the source keeps " +
		"reading like `tail -F`: files that grow are read further, a file renamed away " +
		"(rotation) is read to its end and the new file at the path is read from its start, " +
		"and a truncated file is read again from offset 0. The position stored for each record " +
		"holds path, inode and byte offset of every file, so a restart resumes right after the " +
		"last acknowledged record. A last line without a newline is held back until it is " +
		"completed (or, without `follow`, until the end of the file).",
	Fields: []sdk.Field{
		{Name: "path", Type: sdk.TypeString, Path: true, Required: true, Example: "/var/log/app/*.log", Check: checkGlob,
			Doc: "File to read, or a glob (`*`, `?`, `[...]`) matching several; matches are read in name order."},
		{Name: "format", Type: sdk.TypeString, Default: formatLines, Enum: []string{formatLines, formatCSV, formatJSONL},
			Doc: "`lines`: the value is the line's bytes. `csv`: the first line of each file names the columns and each further record becomes fields. `jsonl`: each line is a JSON object that becomes the record's fields (the value keeps the line)."},
		{Name: "follow", Type: sdk.TypeBool, Default: false,
			Doc: "Keep reading as files grow, are rotated or truncated, and pick up new files matching `path`. Without it the source ends after reading every file once."},
		{Name: "start", Type: sdk.TypeString, Default: "beginning", Enum: []string{"beginning", "end"},
			Doc: "Where to start in files that exist when the connector first starts (no stored position). Files appearing later are always read from the beginning."},
		{Name: "poll.interval", Type: sdk.TypeDuration, Default: "250ms",
			Doc: "In follow mode, how often to look for new data, new files, rotation and truncation."},
		{Name: "batch.size", Type: sdk.TypeInt, Default: 1000, Min: 1,
			Doc: "Most records returned by one read."},
		{Name: "csv.delimiter", Type: sdk.TypeString, Default: ",", Check: oneByte,
			Doc: "Field delimiter of the csv format."},
		{Name: "on.invalid", Type: sdk.TypeString, Default: "fail", Enum: []string{"fail", "skip", "dead-letter"},
			Doc: "What to do with a csv or jsonl record that does not parse: `fail` stops the task with an error naming file and offset; `skip` logs a warning and goes on; `dead-letter` hands it to the worker as a record that failed at stage `source` — its value the record's raw bytes, its error naming file and offset — which goes to the dead-letter topic under `errors: { tolerance: all }` while the source reads on, and fails the task under tolerance `none`."},
	},
}

var sinkSpec = sdk.Spec{
	Name:    "file",
	Kind:    sdk.KindSink,
	Summary: "Writes records as JSON lines, CSV or raw lines into files named by topic, partition and offset range.",
	Doc: "Records of each topic partition go to their own file, written under a hidden temporary " +
		"name, fsynced when it is rolled (by size or age), and renamed to " +
		"`<topic>-p<partition>-<first offset>-<last offset>.<ext>` when the worker flushes, so a name " +
		"never claims a record that was rejected or not yet committed; a failed task's unflushed files " +
		"are deleted and their records read again. A replay writes the same names again " +
		"(and removes files whose offset range the new file covers), so records are not duplicated; " +
		"on restart the sink reports the last offset of each partition found in the file names.",
	Fields: []sdk.Field{
		{Name: "path", Type: sdk.TypeString, Path: true, Required: true, Example: "./out",
			Doc: "Directory the files are written to (created when missing). Nothing is ever written outside it."},
		{Name: "format", Type: sdk.TypeString, Default: formatJSONL, Enum: []string{formatJSONL, formatCSV, formatRaw},
			Doc: "`jsonl`: one JSON object per line (the value as is when it already is a JSON object, else its fields). `csv`: a header line, then one line per record. `raw`: the value's bytes and a newline."},
		{Name: "roll.size", Type: sdk.TypeInt, Default: 128 << 20, Min: 1,
			Doc: "Roll to a new file once the current one holds this many bytes."},
		{Name: "roll.interval", Type: sdk.TypeDuration, Default: "10m",
			Doc: "Roll to a new file once the current one is this old (0: never by age)."},
		{Name: "csv.columns", Type: sdk.TypeList,
			Doc: "Columns of the csv format, in order. Default: the schema's fields, else the sorted field names of each file's first record."},
		{Name: "csv.delimiter", Type: sdk.TypeString, Default: ",", Check: oneByte,
			Doc: "Field delimiter of the csv format."},
	},
}

// SourcePlugin returns the file source connector.
func SourcePlugin() sdk.Plugin {
	return sdk.Plugin{Spec: sourceSpec, NewSource: NewSource}
}

// SinkPlugin returns the file sink connector.
func SinkPlugin() sdk.Plugin {
	return sdk.Plugin{Spec: sinkSpec, NewSink: NewSink}
}

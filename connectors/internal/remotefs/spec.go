package remotefs

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/braidhq/braid/connectors/internal/fileformat"
	"github.com/braidhq/braid/connectors/internal/parquetenc"
	"github.com/braidhq/braid/connectors/sdk"
)

// What the source does with a file once the log has its records.
const (
	afterKeep   = "keep"
	afterDelete = "delete"
	afterMove   = "move:"
)

// What the source does with a file that changed after it was read.
const (
	changeIgnore = "ignore"
	changeReread = "reread"
	changeAppend = "append"
)

func checkGlob(v any) error {
	if _, err := path.Match(v.(string), ""); err != nil {
		return fmt.Errorf("bad glob %q: %v", v, err)
	}
	return nil
}

func checkAfterRead(v any) error {
	s := v.(string)
	switch {
	case s == afterKeep, s == afterDelete:
		return nil
	case strings.HasPrefix(s, afterMove) && strings.TrimSpace(s[len(afterMove):]) != "":
		return nil
	}
	return fmt.Errorf("must be keep, delete or move:<directory>, not %q", s)
}

func oneByte(v any) error {
	if len(v.(string)) != 1 {
		return errors.New("must be exactly one character")
	}
	return nil
}

// SourceDoc is the part of a source's spec doc that the ftp and sftp
// sources share.
const SourceDoc = "The source lists `path` every `poll.interval` and reads each file whose name matches `glob` " +
	"once it is complete: its size and modification time did not change for `stable.for`, and, with " +
	"`ready.suffix`, its marker file (`<name><suffix>`) exists. Files are read in order of modification " +
	"time, up to `max.downloads` at once, streamed (never held whole in memory; `binary` files are one " +
	"record each and bounded by `binary.max.size`); names ending in `.gz` are decompressed. Each record's " +
	"position holds the identity (path, size, modification time) and byte offset of the files being " +
	"read, so a restart resumes mid-file right after the last record the log acknowledged. A file read to " +
	"its end is recorded as read in the connector's store once the log acknowledged its last record, and " +
	"only then is `after.read` done. A file that changes after it was read is handled by `on.change`. " +
	"Records carry the headers `file.path`, `file.size` and `file.mtime`. A download that fails is " +
	"resumed where it stopped over a new connection, with backoff; the task's `retrying_downloads` " +
	"gauge counts those waiting to retry, so a stuck transfer shows in the status."

// SourceFields are the settings every remote file source has, after its
// connection settings.
func SourceFields() []sdk.Field {
	return []sdk.Field{
		{Name: "path", Type: sdk.TypeString, Required: true, Example: "/outgoing",
			Doc: "Remote directory to read."},
		{Name: "glob", Type: sdk.TypeString, Default: "*", Check: checkGlob,
			Doc: "Files to read: a pattern (`*`, `?`, `[...]`) matched against each file's name (not its directory)."},
		{Name: "recursive", Type: sdk.TypeBool, Default: false,
			Doc: "Read files in subdirectories of `path` too (the `after.read` move directory excepted)."},
		{Name: "format", Type: sdk.TypeString, Default: fileformat.Lines, Enum: []string{fileformat.Lines, fileformat.CSV, fileformat.JSONL, fileformat.Binary},
			Doc: "`lines`: the value is the line's bytes. `csv`: the first line of each file names the columns and each further record becomes fields. `jsonl`: each line is a JSON object that becomes the record's fields. `binary`: the whole file is one record (PDFs, EDI)."},
		{Name: "compression", Type: sdk.TypeString, Default: "auto", Enum: []string{"auto", "none", "gzip"},
			Doc: "`auto`: files whose name ends in `.gz` are gunzipped. `gzip`: every file is. `none`: files are read as they are."},
		{Name: "stable.for", Type: sdk.TypeDuration, Default: "10s", Min: "0s",
			Doc: "A file is read only once its size and modification time stayed the same for this long (0s: at once, for partners who upload under a temporary name and rename, or who write `ready.suffix` markers)."},
		{Name: "ready.suffix", Type: sdk.TypeString, Example: ".done",
			Doc: "When set, a file is read only once a marker file named after it with this suffix exists (`prices.csv.done` for `prices.csv`). Marker files are never read; `after.read` deletes them with their file."},
		{Name: "after.read", Type: sdk.TypeString, Default: afterKeep, Check: checkAfterRead,
			Doc: "What to do with a file once the log has all its records: `keep` it (the store remembers it was read), `delete` it, or `move:<directory>` it (created when missing)."},
		{Name: "on.change", Type: sdk.TypeString, Default: changeIgnore, Enum: []string{changeIgnore, changeReread, changeAppend},
			Doc: "A kept file that changes (size or modification time) after it was read: `ignore` it, `reread` it whole, or read only what was `append`ed (a file that shrank is read whole)."},
		{Name: "poll.interval", Type: sdk.TypeDuration, Default: "10s", Min: "1ms",
			Doc: "How often to list the directory."},
		{Name: "max.downloads", Type: sdk.TypeInt, Default: 4, Min: 1, Max: 64,
			Doc: "Most files read at once, each over its own connection."},
		{Name: "batch.size", Type: sdk.TypeInt, Default: 1000, Min: 1,
			Doc: "Most records returned by one read."},
		{Name: "binary.max.size", Type: sdk.TypeInt, Default: 64 << 20, Min: 1,
			Doc: "Largest file the `binary` format reads (one record holds it whole); a larger one is an invalid record (see `on.invalid`)."},
		{Name: "csv.delimiter", Type: sdk.TypeString, Default: ",", Check: oneByte,
			Doc: "Field delimiter of the csv format."},
		{Name: "on.invalid", Type: sdk.TypeString, Default: "fail", Enum: []string{"fail", "skip", "dead-letter"},
			Doc: "What to do with a record that does not parse (or a file that cannot be read as its format: not gzip, a bad CSV header, larger than `binary.max.size`): `fail` stops the task with an error naming file and offset; `skip` logs a warning and goes on (a bad file counts as read); `dead-letter` hands it to the worker as a record that failed at stage `source` — its value the raw bytes of the record (empty for a whole file), its headers the file's, its error naming file and offset — which goes to the dead-letter topic under `errors: { tolerance: all }` while the source reads on, and fails the task under tolerance `none`."},
	}
}

// SinkDoc is the part of a sink's spec doc that the ftp and sftp sinks share.
const SinkDoc = "Records of each topic partition are spooled to a local file (under the connector's data " +
	"directory), rolled by size or age, and uploaded when the worker flushes: under a hidden temporary name " +
	"first, then renamed to `<topic>-p<partition>-<first offset>-<last offset>.<ext>`, so a reader never " +
	"sees half a file and a name never claims a record that was not flushed. A replay writes the same names " +
	"again (and removes files whose offset range the new one covers), so records are not duplicated; on " +
	"restart the sink reports the last offset of each partition found in the remote file names."

// SinkFields are the settings every remote file sink has.
func SinkFields() []sdk.Field {
	return []sdk.Field{
		{Name: "path", Type: sdk.TypeString, Required: true, Example: "/incoming",
			Doc: "Remote directory the files are written to (created when missing)."},
		{Name: "format", Type: sdk.TypeString, Default: fileformat.JSONL, Enum: []string{fileformat.JSONL, fileformat.CSV, fileformat.Raw, fileformat.Parquet},
			Doc: "`jsonl`: one JSON object per line. `csv`: a header line, then one line per record. `raw`: the value's bytes and a newline. " +
				"`parquet`: columns as the `parquet` sink writes them, from the record's schema or inferred from the first record's fields " +
				"(all nullable); a record whose columns differ (another schema, or a new field) starts a new file. A record without fields is rejected."},
		{Name: "parquet.compression", Type: sdk.TypeString, Default: "snappy", Enum: parquetenc.Codecs,
			Doc: "Column chunk compression of the parquet format."},
		{Name: "roll.size", Type: sdk.TypeInt, Default: 128 << 20, Min: 1,
			Doc: "Roll to a new file once the current one holds this many bytes (parquet: written bytes and the values of the row group in memory)."},
		{Name: "roll.interval", Type: sdk.TypeDuration, Default: "10m",
			Doc: "Roll to a new file once the current one is this old (0: never by age)."},
		{Name: "csv.columns", Type: sdk.TypeList,
			Doc: "Columns of the csv format, in order. Default: the schema's fields, else the sorted field names of each file's first record."},
		{Name: "csv.delimiter", Type: sdk.TypeString, Default: ",", Check: oneByte,
			Doc: "Field delimiter of the csv format."},
	}
}

// sourceSettings are a source's validated settings.
type sourceSettings struct {
	dir          string
	glob         string
	recursive    bool
	format       string
	compression  string
	stableFor    time.Duration
	readySuffix  string
	afterRead    string
	moveDir      string
	onChange     string
	poll         time.Duration
	maxDownloads int
	batchSize    int
	binaryMax    int64
	delim        byte
	skipBad      bool
	deadLetter   bool
}

func newSourceSettings(cfg sdk.Config) sourceSettings {
	s := sourceSettings{
		dir:          cleanDir(cfg.String("path")),
		glob:         cfg.String("glob"),
		recursive:    cfg.Bool("recursive"),
		format:       cfg.String("format"),
		compression:  cfg.String("compression"),
		stableFor:    cfg.Duration("stable.for"),
		readySuffix:  cfg.String("ready.suffix"),
		afterRead:    cfg.String("after.read"),
		onChange:     cfg.String("on.change"),
		poll:         cfg.Duration("poll.interval"),
		maxDownloads: int(cfg.Int("max.downloads")),
		batchSize:    int(cfg.Int("batch.size")),
		binaryMax:    cfg.Int("binary.max.size"),
		delim:        cfg.String("csv.delimiter")[0],
		skipBad:      cfg.String("on.invalid") == "skip",
		deadLetter:   cfg.String("on.invalid") == "dead-letter",
	}
	if strings.HasPrefix(s.afterRead, afterMove) {
		d := strings.TrimSpace(s.afterRead[len(afterMove):])
		if !path.IsAbs(d) {
			d = path.Join(s.dir, d)
		}
		s.moveDir, s.afterRead = cleanDir(d), afterMove
	}
	return s
}

func cleanDir(d string) string {
	if d == "" {
		return "."
	}
	return path.Clean(d)
}

package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/braidhq/braid/connectors/sdk"
	pb "github.com/braidhq/braid/proto/braid/connector/v1"
)

// Options configure the host side.
type Options struct {
	// Logger receives the plugins' standard error, with the task's keys.
	Logger *slog.Logger
	// StartTimeout bounds a plugin's start and handshake (default 10s).
	StartTimeout time.Duration
	// HealthInterval is how often a running plugin is health-checked
	// (default 2s); HealthTimeout how long it may take to answer (default
	// 5s) before it is killed and its task fails.
	HealthInterval, HealthTimeout time.Duration
}

func (o Options) startTimeout() time.Duration   { return orDefault(o.StartTimeout, 10*time.Second) }
func (o Options) healthInterval() time.Duration { return orDefault(o.HealthInterval, 2*time.Second) }
func (o Options) healthTimeout() time.Duration  { return orDefault(o.HealthTimeout, 5*time.Second) }

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// DefaultDirs are the plugin directories when none is given: <data-dir>/plugins
// and ./plugins.
func DefaultDirs(dataDir string) []string {
	return []string{filepath.Join(dataDir, "plugins"), "plugins"}
}

// Discover starts every executable in dirs once, asks it for its specs and
// returns its connectors as plugins. A directory that does not exist is
// skipped; a plugin that fails to start or handshake is left out and named
// in the returned error, the others are returned all the same.
func Discover(ctx context.Context, dirs []string, o Options) (sdk.Plugins, error) {
	var out sdk.Plugins
	var errs []error
	seen := map[string]bool{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			path := filepath.Join(dir, e.Name())
			info, err := os.Stat(path)
			if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 || e.Name()[0] == '.' {
				continue
			}
			abs, err := filepath.Abs(path)
			if err != nil || seen[abs] {
				continue
			}
			seen[abs] = true
			ps, err := Load(ctx, abs, o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, ps...)
		}
	}
	return out, errors.Join(errs...)
}

// Load asks one plugin executable for its connectors.
func Load(ctx context.Context, path string, o Options) (sdk.Plugins, error) {
	p, hs, err := start(ctx, path, o, o.logger().With("plugin.path", path))
	if err != nil {
		return nil, err
	}
	p.shutdown(time.Second)
	var out sdk.Plugins
	for _, s := range hs.Specs {
		spec := fromSpec(s)
		if spec.Kind != sdk.KindSource && spec.Kind != sdk.KindSink {
			return nil, fmt.Errorf("plugin %s: connector %q has kind %q, not source or sink", path, spec.Name, spec.Kind)
		}
		c := &connector{path: path, opts: o, spec: s, caps: s.GetCapabilities()}
		if s.HasCheck {
			spec.Check = c.check
		}
		c.sdkSpec = spec
		pl := sdk.Plugin{Spec: spec}
		if spec.Kind == sdk.KindSource {
			pl.NewSource = c.newSource
		} else {
			pl.NewSink = c.newSink
		}
		out = append(out, pl)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Spec.Name < out[j].Spec.Name })
	return out, nil
}

// connector is one connector type of a plugin executable.
type connector struct {
	path    string
	opts    Options
	spec    *pb.Spec
	sdkSpec sdk.Spec
	caps    *pb.Capabilities
}

// check runs the plugin's own checks in a short-lived process of its own, so
// lint, the REST API and the worker report them as for a built-in.
func (c *connector) check(cfg sdk.Config) []sdk.FieldError {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.startTimeout())
	defer cancel()
	p, _, err := start(ctx, c.path, c.opts, c.opts.logger().With("connector", c.spec.Name))
	if err != nil {
		return []sdk.FieldError{{Field: c.spec.Name, Message: "cannot check the settings: " + err.Error()}}
	}
	defer p.shutdown(time.Second)
	resp, err := p.client.Validate(ctx, &pb.ValidateRequest{Name: c.spec.Name, Kind: c.spec.Kind, Config: configValues(c.sdkSpec, cfg)})
	if err != nil {
		return []sdk.FieldError{{Field: c.spec.Name, Message: "cannot check the settings: " + p.cause(err).Error()}}
	}
	return fromFieldErrors(resp.Errors)
}

func (c *connector) newSource(cfg sdk.Config, env sdk.Env) (sdk.Source, error) {
	s := &source{task: task{c: c, cfg: cfg, env: env}}
	switch {
	case c.caps.GetDeleter() && c.caps.GetNotReplayable():
		return &notReplayableDeleterSource{deleterSource{s}}, nil
	case c.caps.GetDeleter():
		return &deleterSource{s}, nil
	case c.caps.GetNotReplayable():
		return &notReplayableSource{s}, nil
	}
	return s, nil
}

func (c *connector) newSink(cfg sdk.Config, env sdk.Env) (sdk.Sink, error) {
	s := &sink{task: task{c: c, cfg: cfg, env: env}}
	switch {
	case c.caps.GetOffsetTracker() && c.caps.GetNeedsFields():
		return &trackingFieldsSink{trackingSink{s}}, nil
	case c.caps.GetOffsetTracker():
		return &trackingSink{s}, nil
	case c.caps.GetNeedsFields():
		return &fieldsSink{s}, nil
	}
	return s, nil
}

// task is the part sources and sinks share: one process per task.
type task struct {
	c   *connector
	cfg sdk.Config
	env sdk.Env
	// p is set by Open before any other call and never changes after.
	p         *process
	closeOnce sync.Once
	closeErr  error
}

// logger is where the task's plugin logs: the worker's logger for the task,
// which carries its keys already, or the host's with them.
func (t *task) logger() *slog.Logger {
	if t.env.Logger != nil {
		return t.env.Logger
	}
	return t.c.opts.logger().With("connector", t.env.Connector, "task", t.env.Task)
}

// launch starts the task's process and configures its connector.
func (t *task) launch(ctx context.Context) error {
	if t.p != nil {
		return errors.New("plugin connector opened twice")
	}
	p, _, err := start(ctx, t.c.path, t.c.opts, t.logger())
	if err != nil {
		return err
	}
	e := t.env
	resp, err := p.client.Configure(ctx, &pb.ConfigureRequest{Name: t.c.spec.Name, Kind: t.c.spec.Kind,
		Config: configValues(t.c.sdkSpec, t.cfg),
		Env: &pb.Env{Pipeline: e.Pipeline, Connector: e.Connector, Task: int32(e.Task), Topic: e.Topic,
			Topics: e.Topics, DataDir: e.DataDir}})
	if err == nil {
		err = fromError(resp.Error, t.c.spec.Name)
	} else {
		err = p.cause(err)
	}
	if err != nil {
		p.kill()
		return fmt.Errorf("configure plugin %s: %w", t.c.spec.Name, err)
	}
	t.p = p
	return nil
}

// call wraps a failed call with why the process failed, if it did.
func (t *task) call(err error) error {
	if err == nil {
		return nil
	}
	if t.p == nil {
		return errClosed
	}
	return t.p.cause(err)
}

func (t *task) ready() error {
	if t.p == nil {
		return errClosed
	}
	if err := t.p.err(); err != nil {
		return err
	}
	return nil
}

// closeProcess closes the connector in its process and stops the process.
func (t *task) closeProcess(ctx context.Context) error {
	if t.p == nil {
		return nil
	}
	t.closeOnce.Do(func() {
		p := t.p
		if p.err() == nil {
			resp, err := p.client.Close(ctx, &pb.CloseRequest{})
			if err == nil {
				t.closeErr = fromError(resp.Error, t.c.spec.Name)
			} else {
				t.closeErr = p.cause(err)
			}
		}
		p.shutdown(2 * time.Second)
	})
	return t.closeErr
}

// deleted runs Deleted in a process of its own: the instance was never opened.
func (t *task) deleted(ctx context.Context) error {
	if err := t.launch(ctx); err != nil {
		return err
	}
	resp, err := t.p.client.Deleted(ctx, &pb.DeletedRequest{})
	if err == nil {
		err = fromError(resp.Error, t.c.spec.Name)
	}
	err = t.call(err)
	if cerr := t.closeProcess(ctx); err == nil {
		err = cerr
	}
	return err
}

// Merge adds found plugins to the built-ins. A connector whose kind and
// name a built-in or an earlier plugin already has is left out, and named
// in the returned error: a plugin never replaces a connector silently.
func Merge(builtins, found sdk.Plugins) (sdk.Plugins, error) {
	out := append(sdk.Plugins{}, builtins...)
	var errs []error
	for _, p := range found {
		if _, dup := out.Lookup(p.Spec.Kind, p.Spec.Name); dup {
			errs = append(errs, fmt.Errorf("plugin %s %q is left out: a connector of that name already exists", p.Spec.Kind, p.Spec.Name))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	server string
	token  string
	output string
}

func (c *clientFlags) register(root *cobra.Command) {
	server := os.Getenv("BRAID_SERVER")
	if server == "" {
		server = "http://127.0.0.1:8083"
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.server, "server", server, "REST API of a running braid (env BRAID_SERVER)")
	pf.StringVar(&c.token, "token", "", "bearer token for the REST API (env BRAID_TOKEN)")
	pf.StringVarP(&c.output, "output", "o", "table", "output format of client commands: table or json")
}

// client talks to the REST API.
type client struct {
	base   string
	token  string
	json   bool
	http   *http.Client
	out    io.Writer
	errOut io.Writer
}

func (c *clientFlags) client(cmd *cobra.Command) (*client, error) {
	switch c.output {
	case "table", "json":
	default:
		return nil, fmt.Errorf("--output: %q is not table or json", c.output)
	}
	token := c.token
	if token == "" {
		token = strings.TrimSpace(os.Getenv("BRAID_TOKEN"))
	}
	return &client{base: strings.TrimRight(c.server, "/"), token: token, json: c.output == "json",
		http: &http.Client{Timeout: 60 * time.Second}, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr()}, nil
}

// apiError is an error answer of the API.
type apiError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
	Lints   []struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Message string `json:"message"`
	} `json:"lints"`
}

func (e *apiError) Error() string { return e.Message }

// do sends a request and returns the body of a 2xx answer, or an *apiError.
func (c *client) do(ctx context.Context, method, path string, body io.Reader, contentType string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (is braid running? --server / BRAID_SERVER)", method, c.base+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		ae := &apiError{Code: resp.StatusCode}
		if json.Unmarshal(data, ae) != nil || ae.Message == "" {
			ae.Message = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			ae.Message += " (give --token or BRAID_TOKEN)"
		}
		return data, ae
	}
	return data, nil
}

// call sends in as JSON (when not nil) and decodes the answer into out.
func (c *client) call(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	var body io.Reader
	ct := ""
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, ct = bytes.NewReader(data), "application/json"
	}
	data, err := c.do(ctx, method, path, body, ct)
	if err != nil {
		return data, err
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return data, fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return data, nil
}

// printJSON writes an API answer as indented JSON.
func (c *client) printJSON(data []byte) error {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		_, err = c.out.Write(data)
		return err
	}
	buf.WriteByte('\n')
	_, err := c.out.Write(buf.Bytes())
	return err
}

// table writes rows aligned in columns.
func (c *client) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

// lintFailure prints the lints of a 400 answer and returns exit code 1.
func (c *client) lintFailure(err error) error {
	var ae *apiError
	if errors.As(err, &ae) && len(ae.Lints) > 0 {
		for _, l := range ae.Lints {
			fmt.Fprintf(c.out, "%s:%d:%d: %s\n", l.File, l.Line, l.Column, l.Message)
		}
		fmt.Fprintf(c.errOut, "%d problem(s) found\n", len(ae.Lints))
		return exitError{code: 1}
	}
	return err
}

// firstLine shortens a stack trace for tables.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

// completeNames offers the names GET path lists (connectors or topics) for
// shell completion of a NAME argument.
func (c *clientFlags) completeNames(path string, field func(json.RawMessage) []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cl, err := c.client(cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		data, err := cl.do(ctx, "GET", path, nil, "")
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		return field(data), cobra.ShellCompDirectiveNoFileComp
	}
}

func connectorNames(data json.RawMessage) []string {
	var names []string
	_ = json.Unmarshal(data, &names)
	return names
}

func topicNames(data json.RawMessage) []string {
	var topics []struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(data, &topics)
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	return names
}

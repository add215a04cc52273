package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// newSchemasCmd is `braid schemas list|get|register|check|delete|config`, a
// client of the schema registry's Confluent-compatible API.
func newSchemasCmd() *cobra.Command {
	cf := &clientFlags{}
	var prefix string
	cmd := &cobra.Command{
		Use:   "schemas",
		Short: "List, inspect, register, check and delete schemas in the schema registry",
		Long: "A client of the schema registry, whose API follows Confluent Schema Registry's.\n" +
			"Subjects are usually <topic>-value or <topic>-key; schema types are AVRO, PROTOBUF and JSON.",
	}
	cf.register(cmd)
	cmd.PersistentFlags().StringVar(&prefix, "registry-path", os.Getenv("BRAID_REGISTRY_PATH"),
		"path of the registry API under --server, when not at its root (env BRAID_REGISTRY_PATH)")
	sc := &schemasClient{cf: cf, prefix: &prefix}
	cmd.AddCommand(sc.listCmd(), sc.getCmd(), sc.registerCmd(), sc.checkCmd(), sc.deleteCmd(), sc.configCmd())
	return cmd
}

type schemasClient struct {
	cf     *clientFlags
	prefix *string
}

// call runs one registry request and decodes its answer into out.
func (s *schemasClient) call(cmd *cobra.Command, method, path string, in, out any) (*client, []byte, error) {
	cl, err := s.cf.client(cmd)
	if err != nil {
		return nil, nil, err
	}
	data, err := cl.call(cmd.Context(), method, strings.TrimRight(*s.prefix, "/")+path, in, out)
	return cl, data, err
}

func subjectPath(subject string) string { return "/subjects/" + url.PathEscape(subject) }

func (s *schemasClient) listCmd() *cobra.Command {
	var prefix string
	var deleted bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List subjects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if prefix != "" {
				q.Set("subjectPrefix", prefix)
			}
			if deleted {
				q.Set("deleted", "true")
			}
			var subjects []string
			cl, data, err := s.call(cmd, "GET", "/subjects?"+q.Encode(), nil, &subjects)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(data)
			}
			rows := make([][]string, len(subjects))
			for i, sub := range subjects {
				rows[i] = []string{sub}
			}
			cl.table([]string{"SUBJECT"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "only subjects starting with this")
	cmd.Flags().BoolVar(&deleted, "deleted", false, "include soft-deleted subjects")
	return cmd
}

// registeredSchema is the registry's answer for a version or an id.
type registeredSchema struct {
	Subject    string          `json:"subject,omitempty"`
	Version    int             `json:"version,omitempty"`
	ID         int             `json:"id,omitempty"`
	Type       string          `json:"schemaType,omitempty"`
	Schema     string          `json:"schema"`
	References json.RawMessage `json:"references,omitempty"`
}

func (s *schemasClient) getCmd() *cobra.Command {
	var version string
	var id int
	cmd := &cobra.Command{
		Use:   "get [SUBJECT]",
		Short: "Print a subject's schema (latest, or --version), or the schema with --id",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var path string
			switch {
			case id > 0 && len(args) == 0:
				path = "/schemas/ids/" + strconv.Itoa(id)
			case id == 0 && len(args) == 1:
				path = subjectPath(args[0]) + "/versions/" + url.PathEscape(version)
			default:
				return errors.New("give a SUBJECT or --id, not both")
			}
			var rs registeredSchema
			cl, data, err := s.call(cmd, "GET", path, nil, &rs)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(data)
			}
			if rs.Type == "" {
				rs.Type = "AVRO"
			}
			if rs.Subject != "" {
				fmt.Fprintf(cl.errOut, "subject %s version %d id %d (%s)\n", rs.Subject, rs.Version, rs.ID, rs.Type)
			}
			fmt.Fprintln(cl.out, rs.Schema)
			return nil
		},
	}
	cmd.Flags().StringVar(&version, "version", "latest", "version number or latest")
	cmd.Flags().IntVar(&id, "id", 0, "global schema id instead of a subject")
	return cmd
}

// schemaFlags are the flags describing a schema file to send.
type schemaFlags struct {
	typ  string
	refs []string
}

func (f *schemaFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.typ, "type", "", "AVRO, PROTOBUF or JSON (default: from the file extension .avsc, .proto, .json)")
	cmd.Flags().StringArrayVar(&f.refs, "ref", nil, "reference NAME=SUBJECT:VERSION (repeatable)")
}

// body reads a schema file into a registry request body.
func (f *schemaFlags) body(file string) (map[string]any, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	typ := strings.ToUpper(f.typ)
	if typ == "" {
		switch strings.ToLower(filepath.Ext(file)) {
		case ".proto":
			typ = "PROTOBUF"
		case ".json":
			typ = "JSON"
		default:
			typ = "AVRO"
		}
	}
	body := map[string]any{"schema": string(text), "schemaType": typ}
	var refs []map[string]any
	for _, r := range f.refs {
		name, rest, ok1 := strings.Cut(r, "=")
		subject, ver, ok2 := strings.Cut(rest, ":")
		v, err := strconv.Atoi(ver)
		if !ok1 || !ok2 || err != nil || name == "" || subject == "" {
			return nil, fmt.Errorf("--ref %q: want NAME=SUBJECT:VERSION", r)
		}
		refs = append(refs, map[string]any{"name": name, "subject": subject, "version": v})
	}
	if len(refs) > 0 {
		body["references"] = refs
	}
	return body, nil
}

func (s *schemasClient) registerCmd() *cobra.Command {
	var sf schemaFlags
	cmd := &cobra.Command{
		Use:   "register SUBJECT FILE",
		Short: "Register a schema file under a subject and print its id",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := sf.body(args[1])
			if err != nil {
				return err
			}
			var out struct {
				ID int `json:"id"`
			}
			cl, data, err := s.call(cmd, "POST", subjectPath(args[0])+"/versions", body, &out)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(data)
			}
			fmt.Fprintf(cl.out, "registered %s under %s: id %d\n", args[1], args[0], out.ID)
			return nil
		},
	}
	sf.add(cmd)
	return cmd
}

func (s *schemasClient) checkCmd() *cobra.Command {
	var sf schemaFlags
	var version string
	cmd := &cobra.Command{
		Use:   "check SUBJECT FILE",
		Short: "Check a schema file against a subject's compatibility level; exit 1 when incompatible",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := sf.body(args[1])
			if err != nil {
				return err
			}
			path := "/compatibility" + subjectPath(args[0]) + "/versions"
			if version != "all" {
				path += "/" + url.PathEscape(version)
			}
			var out struct {
				Compatible bool     `json:"is_compatible"`
				Messages   []string `json:"messages"`
			}
			cl, data, err := s.call(cmd, "POST", path+"?verbose=true", body, &out)
			if err != nil {
				return err
			}
			if cl.json {
				if err := cl.printJSON(data); err != nil {
					return err
				}
			} else if out.Compatible {
				fmt.Fprintf(cl.out, "compatible: %s can be registered under %s\n", args[1], args[0])
			} else {
				fmt.Fprintf(cl.out, "incompatible: %s under %s:\n", args[1], args[0])
				for _, m := range out.Messages {
					fmt.Fprintln(cl.out, "  "+m)
				}
			}
			if !out.Compatible {
				return exitError{code: 1}
			}
			return nil
		},
	}
	sf.add(cmd)
	cmd.Flags().StringVar(&version, "version", "all", "check against one version (number or latest), or all that the level names")
	return cmd
}

func (s *schemasClient) deleteCmd() *cobra.Command {
	var version string
	var permanent bool
	cmd := &cobra.Command{
		Use:   "delete SUBJECT",
		Short: "Soft-delete a subject (or one --version); --permanent removes what was soft-deleted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := subjectPath(args[0])
			if version != "" {
				path += "/versions/" + url.PathEscape(version)
			}
			if permanent {
				path += "?permanent=true"
			}
			var out any
			cl, data, err := s.call(cmd, "DELETE", path, nil, &out)
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(data)
			}
			kind := "soft-deleted"
			if permanent {
				kind = "permanently deleted"
			}
			fmt.Fprintf(cl.out, "%s %s version(s) %s\n", kind, args[0], strings.TrimSpace(string(data)))
			return nil
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "delete only this version (number or latest)")
	cmd.Flags().BoolVar(&permanent, "permanent", false, "hard-delete (only after a soft delete)")
	return cmd
}

func (s *schemasClient) configCmd() *cobra.Command {
	var set string
	cmd := &cobra.Command{
		Use:   "config [SUBJECT]",
		Short: "Show or --set the compatibility level, globally or for a subject",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/config"
			if len(args) == 1 {
				path += "/" + url.PathEscape(args[0])
			}
			var out map[string]string
			var cl *client
			var data []byte
			var err error
			if set != "" {
				cl, data, err = s.call(cmd, "PUT", path, map[string]string{"compatibility": strings.ToUpper(set)}, &out)
			} else {
				if len(args) == 1 {
					path += "?defaultToGlobal=true"
				}
				cl, data, err = s.call(cmd, "GET", path, nil, &out)
			}
			if err != nil {
				return err
			}
			if cl.json {
				return cl.printJSON(data)
			}
			level := out["compatibilityLevel"]
			if level == "" {
				level = out["compatibility"]
			}
			fmt.Fprintln(cl.out, level)
			return nil
		},
	}
	cmd.Flags().StringVar(&set, "set", "", "new level: NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE")
	return cmd
}

package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
)

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if !c.opts.Login {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	c.page(w, r, http.StatusOK, "login", "Log in", nil)
}

type pipelinesView struct {
	Name    string // the file's base name, for lints of an edited copy
	File    string
	Applied bool
	Errors  []string
	Changes string
	JSON    string
	None    bool
}

func (c *Console) pipelines(w http.ResponseWriter, r *http.Request) {
	var st struct {
		Status struct {
			File    string   `json:"file"`
			Applied bool     `json:"applied"`
			Errors  []string `json:"errors"`
			Changes string   `json:"changes"`
		} `json:"status"`
		Pipeline json.RawMessage `json:"pipeline"`
	}
	if err := c.get(r.Context(), "/pipelines", &st); err != nil {
		c.fail(w, r, err)
		return
	}
	v := pipelinesView{Name: path.Base(st.Status.File), File: st.Status.File, Applied: st.Status.Applied, Errors: st.Status.Errors, Changes: st.Status.Changes}
	var p any
	if len(st.Pipeline) == 0 || string(st.Pipeline) == "null" || json.Unmarshal(st.Pipeline, &p) != nil {
		v.None = true
	} else {
		b, _ := json.MarshalIndent(p, "", "  ")
		v.JSON = string(b)
	}
	c.page(w, r, http.StatusOK, "pipelines", "Pipelines", v)
}

// maxPipeline bounds a pasted pipeline file (the API takes 4 MiB).
const maxPipeline = 4 << 20

type applyView struct {
	DryRun  bool
	OK      bool
	Message string
	Diff    string
	Lints   []string
}

// applyPipeline dry-runs or applies a pasted pipeline file (JSON {"yaml":
// "...", "mode": "dry-run"|"apply"}) through PUT /pipelines.
func (c *Console) applyPipeline(w http.ResponseWriter, r *http.Request) {
	var body struct {
		YAML string `json:"yaml"`
		Mode string `json:"mode"`
		File string `json:"file"`
	}
	v := applyView{}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxPipeline+4096)).Decode(&body); err != nil {
		v.Message = "The file could not be read: " + err.Error()
		c.fragment(w, "pipelines", "applied", v)
		return
	}
	if strings.TrimSpace(body.YAML) == "" {
		v.Message = "Paste a pipeline file first."
		c.fragment(w, "pipelines", "applied", v)
		return
	}
	v.DryRun = body.Mode != "apply"
	q := url.Values{"dry_run": {strconv.FormatBool(v.DryRun)}}
	if body.File != "" {
		q.Set("file", body.File)
	}
	data, err := c.send(r.Context(), http.MethodPut, "/pipelines?"+q.Encode(), "application/yaml", []byte(body.YAML))
	if err != nil {
		v.Message = err.Error()
		var lints struct {
			Message string `json:"message"`
			Lints   []struct {
				File   string `json:"file"`
				Line   int    `json:"line"`
				Column int    `json:"column"`
				Msg    string `json:"message"`
			} `json:"lints"`
		}
		if e, ok := err.(*apiError); ok && json.Unmarshal(e.Body, &lints) == nil {
			v.Message = lints.Message
			for _, l := range lints.Lints {
				v.Lints = append(v.Lints, fmt.Sprintf("%s:%d:%d: %s", l.File, l.Line, l.Column, l.Msg))
			}
		}
		c.fragment(w, "pipelines", "applied", v)
		return
	}
	var res struct {
		Diff string `json:"diff"`
	}
	_ = json.Unmarshal(data, &res)
	v.OK, v.Diff = true, res.Diff
	switch {
	case v.DryRun && res.Diff == "":
		v.Message = "Dry run: nothing would change."
	case v.DryRun:
		v.Message = "Dry run: these changes would be applied (nothing was changed)."
	default:
		v.Message = "Applied."
	}
	c.fragment(w, "pipelines", "applied", v)
}

type subjectView struct {
	Subject  string
	Versions []int
	Latest   string
	Type     string
	ID       int
	Compat   string
}

type schemasView struct {
	Enabled  bool
	Error    string
	Subjects []subjectView
	Compat   string
}

// schemas lists the registry's subjects (Confluent routes), when this
// server serves them.
func (c *Console) schemas(w http.ResponseWriter, r *http.Request) {
	v := schemasView{}
	var subjects []string
	if err := c.get(r.Context(), "/subjects", &subjects); err != nil {
		if e, ok := err.(*apiError); ok && e.Code == http.StatusNotFound {
			c.page(w, r, http.StatusOK, "schemas", "Schemas", v)
			return
		}
		v.Error = err.Error()
	}
	v.Enabled = v.Error == ""
	var global struct {
		Level string `json:"compatibilityLevel"`
	}
	if c.get(r.Context(), "/config", &global) == nil {
		v.Compat = global.Level
	}
	sort.Strings(subjects)
	for i, s := range subjects {
		if i >= 200 {
			break
		}
		sv := subjectView{Subject: s}
		_ = c.get(r.Context(), "/subjects/"+esc(s)+"/versions", &sv.Versions)
		var latest struct {
			ID         int    `json:"id"`
			Schema     string `json:"schema"`
			SchemaType string `json:"schemaType"`
		}
		if c.get(r.Context(), "/subjects/"+esc(s)+"/versions/latest", &latest) == nil {
			sv.ID, sv.Type, sv.Latest = latest.ID, latest.SchemaType, latest.Schema
			if sv.Type == "" {
				sv.Type = "AVRO"
			}
			var pretty any
			if json.Unmarshal([]byte(latest.Schema), &pretty) == nil {
				b, _ := json.MarshalIndent(pretty, "", "  ")
				sv.Latest = string(b)
			}
		}
		var compat struct {
			Level string `json:"compatibilityLevel"`
		}
		if c.get(r.Context(), "/config/"+esc(s), &compat) == nil {
			sv.Compat = compat.Level
		}
		v.Subjects = append(v.Subjects, sv)
	}
	c.page(w, r, http.StatusOK, "schemas", "Schemas", v)
}

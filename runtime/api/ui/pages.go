package ui

import (
	"encoding/json"
	"net/http"
	"sort"
)

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if !c.opts.Login {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	c.page(w, r, http.StatusOK, "login", "Log in", nil)
}

type pipelinesView struct {
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
	v := pipelinesView{File: st.Status.File, Applied: st.Status.Applied, Errors: st.Status.Errors, Changes: st.Status.Changes}
	var p any
	if len(st.Pipeline) == 0 || string(st.Pipeline) == "null" || json.Unmarshal(st.Pipeline, &p) != nil {
		v.None = true
	} else {
		b, _ := json.MarshalIndent(p, "", "  ")
		v.JSON = string(b)
	}
	c.page(w, r, http.StatusOK, "pipelines", "Pipelines", v)
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

package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

type schemaVersion struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int    `json:"id"`
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType"`
}

type subjectPage struct {
	Subject  string
	Versions []int
	Latest   schemaVersion
	Pretty   string
	Compat   string
}

// prettySchema indents a JSON schema (Avro, JSON Schema); Protobuf stays as
// it is.
func prettySchema(s string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(s), "", "  ") == nil {
		return b.String()
	}
	return s
}

func (c *Console) subject(w http.ResponseWriter, r *http.Request) {
	v := subjectPage{Subject: r.PathValue("subject")}
	base := "/subjects/" + esc(v.Subject)
	if err := c.get(r.Context(), base+"/versions", &v.Versions); err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.get(r.Context(), base+"/versions/latest", &v.Latest); err != nil {
		c.fail(w, r, err)
		return
	}
	if v.Latest.SchemaType == "" {
		v.Latest.SchemaType = "AVRO"
	}
	v.Pretty = prettySchema(v.Latest.Schema)
	var compat struct {
		Level string `json:"compatibilityLevel"`
	}
	if c.get(r.Context(), "/config/"+esc(v.Subject)+"?defaultToGlobal=true", &compat) == nil {
		v.Compat = compat.Level
	}
	c.page(w, r, http.StatusOK, "schema", v.Subject, v)
}

// diffLine is one line of a diff: Op is " ", "+" or "-".
type diffLine struct{ Op, Text string }

type diffView struct {
	From, To int
	Lines    []diffLine
	Error    string
}

// maxDiffCells bounds the LCS table of a diff (lines × lines).
const maxDiffCells = 4 << 20

// diffLines is a longest-common-subsequence line diff.
func diffLines(a, b []string) ([]diffLine, bool) {
	if (len(a)+1)*(len(b)+1) > maxDiffCells {
		return nil, false
	}
	n, m := len(a), len(b)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, diffLine{" ", a[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", a[i]})
			i++
		default:
			out = append(out, diffLine{"+", b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{"-", a[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{"+", b[j]})
	}
	return out, true
}

func (c *Console) schemaDiff(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	v := diffView{}
	var err1, err2 error
	v.From, err1 = strconv.Atoi(r.URL.Query().Get("from"))
	v.To, err2 = strconv.Atoi(r.URL.Query().Get("to"))
	if err1 != nil || err2 != nil {
		v.Error = "Choose two versions."
		c.fragment(w, "schema", "diff", v)
		return
	}
	var a, b schemaVersion
	base := "/subjects/" + esc(subject) + "/versions/"
	if err := c.get(r.Context(), base+strconv.Itoa(v.From), &a); err != nil {
		v.Error = err.Error()
	} else if err := c.get(r.Context(), base+strconv.Itoa(v.To), &b); err != nil {
		v.Error = err.Error()
	} else if lines, ok := diffLines(strings.Split(prettySchema(a.Schema), "\n"), strings.Split(prettySchema(b.Schema), "\n")); !ok {
		v.Error = "The schemas are too long to compare here."
	} else {
		v.Lines = lines
	}
	c.fragment(w, "schema", "diff", v)
}

type checkView struct {
	OK       bool
	Message  string
	Messages []string
}

// schemaCheck tests a pasted schema against the subject's latest version
// (JSON {"schema": "...", "schemaType": "AVRO"}) with the registry's
// compatibility route.
func (c *Console) schemaCheck(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	var body struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	v := checkView{}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || strings.TrimSpace(body.Schema) == "" {
		v.Message = "Paste a schema first."
		c.fragment(w, "schema", "check", v)
		return
	}
	if body.SchemaType == "AVRO" {
		body.SchemaType = "" // Confluent's default; some clients send none
	}
	data, err := c.call(r.Context(), http.MethodPost, "/compatibility/subjects/"+esc(subject)+"/versions/latest?verbose=true", body)
	if err != nil {
		v.Message = err.Error()
		c.fragment(w, "schema", "check", v)
		return
	}
	var res struct {
		Compatible bool     `json:"is_compatible"`
		Messages   []string `json:"messages"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		v.Message = fmt.Sprintf("unexpected answer from the registry: %v", err)
	} else if v.OK, v.Messages = res.Compatible, res.Messages; v.OK {
		v.Message = "Compatible with the latest version."
	} else {
		v.Message = "Not compatible with the latest version:"
	}
	c.fragment(w, "schema", "check", v)
}

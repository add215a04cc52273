package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

type dlqRow struct {
	Topic      string
	Connectors []string
	Records    int64
	Exists     bool
}

func (c *Console) deadLetterTopics(w http.ResponseWriter, r *http.Request) {
	conns, err := c.connectorsExpanded(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	byTopic := map[string]*dlqRow{}
	for _, e := range conns {
		if d := dlqOf(e.Info.Config); d != "" {
			if byTopic[d] == nil {
				byTopic[d] = &dlqRow{Topic: d}
			}
			byTopic[d].Connectors = append(byTopic[d].Connectors, e.Info.Name)
		}
	}
	rows := []dlqRow{}
	for _, row := range byTopic {
		var t topicInfo
		if err := c.get(r.Context(), "/topics/"+esc(row.Topic), &t); err == nil {
			row.Exists, row.Records = true, t.records()
		}
		rows = append(rows, *row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Topic < rows[j].Topic })
	c.page(w, r, http.StatusOK, "dlq", "Dead letters", rows)
}

type deadLetterView struct {
	inspector
	Partitions []int32
	Result     string
	ResultOK   bool
}

func (c *Console) deadLetters(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var t topicInfo
	if err := c.get(r.Context(), "/topics/"+esc(name), &t); err != nil {
		c.fail(w, r, err)
		return
	}
	v := deadLetterView{inspector: c.browse(r, name)}
	for _, p := range t.Partitions {
		v.Partitions = append(v.Partitions, p.Partition)
	}
	c.page(w, r, http.StatusOK, "dlq-topic", "Dead letters of "+name, v)
}

// replay re-publishes the chosen dead letters (JSON {"partition": "0",
// "offsets": ["3", "4"]} as the console's form sends it) through
// POST /topics/{dlq}/replay.
func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var form map[string]any
	v := deadLetterView{}
	if err := json.NewDecoder(r.Body).Decode(&form); err != nil {
		v.Result = "The selection could not be read: " + err.Error()
		c.fragment(w, "dlq-topic", "result", v)
		return
	}
	req := struct {
		Partition int32   `json:"partition"`
		Offsets   []int64 `json:"offsets"`
	}{Offsets: []int64{}}
	if p, err := strconv.Atoi(fmt.Sprint(form["partition"])); err == nil {
		req.Partition = int32(p)
	}
	var picked []any
	switch o := form["offsets"].(type) {
	case []any:
		picked = o
	case nil:
	default:
		picked = []any{o}
	}
	for _, o := range picked {
		n, err := strconv.ParseInt(fmt.Sprint(o), 10, 64)
		if err == nil {
			req.Offsets = append(req.Offsets, n)
		}
	}
	if len(req.Offsets) == 0 {
		v.Result = "Choose the records to replay first."
		c.fragment(w, "dlq-topic", "result", v)
		return
	}
	data, err := c.call(r.Context(), http.MethodPost, "/topics/"+esc(name)+"/replay", req)
	if err != nil {
		v.Result = err.Error()
		c.fragment(w, "dlq-topic", "result", v)
		return
	}
	var res struct {
		Replayed []struct {
			Offset    int64  `json:"offset"`
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			NewOffset int64  `json:"new_offset"`
		} `json:"replayed"`
	}
	_ = json.Unmarshal(data, &res)
	parts := make([]string, 0, len(res.Replayed))
	for _, x := range res.Replayed {
		parts = append(parts, fmt.Sprintf("offset %d → %s/%d/%d", x.Offset, x.Topic, x.Partition, x.NewOffset))
	}
	v.Result, v.ResultOK = fmt.Sprintf("Replayed %d record(s): %s.", len(res.Replayed), strings.Join(parts, "; ")), true
	c.fragment(w, "dlq-topic", "result", v)
}

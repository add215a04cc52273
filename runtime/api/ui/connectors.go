package ui

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

type connectorRow struct {
	Name, Type, Plugin, State string
	Running, Tasks            int
	Topics                    []string
	DLQ                       string
}

func (c *Console) connectors(w http.ResponseWriter, r *http.Request) {
	conns, err := c.connectorsExpanded(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rows := make([]connectorRow, 0, len(conns))
	for _, e := range conns {
		row := connectorRow{Name: e.Info.Name, Type: e.Info.Type, Plugin: cfg(e.Info.Config, "connector"),
			State: e.Status.Connector.State, Tasks: len(e.Status.Tasks), Topics: topicsOf(e.Info.Config), DLQ: dlqOf(e.Info.Config)}
		for _, t := range e.Status.Tasks {
			if t.State == "RUNNING" {
				row.Running++
			}
		}
		rows = append(rows, row)
	}
	c.page(w, r, http.StatusOK, "connectors", "Connectors", rows)
}

type configRow struct{ Key, Value string }

type connectorView struct {
	Name   string
	Type   string
	Config []configRow
	Topics []string
	DLQ    string
	Status connectorStatus
	// Message is the outcome of the last action.
	Message, MessageClass string
	Offsets               string
	Chart                 *chart
}

func (c *Console) connector(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var info connectorInfo
	if err := c.get(r.Context(), "/connectors/"+esc(name), &info); err != nil {
		c.fail(w, r, err)
		return
	}
	v := connectorView{Name: info.Name, Type: info.Type, Topics: topicsOf(info.Config), DLQ: dlqOf(info.Config)}
	keys := make([]string, 0, len(info.Config))
	for k := range info.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.Config = append(v.Config, configRow{Key: k, Value: cfg(info.Config, k)})
	}
	c.refresh(r, &v)
	c.page(w, r, http.StatusOK, "connector", v.Name, v)
}

// refresh reads the connector's status and offsets into v; a failure
// becomes v's message unless an action already reported one.
func (c *Console) refresh(r *http.Request, v *connectorView) {
	if err := c.get(r.Context(), "/connectors/"+esc(v.Name)+"/status", &v.Status); err != nil && v.MessageClass != "error" {
		v.Message, v.MessageClass = err.Error(), "error"
	}
	var offsets any
	if err := c.get(r.Context(), "/connectors/"+esc(v.Name)+"/offsets", &offsets); err == nil {
		b, _ := json.MarshalIndent(offsets, "", "  ")
		v.Offsets = string(b)
	}
	var hist struct {
		Interval string         `json:"interval"`
		Points   []historyPoint `json:"points"`
	}
	if err := c.get(r.Context(), "/connectors/"+esc(v.Name)+"/history", &hist); err == nil {
		v.Chart = buildChart(hist.Points, hist.Interval)
	}
}

func (c *Console) connectorStatus(w http.ResponseWriter, r *http.Request) {
	v := connectorView{Name: r.PathValue("name")}
	c.refresh(r, &v)
	c.fragment(w, "connector", "status", v)
}

// actions map the console's buttons onto the API's routes.
var actions = map[string]struct{ method, path, done string }{
	"pause":          {http.MethodPut, "/pause", "Paused."},
	"resume":         {http.MethodPut, "/resume", "Resumed."},
	"stop":           {http.MethodPut, "/stop", "Stopped."},
	"restart":        {http.MethodPost, "/restart?includeTasks=true", "Restarting every task."},
	"restart-failed": {http.MethodPost, "/restart?includeTasks=true&onlyFailed=true", "Restarting the failed tasks."},
	"reset-offsets":  {http.MethodDelete, "/offsets", "Offsets reset: resume the connector to start again."},
	"restart-task":   {http.MethodPost, "/tasks/{task}/restart", "Restarting the task."},
	"snapshot":       {http.MethodPost, "/snapshot", "Incremental snapshot requested: its progress shows here."},
}

// connectorAction runs one action (JSON {"action": "pause"}) and answers
// the refreshed status with the outcome.
func (c *Console) connectorAction(w http.ResponseWriter, r *http.Request) {
	v := connectorView{Name: r.PathValue("name")}
	var body struct {
		Action string `json:"action"`
		Task   string `json:"task"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		v.Message, v.MessageClass = "The action could not be read: "+err.Error(), "error"
	} else if a, ok := actions[body.Action]; !ok {
		v.Message, v.MessageClass = "Unknown action "+strings.TrimSpace(body.Action)+".", "error"
	} else if _, err := strconv.Atoi(body.Task); strings.Contains(a.path, "{task}") && err != nil {
		v.Message, v.MessageClass = "Which task? "+strings.TrimSpace(body.Task)+" is not a task number.", "error"
	} else if _, err := c.call(r.Context(), a.method, "/connectors/"+esc(v.Name)+strings.Replace(a.path, "{task}", body.Task, 1), nil); err != nil {
		v.Message, v.MessageClass = err.Error(), "error"
	} else {
		v.Message, v.MessageClass = a.done, "ok"
	}
	c.refresh(r, &v)
	c.fragment(w, "connector", "status", v)
}

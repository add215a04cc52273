package ui

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"
)

// The overview draws every connector around the log: sources on the left,
// topics in the middle, sinks on the right, as SVG built on the server.
// Edge rates come from counters the API exposes (a topic's end offsets, a
// sink group's committed offsets), sampled at each refresh.

const (
	nodeW, nodeH    = 210, 46
	rowH            = 64
	colSrc, colTop  = 20, 360
	colSink, graphW = 700, 930
)

type node struct {
	Kind, Name, State, Href, Sub string
	X, Y                         int
}

type edge struct {
	From, To           string
	Path, Label, Class string
	LX, LY             int
}

type graph struct {
	Nodes  []node
	Edges  []edge
	Height int
	Width  int
	Empty  bool
	// Totals for the summary line.
	Connectors, Running, Failed int
	DLQRecords                  int64
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	g, err := c.buildGraph(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "overview", "Overview", g)
}

func (c *Console) overviewGraph(w http.ResponseWriter, r *http.Request) {
	g, err := c.buildGraph(r.Context())
	if err != nil {
		c.fragment(w, "error", "message", errorPage{Message: err.Error()})
		return
	}
	c.fragment(w, "overview", "graph", g)
}

// topicDetails reads every topic with its groups' lag.
func (c *Console) topicDetails(ctx context.Context) (map[string]topicInfo, error) {
	var list []topicInfo
	if err := c.get(ctx, "/topics", &list); err != nil {
		return nil, err
	}
	out := make(map[string]topicInfo, len(list))
	for _, t := range list {
		var d topicInfo
		if err := c.get(ctx, "/topics/"+esc(t.Name), &d); err != nil {
			d = t // deleted meanwhile: show what the list said
		}
		out[t.Name] = d
	}
	return out, nil
}

// graphTTL is how long one built graph serves every open overview: the
// graph reads every topic and group, so tabs share one reading a second.
const graphTTL = time.Second

func (c *Console) buildGraph(ctx context.Context) (graph, error) {
	c.graphMu.Lock()
	defer c.graphMu.Unlock()
	if time.Since(c.graphAt) < graphTTL {
		return c.graph, nil
	}
	g, err := c.readGraph(ctx)
	if err != nil {
		return graph{}, err
	}
	c.graph, c.graphAt = g, time.Now()
	return g, nil
}

func (c *Console) readGraph(ctx context.Context) (graph, error) {
	conns, err := c.connectorsExpanded(ctx)
	if err != nil {
		return graph{}, err
	}
	topics, err := c.topicDetails(ctx)
	if err != nil {
		return graph{}, err
	}
	now := time.Now()
	g := graph{Width: graphW, Empty: len(conns) == 0 && len(topics) == 0}
	pos := map[string]node{}
	// Topics: those the connectors name first, in connector order, then the rest.
	var topicOrder []string
	seen := map[string]bool{}
	addTopic := func(t string) {
		if !seen[t] {
			seen[t] = true
			topicOrder = append(topicOrder, t)
		}
	}
	for _, e := range conns {
		for _, t := range topicsOf(e.Info.Config) {
			addTopic(t)
		}
		if d := dlqOf(e.Info.Config); d != "" {
			addTopic(d)
		}
	}
	rest := []string{}
	for t := range topics {
		if !seen[t] {
			rest = append(rest, t)
		}
	}
	sort.Strings(rest)
	for _, t := range rest {
		addTopic(t)
	}
	writers := map[string]int{} // sources per topic
	for _, e := range conns {
		if e.Info.Type == "source" {
			for _, t := range topicsOf(e.Info.Config) {
				writers[t]++
			}
		}
	}
	dlqs := map[string]bool{}
	for _, e := range conns {
		if d := dlqOf(e.Info.Config); d != "" {
			dlqs[d] = true
		}
	}
	for i, t := range topicOrder {
		info, ok := topics[t]
		sub := "not created yet"
		if ok {
			sub = fmt.Sprintf("%d records · %d partitions", info.records(), len(info.Partitions))
		}
		kind := "topic"
		if dlqs[t] {
			kind = "dlq"
			g.DLQRecords += info.records()
			sub = fmt.Sprintf("dead letters: %d", info.records())
		}
		n := node{Kind: kind, Name: t, Href: "/ui/topics/" + esc(t), Sub: sub, X: colTop, Y: 20 + i*rowH}
		if kind == "dlq" {
			n.Href = "/ui/dlq/" + esc(t)
		}
		pos["t:"+t] = n
		g.Nodes = append(g.Nodes, n)
	}
	var srcRow, sinkRow int
	for _, e := range conns {
		g.Connectors++
		st := e.Status.Connector.State
		for _, t := range e.Status.Tasks {
			if t.State == "FAILED" {
				st = "FAILED"
			}
		}
		switch st {
		case "RUNNING":
			g.Running++
		case "FAILED":
			g.Failed++
		}
		n := node{Kind: e.Info.Type, Name: e.Info.Name, State: st, Href: "/ui/connectors/" + esc(e.Info.Name),
			Sub: cfg(e.Info.Config, "connector") + " · " + st}
		if e.Info.Type == "source" {
			n.X, n.Y = colSrc, 20+srcRow*rowH
			srcRow++
		} else {
			n.X, n.Y = colSink, 20+sinkRow*rowH
			sinkRow++
		}
		g.Nodes = append(g.Nodes, n)
		for _, t := range topicsOf(e.Info.Config) {
			tn := pos["t:"+t]
			info := topics[t]
			if e.Info.Type == "source" {
				r, known := c.rates.observe("topic:"+t, info.end(), now)
				label := rateLabel(r, known)
				if writers[t] > 1 {
					// The topic's rate is every writer's: show this one's own,
					// from the worker's history.
					label = c.sourceRate(ctx, e.Info.Name)
				}
				g.Edges = append(g.Edges, link(n, tn, label, "edge-src "+stateClass(st)))
				continue
			}
			group := cfg(e.Info.Config, "group")
			var committed, lag int64
			found := false
			for _, gl := range info.Groups {
				if gl.Group == group {
					found = true
					lag = gl.TotalLag
					for _, o := range gl.Committed {
						committed += o + 1
					}
				}
			}
			label := "no commits yet"
			if found {
				r, known := c.rates.observe("group:"+group+":"+t, committed, now)
				label = fmt.Sprintf("%s · lag %d", rateLabel(r, known), lag)
			}
			g.Edges = append(g.Edges, link(tn, n, label, "edge-sink "+stateClass(st)))
		}
		if d := dlqOf(e.Info.Config); d != "" {
			g.Edges = append(g.Edges, link(n, pos["t:"+d], fmt.Sprintf("DLQ %d", topics[d].records()), "edge-dlq"))
		}
	}
	rows := max(len(topicOrder), srcRow, sinkRow, 1)
	g.Height = 40 + rows*rowH
	return g, nil
}

func rateLabel(r float64, known bool) string {
	if !known {
		return "… rec/s"
	}
	return formatRate(r)
}

// link draws a curve from a's right side to b's left side (or between the
// right sides when a sink points back at a dead-letter topic).
func link(a, b node, label, class string) edge {
	x1, y1 := a.X+nodeW, a.Y+nodeH/2
	x2, y2 := b.X, b.Y+nodeH/2
	if x2 < x1 { // a sink's dead letters go back to a topic on its left
		x1 = a.X
		x2 = b.X + nodeW
	}
	mx := (x1 + x2) / 2
	// Labels sit at the end where the edge arrives, so the edges that
	// leave one topic for several sinks do not stack their labels.
	lx, ly := x2-60, y2-6
	if x2 < x1 { // below the line, clear of the label of the sink's input
		lx, ly = x2+60, y2+16
	}
	return edge{From: a.Name, To: b.Name, Path: fmt.Sprintf("M%d %d C%d %d, %d %d, %d %d", x1, y1, mx, y1, mx, y2, x2, y2),
		Label: label, Class: class, LX: lx, LY: ly}
}

// sourceRate labels a source's own throughput: the last sample of its
// history (records written to the log per second).
func (c *Console) sourceRate(ctx context.Context, name string) string {
	var h struct {
		Interval string         `json:"interval"`
		Points   []historyPoint `json:"points"`
	}
	if err := c.get(ctx, "/connectors/"+esc(name)+"/history", &h); err != nil || len(h.Points) < 2 {
		return rateLabel(0, false)
	}
	return "~" + formatRate(h.Points[len(h.Points)-1].RecordsPerSec) + " (" + h.Interval + ")"
}

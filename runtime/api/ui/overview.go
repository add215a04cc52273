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
	g := graph{Width: graphW, Empty: len(conns) == 0 && len(topics) == 0}
	order := topicOrder(conns, topics)
	pos := g.addTopics(order, conns, topics)
	writers := map[string]int{} // sources per topic
	for _, e := range conns {
		if e.Info.Type == "source" {
			for _, t := range topicsOf(e.Info.Config) {
				writers[t]++
			}
		}
	}
	var srcRow, sinkRow int
	now := time.Now()
	for _, e := range conns {
		n := g.addConnector(e)
		if e.Info.Type == "source" {
			n.X, n.Y = colSrc, 20+srcRow*rowH
			srcRow++
		} else {
			n.X, n.Y = colSink, 20+sinkRow*rowH
			sinkRow++
		}
		g.Nodes = append(g.Nodes, n)
		for _, t := range topicsOf(e.Info.Config) {
			if e.Info.Type == "source" {
				g.Edges = append(g.Edges, link(n, pos[t], c.sourceLabel(ctx, e.Info.Name, t, topics[t], writers[t], now), "edge-src "+stateClass(n.State)))
			} else {
				g.Edges = append(g.Edges, link(pos[t], n, c.sinkLabel(cfg(e.Info.Config, "group"), t, topics[t], now), "edge-sink "+stateClass(n.State)))
			}
		}
		if d := dlqOf(e.Info.Config); d != "" {
			g.Edges = append(g.Edges, link(n, pos[d], fmt.Sprintf("DLQ %d", topics[d].records()), "edge-dlq"))
		}
	}
	g.Height = 40 + max(len(order), srcRow, sinkRow, 1)*rowH
	return g, nil
}

// topicOrder lists the topics the connectors name first, in connector
// order, then the others by name.
func topicOrder(conns []expanded, topics map[string]topicInfo) []string {
	var order []string
	seen := map[string]bool{}
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			order = append(order, t)
		}
	}
	for _, e := range conns {
		for _, t := range topicsOf(e.Info.Config) {
			add(t)
		}
		if d := dlqOf(e.Info.Config); d != "" {
			add(d)
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
		add(t)
	}
	return order
}

// addTopics draws the middle column and returns each topic's node.
func (g *graph) addTopics(order []string, conns []expanded, topics map[string]topicInfo) map[string]node {
	dlqs := map[string]bool{}
	for _, e := range conns {
		if d := dlqOf(e.Info.Config); d != "" {
			dlqs[d] = true
		}
	}
	pos := map[string]node{}
	for i, t := range order {
		info, ok := topics[t]
		n := node{Kind: "topic", Name: t, Href: "/ui/topics/" + esc(t), Sub: "not created yet", X: colTop, Y: 20 + i*rowH}
		if ok {
			n.Sub = fmt.Sprintf("%d records · %d partitions", info.records(), len(info.Partitions))
		}
		if dlqs[t] {
			n.Kind, n.Href, n.Sub = "dlq", "/ui/dlq/"+esc(t), fmt.Sprintf("dead letters: %d", info.records())
			g.DLQRecords += info.records()
		}
		pos[t] = n
		g.Nodes = append(g.Nodes, n)
	}
	return pos
}

// addConnector counts a connector and returns its node (unplaced); any
// failed task makes it FAILED.
func (g *graph) addConnector(e expanded) node {
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
	return node{Kind: e.Info.Type, Name: e.Info.Name, State: st, Href: "/ui/connectors/" + esc(e.Info.Name),
		Sub: cfg(e.Info.Config, "connector") + " · " + st}
}

// sourceLabel is a source edge's rate: the topic's produce rate, or the
// source's own from its history when several sources write the topic.
func (c *Console) sourceLabel(ctx context.Context, source, topic string, info topicInfo, writers int, now time.Time) string {
	r, known := c.rates.observe("topic:"+topic, info.end(), now)
	if writers > 1 {
		return c.sourceRate(ctx, source)
	}
	return rateLabel(r, known)
}

// sinkLabel is a sink edge's commit rate and lag, from its group's offsets.
func (c *Console) sinkLabel(group, topic string, info topicInfo, now time.Time) string {
	for _, gl := range info.Groups {
		if gl.Group != group {
			continue
		}
		var committed int64
		for _, o := range gl.Committed {
			committed += o + 1
		}
		r, known := c.rates.observe("group:"+group+":"+topic, committed, now)
		return fmt.Sprintf("%s · lag %d", rateLabel(r, known), gl.TotalLag)
	}
	return "no commits yet"
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

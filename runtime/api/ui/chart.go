package ui

import (
	"fmt"
	"strings"
	"time"
)

// A connector's throughput and lag over the last 15 minutes, from
// GET /connectors/{name}/history, drawn as two SVG polylines.

const chartW, chartH = 600, 110

type historyPoint struct {
	Time          time.Time `json:"time"`
	RecordsPerSec float64   `json:"records_per_second"`
	Lag           *int64    `json:"lag"`
}

type chart struct {
	W, H      int
	Rate, Lag string // polyline points
	MaxRate   float64
	MaxLag    int64
	HasLag    bool
	From, To  string
	Points    int
	LastRate  float64
	LastLag   int64
	Interval  string
}

func buildChart(pts []historyPoint, interval string) *chart {
	if len(pts) < 2 {
		return nil
	}
	c := &chart{W: chartW, H: chartH, Points: len(pts), Interval: interval,
		From: pts[0].Time.UTC().Format("15:04:05"), To: pts[len(pts)-1].Time.UTC().Format("15:04:05")}
	for _, p := range pts {
		c.MaxRate = max(c.MaxRate, p.RecordsPerSec)
		if p.Lag != nil {
			c.HasLag = true
			c.MaxLag = max(c.MaxLag, *p.Lag)
		}
	}
	last := pts[len(pts)-1]
	c.LastRate = last.RecordsPerSec
	if last.Lag != nil {
		c.LastLag = *last.Lag
	}
	t0, span := pts[0].Time, pts[len(pts)-1].Time.Sub(pts[0].Time).Seconds()
	if span <= 0 {
		span = 1
	}
	var rate, lag strings.Builder
	for _, p := range pts {
		x := float64(chartW) * p.Time.Sub(t0).Seconds() / span
		fmt.Fprintf(&rate, "%.1f,%.1f ", x, scaleY(p.RecordsPerSec, c.MaxRate))
		if p.Lag != nil {
			fmt.Fprintf(&lag, "%.1f,%.1f ", x, scaleY(float64(*p.Lag), float64(c.MaxLag)))
		}
	}
	c.Rate, c.Lag = strings.TrimSpace(rate.String()), strings.TrimSpace(lag.String())
	return c
}

// scaleY maps v in [0, top] onto the chart, 0 at the bottom, 4 px margins.
func scaleY(v, top float64) float64 {
	if top <= 0 {
		return chartH - 4
	}
	return chartH - 4 - (chartH-8)*v/top
}

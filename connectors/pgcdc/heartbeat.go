package pgcdc

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// startHeartbeat writes a logical decoding message every heartbeat.interval,
// so the walsender has WAL of this database to decode and its keepalives
// let an idle slot be confirmed further, and logs the WAL the slot retains.
func (s *source) startHeartbeat() {
	if s.cfg.heartbeat <= 0 || s.hbStop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.hbStop, s.hbDone = cancel, make(chan struct{})
	db := s.db
	go func() {
		defer close(s.hbDone)
		t := time.NewTicker(s.cfg.heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s.beat(ctx, db)
		}
	}()
}

// beat emits one heartbeat and checks the slot's retained WAL.
func (s *source) beat(ctx context.Context, db *pgxpool.Pool) {
	if _, err := db.Exec(ctx, "SELECT pg_logical_emit_message(false, 'braid-heartbeat', '')"); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("heartbeat failed", "err", err)
		}
		return
	}
	// restart_lsn is the oldest WAL the slot makes the server keep;
	// confirmed_flush_lsn is how far this connector has confirmed.
	var retained, unconfirmed *int64
	err := db.QueryRow(ctx, `SELECT (pg_current_wal_lsn() - restart_lsn)::int8, (pg_current_wal_lsn() - confirmed_flush_lsn)::int8
		FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.slot).Scan(&retained, &unconfirmed)
	if err != nil || retained == nil {
		return
	}
	s.retained.Store(*retained)
	s.retainedKnown.Store(true)
	s.env.SetGauge("slot_retained_wal_bytes", float64(*retained))
	if unconfirmed != nil {
		s.env.SetGauge("slot_unconfirmed_wal_bytes", float64(*unconfirmed))
	}
	over := s.cfg.maxRetained > 0 && *retained > s.cfg.maxRetained
	s.env.SetGauge("slot_over_max_retained", map[bool]float64{true: 1}[over])
	// Warn once per crossing, not on every heartbeat.
	switch was := s.overMax.Swap(over); {
	case over && !was:
		s.log.Warn("replication slot retains more WAL than slot.max.retained.bytes: is the pipeline stuck or far behind?",
			"retained_bytes", *retained, "max", s.cfg.maxRetained)
	case !over && was:
		s.log.Info("replication slot is back under slot.max.retained.bytes", "retained_bytes", *retained, "max", s.cfg.maxRetained)
	default:
		s.log.Debug("replication slot", "retained_bytes", *retained)
	}
}

// RetainedBytes is the WAL the slot held at the last heartbeat.
func (s *source) RetainedBytes() int64 { return s.retained.Load() }

func (s *source) retainedSeen() bool { return s.retainedKnown.Load() }
